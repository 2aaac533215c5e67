import * as fs from 'node:fs';
import * as path from 'node:path';
import { createPrivateKey, createPublicKey, hkdfSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { ServiceError } from '../errors';
import { status } from '@grpc/grpc-js';

/**
 * Internal call authentication (issue 12, README *Security*).
 *
 * Every gRPC call carries a caller assertion in `x-shutter-caller`: `<payload>.<signature>`,
 * base64url, where the payload is JSON `{iss, mth, sub?, rol?, sid?, exp}` and the signature is
 * Ed25519 by the issuing process's own key. `iss` names the caller (gateway or a peer service),
 * `mth` the full gRPC method path (so it also names the audience: a token for content's GetPost
 * is refused by every other method and service), `sub`/`rol`/`sid` the end user as the gateway
 * verified them from the access token, `exp` seconds since the epoch (lifetime ASSERTION_TTL_S).
 *
 * Cost: a sign is ~35 µs and a verify ~70 µs, so both sides cache. The signer reuses a token for
 * half its lifetime per (method, user, role, session); the verifier remembers tokens it verified
 * until they expire, keyed by their exact text (identical bytes prove the same claims), so a hot
 * read costs a Map look-up on each side.
 */
export const MD_CALLER = 'x-shutter-caller';

/** Every process that may call a service. Service names match their folder and gRPC client label. */
export const CALLER_NAMES = ['gateway', 'identity', 'social-graph', 'content', 'notification'] as const;
export type CallerName = (typeof CALLER_NAMES)[number];

/** Lifetime of an assertion; the signer renews it after half of that. */
export const ASSERTION_TTL_S = 60;
/** Clock difference tolerated between hosts. */
const CLOCK_SKEW_S = 5;
const MAX_CACHED = 20_000;

/** A process's internal keys: its own (to sign as `self`) and the public keys of callers it accepts. */
export interface InternalKeys {
  self: CallerName;
  privateKey: KeyObject;
  publicKeys: ReadonlyMap<string, KeyObject>;
}

/** The verified caller of one call. `userId` is set only when the gateway asserted a user. */
export interface VerifiedCaller {
  service: CallerName;
  userId?: string;
  role?: string;
  sessionId?: string;
}

/** The end user a call is made for (from the gateway's verified access token). */
export interface AssertedUser {
  userId?: string;
  role?: string;
  sessionId?: string;
}

interface Payload {
  iss: string;
  mth: string;
  sub?: string;
  rol?: string;
  sid?: string;
  exp: number;
}

const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');
const HKDF_SALT = 'shutter/internal-auth/v1';

const isCaller = (s: string): s is CallerName => (CALLER_NAMES as readonly string[]).includes(s);

function privateFromSeed(seed: Buffer): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: 'der', type: 'pkcs8' });
}

/** A raw 32-byte Ed25519 public key, base64 or base64url (`openssl pkey -pubout -outform DER | tail -c 32 | base64`). */
export function publicKeyFromBase64(b64: string): KeyObject {
  const raw = Buffer.from(b64, 'base64url');
  if (raw.length !== 32) throw new Error('an internal public key must be 32 bytes (base64 of a raw Ed25519 key)');
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519, raw]), format: 'der', type: 'spki' });
}

/** The raw public key of a private key, base64url: what another process lists in INTERNAL_AUTH_PUBLIC_KEYS. */
export function publicKeyToBase64(key: KeyObject): string {
  return (createPublicKey(key).export({ format: 'der', type: 'spki' }) as Buffer).subarray(SPKI_ED25519.length).toString('base64url');
}

/**
 * Every process's key pair derived from one shared secret (HKDF-SHA256, info = the process name).
 * Simple to deploy; its limit: a process holding the secret can derive every other process's key.
 */
export function deriveInternalKeys(secret: string, self: CallerName): InternalKeys {
  const keyOf = (name: string) => privateFromSeed(Buffer.from(hkdfSync('sha256', secret, HKDF_SALT, name, 32)));
  const publicKeys = new Map(CALLER_NAMES.map((n) => [n, createPublicKey(keyOf(n))] as const));
  return { self, privateKey: keyOf(self), publicKeys };
}

/** Configuration every process reads (see `internalAuthConfig` in config.ts). */
export interface InternalAuthSettings {
  INTERNAL_AUTH_SECRET?: string;
  INTERNAL_AUTH_SECRET_FILE: string;
  INTERNAL_AUTH_PRIVATE_KEY?: string;
  INTERNAL_AUTH_PUBLIC_KEYS?: string;
}

const MIN_SECRET_CHARS = 32;

/**
 * This process's internal keys, in order of preference:
 * 1. INTERNAL_AUTH_PRIVATE_KEY (own Ed25519 PKCS#8 PEM) + INTERNAL_AUTH_PUBLIC_KEYS (`name=base64,…`):
 *    per-process keys, so no process can sign as another;
 * 2. INTERNAL_AUTH_SECRET: keys derived from a shared secret;
 * 3. INTERNAL_AUTH_SECRET_FILE: the same, the secret generated on first start into that file
 *    (`make dev`; compose shares it through a volume). Processes on different hosts must share it.
 */
export function loadInternalKeys(self: CallerName, s: InternalAuthSettings): InternalKeys {
  if (s.INTERNAL_AUTH_PRIVATE_KEY || s.INTERNAL_AUTH_PUBLIC_KEYS) {
    if (!s.INTERNAL_AUTH_PRIVATE_KEY || !s.INTERNAL_AUTH_PUBLIC_KEYS) {
      throw new Error('INTERNAL_AUTH_PRIVATE_KEY and INTERNAL_AUTH_PUBLIC_KEYS are set together (or neither: INTERNAL_AUTH_SECRET)');
    }
    const pem = s.INTERNAL_AUTH_PRIVATE_KEY.replace(/\\n/g, '\n');
    const privateKey = createPrivateKey(pem);
    if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error('INTERNAL_AUTH_PRIVATE_KEY must be an Ed25519 private key (PKCS#8 PEM)');
    const publicKeys = new Map<string, KeyObject>();
    for (const entry of s.INTERNAL_AUTH_PUBLIC_KEYS.split(',')
      .map((e) => e.trim())
      .filter(Boolean)) {
      const [name, key] = entry.split('=', 2).map((p) => p.trim());
      if (!name || !key || !isCaller(name)) throw new Error(`INTERNAL_AUTH_PUBLIC_KEYS: "${entry}" is not <${CALLER_NAMES.join('|')}>=<base64 key>`);
      publicKeys.set(name, publicKeyFromBase64(key));
    }
    return { self, privateKey, publicKeys };
  }
  if (s.INTERNAL_AUTH_SECRET) {
    if (s.INTERNAL_AUTH_SECRET.length < MIN_SECRET_CHARS)
      throw new Error(`INTERNAL_AUTH_SECRET must have at least ${MIN_SECRET_CHARS} characters (openssl rand -base64 32)`);
    return deriveInternalKeys(s.INTERNAL_AUTH_SECRET, self);
  }
  return deriveInternalKeys(readOrCreateSecret(s.INTERNAL_AUTH_SECRET_FILE), self);
}

/** Reads the shared secret file, creating it first if missing (exclusive create: concurrent starts agree). */
function readOrCreateSecret(file: string): string {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new Error(
        `INTERNAL_AUTH_SECRET_FILE ${file} cannot be created (${(err as Error).message}): set INTERNAL_AUTH_SECRET, or point the file at a writable volume every process shares`,
        { cause: err },
      );
    }
  }
  // A racing creator may not have written yet: an empty read is retried briefly.
  for (let i = 0; i < 50; i++) {
    const secret = fs.readFileSync(file, 'utf8').trim();
    if (secret.length >= MIN_SECRET_CHARS) return secret;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  }
  throw new Error(`INTERNAL_AUTH_SECRET_FILE ${file} holds no secret of at least ${MIN_SECRET_CHARS} characters`);
}

export interface AssertionSigner {
  readonly self: CallerName;
  /** A token for `method` (full path) made for `user` (none for a service's own calls). */
  sign(method: string, user?: AssertedUser): string;
}

/** Signs assertions as `keys.self`, reusing each for half its lifetime. */
export function createAssertionSigner(
  keys: Pick<InternalKeys, 'self' | 'privateKey'>,
  opts: { ttlSeconds?: number; now?: () => number } = {},
): AssertionSigner {
  const ttl = opts.ttlSeconds ?? ASSERTION_TTL_S;
  const now = opts.now ?? Date.now;
  const cache = new Map<string, { token: string; renewAt: number }>();
  return {
    self: keys.self,
    sign(method, user = {}) {
      const key = `${method}\n${user.userId ?? ''}\n${user.role ?? ''}\n${user.sessionId ?? ''}`;
      const t = now();
      const hit = cache.get(key);
      if (hit && hit.renewAt > t) return hit.token;
      const payload: Payload = { iss: keys.self, mth: method, exp: Math.floor(t / 1000) + ttl };
      if (user.userId) payload.sub = user.userId;
      if (user.role) payload.rol = user.role;
      if (user.sessionId) payload.sid = user.sessionId;
      const body = Buffer.from(JSON.stringify(payload));
      const token = `${body.toString('base64url')}.${sign(null, body, keys.privateKey).toString('base64url')}`;
      if (hit) cache.delete(key);
      else if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value as string);
      cache.set(key, { token, renewAt: t + (ttl * 1000) / 2 });
      return token;
    },
  };
}

/** `x-error-reason` of a refused internal credential: the gateway answers it as 500 (its own fault), never 401. */
export const INTERNAL_AUTH_REASON = 'internal_auth';

/** Why a token was refused (logged; the caller only sees UNAUTHENTICATED). */
export class AssertionError extends ServiceError {
  constructor(readonly why: string) {
    super(status.UNAUTHENTICATED, 'internal caller credential missing or invalid', INTERNAL_AUTH_REASON);
  }
}

export interface AssertionVerifier {
  /** The verified caller of a call to `method`, or an AssertionError (UNAUTHENTICATED). */
  verify(token: string | undefined, method: string): VerifiedCaller;
}

/**
 * Verifies assertions against the callers' public keys. Only the gateway may assert a user: a
 * peer service calls as itself, and a peer token that names a user is refused.
 */
export function createAssertionVerifier(publicKeys: ReadonlyMap<string, KeyObject>, opts: { now?: () => number } = {}): AssertionVerifier {
  const now = opts.now ?? Date.now;
  const cache = new Map<string, { caller: VerifiedCaller; mth: string; expMs: number }>();

  function check(token: string, t: number): { caller: VerifiedCaller; mth: string; expMs: number } {
    const dot = token.indexOf('.');
    if (dot <= 0) throw new AssertionError('malformed');
    const body = Buffer.from(token.slice(0, dot), 'base64url');
    const sig = Buffer.from(token.slice(dot + 1), 'base64url');
    let p: Partial<Payload>;
    try {
      p = JSON.parse(body.toString('utf8')) as Partial<Payload>;
    } catch {
      throw new AssertionError('malformed');
    }
    if (typeof p.iss !== 'string' || typeof p.mth !== 'string' || typeof p.exp !== 'number') throw new AssertionError('malformed');
    const key = isCaller(p.iss) ? publicKeys.get(p.iss) : undefined;
    if (!key) throw new AssertionError(`unknown issuer ${p.iss}`);
    if (sig.length !== 64 || !verify(null, body, key, sig)) throw new AssertionError('bad signature');
    const expMs = p.exp * 1000;
    if (expMs + CLOCK_SKEW_S * 1000 <= t) throw new AssertionError('expired');
    if (expMs > t + (ASSERTION_TTL_S + CLOCK_SKEW_S) * 1000) throw new AssertionError('lifetime too long');
    if (p.iss !== 'gateway' && (p.sub !== undefined || p.rol !== undefined || p.sid !== undefined)) throw new AssertionError('only the gateway asserts a user');
    const caller: VerifiedCaller = { service: p.iss as CallerName };
    if (typeof p.sub === 'string') caller.userId = p.sub;
    if (typeof p.rol === 'string') caller.role = p.rol;
    if (typeof p.sid === 'string') caller.sessionId = p.sid;
    return { caller, mth: p.mth, expMs: expMs + CLOCK_SKEW_S * 1000 };
  }

  return {
    verify(token, method) {
      if (!token) throw new AssertionError('missing');
      const t = now();
      let hit = cache.get(token);
      if (!hit || hit.expMs <= t) {
        if (hit) cache.delete(token);
        hit = check(token, t);
        if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value as string);
        cache.set(token, hit);
      }
      if (hit.mth !== method) throw new AssertionError(`made for ${hit.mth}`);
      return hit.caller;
    },
  };
}

/** A process's keys and its signer, from its configuration: what servers and clients are built with. */
export function internalAuth(self: CallerName, settings: InternalAuthSettings): { keys: InternalKeys; signer: AssertionSigner } {
  const keys = loadInternalKeys(self, settings);
  return { keys, signer: createAssertionSigner(keys) };
}
