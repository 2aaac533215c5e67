import { randomUUID } from 'node:crypto';
import { generateKeyPair, exportJWK, SignJWT, type KeyLike } from 'jose';
import { content, identity, notification, socialgraph } from '@shutter/proto';
import {
  CALLER_NAMES,
  GrpcStatus,
  ServiceError,
  createGrpcServer,
  createLogger,
  createMetrics,
  deriveInternalKeys,
  type CallContext,
  type CallerName,
  type GrpcServer,
  type Handlers,
} from '@shutter/kit';
import { TEST_INTERNAL_AUTH_SECRET } from './stack';

/**
 * Fake services for the gateway's fast tier: real @grpc/grpc-js servers on loopback, built with the
 * kit's own server (so the gateway's signed caller assertion is verified and handlers see the
 * caller in `ctx`), answering each method with whatever the test gives it. A method no test gave
 * answers UNIMPLEMENTED (the gateway's 500 path), so a route that calls something unexpected fails.
 */

const SERVICES = {
  identity: { definition: identity.IdentityServiceService, addrVar: 'IDENTITY_ADDR', caller: 'identity' },
  socialGraph: { definition: socialgraph.SocialGraphServiceService, addrVar: 'SOCIAL_GRAPH_ADDR', caller: 'social-graph' },
  content: { definition: content.ContentServiceService, addrVar: 'CONTENT_ADDR', caller: 'content' },
  notification: { definition: notification.NotificationServiceService, addrVar: 'NOTIFICATION_ADDR', caller: 'notification' },
} as const satisfies Record<string, { definition: object; addrVar: string; caller: CallerName }>;

type ServiceName = keyof typeof SERVICES;

/** Canned behaviour per service and method: the kit's handler signature, any subset of methods. */
export type FakeHandlers = { [S in ServiceName]?: Partial<Handlers<(typeof SERVICES)[S]['definition']>> };

/** One call a fake answered (or refused): what the gateway sent and who it said the caller was. */
export interface FakeCall {
  service: ServiceName;
  method: string;
  request: unknown;
  userId?: string;
  role?: string;
  sessionId?: string;
  requestId: string;
}

/** Access tokens as identity signs them (EdDSA, `kid`, `sub`/`role`/`sid`), with the fake's own key. */
export interface TestTokens {
  /** identity's GetPublicKeys answer: the JWKS that verifies `sign`'s tokens. */
  jwksJson: string;
  sign(claims?: { sub?: string; role?: 'user' | 'admin'; sid?: string | null; ttlSeconds?: number }): Promise<string>;
}

export async function testTokens(): Promise<TestTokens> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const kid = randomUUID();
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' };
  return {
    jwksJson: JSON.stringify({ keys: [jwk] }),
    sign: (claims = {}) => signToken(privateKey, kid, claims),
  };
}

function signToken(key: KeyLike, kid: string, claims: { sub?: string; role?: 'user' | 'admin'; sid?: string | null; ttlSeconds?: number }): Promise<string> {
  const payload: Record<string, unknown> = { role: claims.role ?? 'user' };
  if (claims.sid !== null) payload.sid = claims.sid ?? randomUUID();
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'JWT' })
    .setSubject(claims.sub ?? randomUUID())
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (claims.ttlSeconds ?? 900))
    .sign(key);
}

export interface FakeServices {
  /** The variables a gateway needs to call the fakes: `IDENTITY_ADDR`, …, `INTERNAL_AUTH_SECRET`. */
  env: Record<string, string>;
  /** Tokens the fake identity's keys verify. */
  tokens: TestTokens;
  /** Every call so far, in order. */
  calls: FakeCall[];
  /** Replaces or adds handlers (per test); the rest stay. */
  use(handlers: FakeHandlers): void;
  /** Back to the handlers `fakeServices` was given; the call log is cleared. */
  reset(): void;
  stop(): Promise<void>;
}

/** A unary or client-stream handler answers a promise; a server-stream one, an AsyncIterable. */
type AnyHandler = (arg: unknown, ctx: CallContext) => Promise<unknown> | AsyncIterable<unknown>;

/**
 * Starts the four services as fakes on loopback ports. identity's GetPublicKeys answers `tokens`'
 * JWKS unless a test replaces it.
 */
export async function fakeServices(initial: FakeHandlers = {}): Promise<FakeServices> {
  const tokens = await testTokens();
  const defaults: FakeHandlers = { identity: { getPublicKeys: async () => ({ jwksJson: tokens.jwksJson }) } };
  const current = new Map<string, AnyHandler>();
  const calls: FakeCall[] = [];
  const install = (handlers: FakeHandlers) => {
    for (const [service, methods] of Object.entries(handlers)) {
      for (const [method, fn] of Object.entries(methods ?? {})) current.set(`${service}.${method}`, fn as AnyHandler);
    }
  };
  const reset = () => {
    current.clear();
    install(defaults);
    install(initial);
    calls.length = 0;
  };
  reset();

  const logger = createLogger('fake', process.env.TEST_LOG_LEVEL ?? 'silent');
  const servers: GrpcServer[] = [];
  const env: Record<string, string> = { INTERNAL_AUTH_SECRET: TEST_INTERNAL_AUTH_SECRET };
  try {
    for (const [service, { definition, addrVar, caller }] of Object.entries(SERVICES) as Array<[ServiceName, (typeof SERVICES)[ServiceName]]>) {
      const server = createGrpcServer({ logger, metrics: createMetrics(`fake-${caller}`), auth: deriveInternalKeys(TEST_INTERNAL_AUTH_SECRET, caller) });
      const handlers: Record<string, AnyHandler> = {};
      for (const [method, def] of Object.entries(definition) as Array<[string, { responseStream: boolean }]>) {
        const handlerOf = (arg: unknown, ctx: CallContext): AnyHandler => {
          calls.push({ service, method, request: arg, userId: ctx.userId, role: ctx.role, sessionId: ctx.sessionId, requestId: ctx.requestId });
          const fn = current.get(`${service}.${method}`);
          if (!fn) throw new ServiceError(GrpcStatus.UNIMPLEMENTED, `the fake ${service} was given no ${method}`, 'unimplemented');
          return fn;
        };
        handlers[method] = def.responseStream
          ? async function* (arg, ctx) {
              yield* handlerOf(arg, ctx)(arg, ctx) as AsyncIterable<unknown>;
            }
          : async (arg, ctx) => handlerOf(arg, ctx)(arg, ctx);
      }
      // Every method may be called without a user and by any process (the gateway or a peer under
      // test): the fakes record who the caller said it was.
      const methods = Object.keys(definition);
      server.add(definition as never, handlers as never, {
        withoutUser: methods as never,
        peers: Object.fromEntries(CALLER_NAMES.map((n) => [n, methods])) as never,
      });
      servers.push(server);
      env[addrVar] = `127.0.0.1:${await server.listen('127.0.0.1:0')}`;
    }
  } catch (err) {
    for (const s of servers) s.server.forceShutdown();
    throw err;
  }

  return {
    env,
    tokens,
    calls,
    use: install,
    reset,
    // Nothing to drain in a fake: its connections are cut at once.
    stop: async () => {
      for (const s of servers) s.server.forceShutdown();
    },
  };
}
