import fp from 'fastify-plugin';
import { createLocalJWKSet, jwtVerify, errors as joseErrors, type JSONWebKeySet } from 'jose';
import type { FastifyRequest } from 'fastify';
import { DISABLED_USERS_KEY, type Redis } from '@shutter/kit';
import type { ServiceClients } from '../clients';
import { invalidCredentials, notAuthenticated } from '../errors';


export interface Caller {
  userId: string;
  role: 'user' | 'admin';
}

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller | null;
  }
  interface FastifyContextConfig {
    /** Reachable without a token (register, login, refresh, health, docs). */
    public?: boolean;
  }
}

const MAX_CACHED_TOKENS = 50_000;
const JWKS_REFRESH_MIN_INTERVAL_MS = 5_000;

/**
 * Verifies access tokens with jose against identity's JWKS (EdDSA only; cached, refetched when a
 * token names an unknown kid). Verified tokens are cached until they expire; the disabled-accounts
 * set in Redis is checked on every request, so a disabled account fails within seconds.
 */
export function createTokenVerifier(clients: ServiceClients, redis: Redis, log: FastifyRequest['log']) {
  let keySet: ReturnType<typeof createLocalJWKSet> | undefined;
  let jwks: JSONWebKeySet | undefined;
  let fetchedAt = 0;
  const cache = new Map<string, { caller: Caller; exp: number }>();

  async function loadKeys(): Promise<void> {
    const res = await clients.identity.getPublicKeys({});
    jwks = JSON.parse(res.jwksJson) as JSONWebKeySet;
    keySet = createLocalJWKSet(jwks);
    fetchedAt = Date.now();
  }

  async function verifyJwt(token: string): Promise<{ caller: Caller; exp: number }> {
    if (!keySet) await loadKeys();
    try {
      const { payload } = await jwtVerify(token, keySet!, { algorithms: ['EdDSA'] });
      if (typeof payload.sub !== 'string' || typeof payload.exp !== 'number') throw invalidCredentials();
      const role = payload.role === 'admin' ? 'admin' : 'user';
      return { caller: { userId: payload.sub, role }, exp: payload.exp * 1000 };
    } catch (err) {
      if (err instanceof joseErrors.JWKSNoMatchingKey && Date.now() - fetchedAt > JWKS_REFRESH_MIN_INTERVAL_MS) {
        await loadKeys(); // identity may have rotated its key
        return verifyJwt(token);
      }
      throw invalidCredentials();
    }
  }

  return {
    jwks: async () => {
      if (!jwks) await loadKeys();
      return jwks!;
    },
    async verify(token: string): Promise<Caller> {
      let hit = cache.get(token);
      if (!hit || hit.exp <= Date.now()) {
        if (hit) cache.delete(token);
        hit = await verifyJwt(token);
        if (cache.size >= MAX_CACHED_TOKENS) cache.delete(cache.keys().next().value as string);
        cache.set(token, hit);
      }
      // Fails open if Redis is unreachable: Redis holds only rebuildable state, and identity
      // still refuses a disabled account's refresh and login.
      const disabled = await redis.sismember(DISABLED_USERS_KEY, hit.caller.userId).catch((err: unknown) => {
        log.warn({ err }, 'revocation check skipped: redis unavailable');
        return 0;
      });
      if (disabled) throw invalidCredentials();
      return hit.caller;
    },
  };
}

export type TokenVerifier = ReturnType<typeof createTokenVerifier>;

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** Sets `request.caller` on every non-public route, or answers 401. */
export default fp<{ verifier: TokenVerifier }>(
  async (app, { verifier }) => {
    app.decorateRequest('caller', null);
    app.addHook('onRequest', async (request) => {
      if (request.is404 || request.routeOptions.config?.public || request.method === 'OPTIONS') return;
      const header = request.headers.authorization;
      if (!header) throw notAuthenticated();
      const match = BEARER.exec(header);
      if (!match?.[1]) throw invalidCredentials();
      request.caller = await verifier.verify(match[1]);
    });
  },
  { name: 'auth' },
);

/** The caller of an authenticated route (the auth hook guarantees it is set). */
export function callerOf(request: FastifyRequest): Caller {
  if (!request.caller) throw notAuthenticated();
  return request.caller;
}
