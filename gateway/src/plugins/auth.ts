import fp from 'fastify-plugin';
import { createLocalJWKSet, jwtVerify, errors as joseErrors, type JSONWebKeySet } from 'jose';
import type { FastifyRequest } from 'fastify';
import { cacheCounter, type Metrics } from '@shutter/kit';
import type { ServiceClients } from '../clients';
import { HttpError, invalidCredentials, notAuthenticated } from '../errors';
import type { Revocations } from './revocations';
import type { StreamTickets } from './stream-tickets';

export interface Caller {
  userId: string;
  role: 'user' | 'admin';
  /** The session the token was issued in (`sid`). */
  sessionId: string;
  /** When the token expires (epoch ms). */
  exp: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller | null;
  }
  interface FastifyContextConfig {
    /** Reachable without a token (register, login, refresh, health, docs). */
    public?: boolean;
    /** `?ticket=` (a stream ticket) may stand in for the Authorization header (EventSource). */
    ticketAuth?: boolean;
  }
}

const MAX_CACHED_TOKENS = 50_000;
const JWKS_REFRESH_MIN_INTERVAL_MS = 5_000;

/** Revocation state too old to trust (plugins/revocations.ts): the gateway fails closed. */
export const revocationsUnavailable = () =>
  new HttpError(503, 'Sign-in checks are unavailable right now. Try again shortly.', 'service_unavailable', { retryAfter: 5 });

/**
 * Verifies access tokens with jose against identity's JWKS (EdDSA only; cached, refetched when a
 * token names an unknown kid). Verified tokens are cached until they expire. Revocation (disabled
 * accounts, ended sessions) is checked on every request against the in-memory copy in
 * revocations.ts: no Redis round trip. When that copy is older than its staleness bound, every
 * authenticated request answers 503 rather than trust it (README *Security*).
 */
export function createTokenVerifier(clients: ServiceClients, revocations: Revocations, metrics?: Metrics) {
  const count = cacheCounter(metrics, 'verified_token');
  let keySet: ReturnType<typeof createLocalJWKSet> | undefined;
  let jwks: JSONWebKeySet | undefined;
  let fetchedAt = 0;
  const cache = new Map<string, Caller>();

  async function loadKeys(): Promise<void> {
    const res = await clients.identity.getPublicKeys({});
    jwks = JSON.parse(res.jwksJson) as JSONWebKeySet;
    keySet = createLocalJWKSet(jwks);
    fetchedAt = Date.now();
  }

  async function verifyJwt(token: string): Promise<Caller> {
    if (!keySet) await loadKeys();
    try {
      const { payload } = await jwtVerify(token, keySet!, { algorithms: ['EdDSA'] });
      // A token without a session cannot be ended by logout: refused.
      if (typeof payload.sub !== 'string' || typeof payload.exp !== 'number' || typeof payload.sid !== 'string') throw invalidCredentials();
      const role = payload.role === 'admin' ? 'admin' : 'user';
      return { userId: payload.sub, role, sessionId: payload.sid, exp: payload.exp * 1000 };
    } catch (err) {
      if (err instanceof joseErrors.JWKSNoMatchingKey && Date.now() - fetchedAt > JWKS_REFRESH_MIN_INTERVAL_MS) {
        await loadKeys(); // identity may have rotated its key
        return verifyJwt(token);
      }
      throw invalidCredentials();
    }
  }

  /** Throws unless the caller's token is unexpired and neither its session nor account is revoked. */
  function check(caller: Caller): Caller {
    if (caller.exp <= Date.now()) throw invalidCredentials();
    if (!revocations.fresh()) throw revocationsUnavailable();
    if (revocations.isRevoked(caller.userId, caller.sessionId)) throw invalidCredentials();
    return caller;
  }

  return {
    jwks: async () => {
      if (!jwks) await loadKeys();
      return jwks!;
    },
    check,
    async verify(token: string): Promise<Caller> {
      const hit = cache.get(token);
      if (hit && hit.exp > Date.now()) {
        count('hit');
        return check(hit);
      }
      count('miss');
      if (hit) cache.delete(token);
      const caller = await verifyJwt(token);
      if (cache.size >= MAX_CACHED_TOKENS) cache.delete(cache.keys().next().value as string);
      cache.set(token, caller);
      return check(caller);
    },
  };
}

export type TokenVerifier = ReturnType<typeof createTokenVerifier>;

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** Sets `request.caller` on every non-public route, or answers 401. */
export default fp<{ verifier: TokenVerifier; tickets: StreamTickets }>(
  async (app, { verifier, tickets }) => {
    app.decorateRequest('caller', null);
    app.addHook('onRequest', async (request) => {
      const config = request.routeOptions.config;
      if (request.is404 || config?.public || request.method === 'OPTIONS') return;
      const header = request.headers.authorization;
      if (!header) {
        const ticket = config?.ticketAuth ? (request.query as Record<string, unknown> | undefined)?.ticket : undefined;
        if (typeof ticket === 'string' && ticket !== '') {
          const caller = await tickets.redeem(ticket);
          if (!caller) throw new HttpError(401, 'The stream ticket is invalid, expired or already used.', 'invalid_ticket');
          request.caller = verifier.check(caller);
          return;
        }
        throw notAuthenticated();
      }
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
