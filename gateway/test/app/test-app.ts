import { REVOCATIONS_VERSION_KEY } from '@shutter/contracts';
import { createLogger, createRedis, createMetrics, type Metrics, type Redis } from '@shutter/kit';
import { fakeServices, injectClient, testRedisBackend, unique, type ApiClient, type FakeHandlers, type FakeServices } from '@shutter/testing';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app';
import { closeClients, createServiceClients } from '../../src/clients';
import { loadGatewayConfig } from '../../src/config';

/**
 * The gateway's fast tier: the real app (buildApp) answering `inject` requests, in front of fake
 * services (packages/testing fake-services.ts) and this file's Redis under a key prefix of its own.
 * What the gateway owns (tokens, revocation, validation, the error envelope, status mapping, JSON
 * shaping, rate limits, the OpenAPI document) is tested here in milliseconds; behaviour across
 * services stays in the system tests beside it (gateway/test/*.test.ts).
 */
export interface TestApp {
  app: FastifyInstance;
  api: ApiClient;
  fakes: FakeServices;
  /** Redis under this app's own prefix (revocation state, rate-limit windows). */
  redis: Redis;
  metrics: Metrics;
  /** A signed-in caller: an access token the fake identity's keys verify. */
  signIn(claims?: {
    sub?: string;
    role?: 'user' | 'admin';
    sid?: string | null;
    ttlSeconds?: number;
  }): Promise<{ token: string; userId: string; sessionId: string }>;
  stop(): Promise<void>;
}

export interface TestAppOptions {
  /** The fakes' canned behaviour (more per test with `fakes.use`). */
  fakes?: FakeHandlers;
  /** Gateway variables over the defaults (rate limits, resync intervals, …). */
  env?: Record<string, string>;
  /** Another Redis than this run's (a private redis-server). */
  redisUrl?: string;
  /** false: identity has not written its revocation state (the gateway must fail closed). */
  revocationState?: boolean;
}

export async function testApp(opts: TestAppOptions = {}): Promise<TestApp> {
  const fakes = await fakeServices(opts.fakes);
  // A prefix per app: rate-limit windows and revocations of one app never reach another.
  const prefix = `${testRedisBackend().redisPrefix}${unique('app')}:`;
  const redisUrl = opts.redisUrl ?? testRedisBackend().redisUrl;
  const redis = createRedis(redisUrl, prefix);
  // identity's revocation state exists (the gateway fails closed until it has read it once).
  if (opts.revocationState !== false) await redis.set(REVOCATIONS_VERSION_KEY, '1');
  const config = loadGatewayConfig({
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: prefix,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    // One shared address (inject's 127.0.0.1): only the rate-limit tests lower it.
    RATE_LIMIT_SCALE: '100000',
    ...fakes.env,
    ...opts.env,
  });
  const metrics = createMetrics('gateway');
  const clients = createServiceClients(config, metrics);
  const logger = createLogger('gateway', config.LOG_LEVEL);
  const app = await buildApp({ config, clients, redis, logger, metrics });
  await app.ready();
  return {
    app,
    api: injectClient(app),
    fakes,
    redis,
    metrics,
    async signIn(claims = {}) {
      const userId = claims.sub ?? crypto.randomUUID();
      const sessionId = claims.sid ?? crypto.randomUUID();
      return { token: await fakes.tokens.sign({ ...claims, sub: userId, sid: claims.sid === null ? null : sessionId }), userId, sessionId };
    },
    async stop() {
      await app.close();
      closeClients(clients);
      await fakes.stop();
      await redis.quit();
    },
  };
}
