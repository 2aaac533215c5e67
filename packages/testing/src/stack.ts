import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createAssertionSigner, createLogger, deriveInternalKeys, type AssertionSigner, type CallerName, type Logger, type Metrics } from '@shutter/kit';
import { REPO_ROOT } from './backends';
import { contentS3Env } from './s3';
import { testBackends } from './fixtures';

/** The environment every service under test gets: this run's database and Redis prefix. */
export interface StartContext {
  env: NodeJS.ProcessEnv;
  /** gRPC addresses of the services started before this one (`IDENTITY_ADDR`, …). */
  addrs: Record<string, string>;
  logger: Logger;
  /** Listen on this port instead of a free one (a service restarted in place keeps its address). */
  port?: number;
}

export interface StartedService {
  /** The variable the gateway reads this service's address from (`IDENTITY_ADDR`). */
  addrVar: string;
  addr: string;
  /** The service's metrics registry (the call-counting tests read its per-method gRPC counters). */
  metrics?: Metrics;
  stop(): Promise<void>;
}

/** Services start in dependency order; each has `test/start.ts` exporting `start(ctx)`. */
export const SERVICE_ORDER = ['identity', 'social-graph', 'content', 'notification'];

/** The internal-auth secret every process under test derives its keys from. */
export const TEST_INTERNAL_AUTH_SECRET = 'test-internal-auth-secret-0123456789abcdef';

/** Signs calls as `name` (the gateway by default) with the test deployment's keys. */
export function testSigner(name: CallerName = 'gateway'): AssertionSigner {
  return createAssertionSigner(deriveInternalKeys(TEST_INTERNAL_AUTH_SECRET, name));
}

export function testEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const b = testBackends();
  return {
    DATABASE_URL: b.databaseUrl,
    DATABASE_POOL_MAX: '5',
    REDIS_URL: b.redisUrl,
    REDIS_KEY_PREFIX: b.redisPrefix,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    GRPC_PORT: '0',
    METRICS_PORT: '0',
    JWT_KEY_FILE: path.join(REPO_ROOT, '.data/test/jwt-ed25519.pem'),
    ADMIN_EMAIL: 'admin@shutter.test',
    ADMIN_PASSWORD: 'admin-password-for-tests',
    ADMIN_USERNAME: 'admin_test',
    INTERNAL_AUTH_SECRET: TEST_INTERNAL_AUTH_SECRET,
    // identity starts before social-graph and content: its edge and post backfills retry against
    // nothing rather than reach a development stack on the default ports (a test wanting them
    // starts an identity of its own).
    SOCIAL_GRAPH_ADDR: '127.0.0.1:1',
    CONTENT_ADDR: '127.0.0.1:1',
    // Every test file shares 127.0.0.1 and this run's Redis: only rate-limit tests lower it.
    RATE_LIMIT_SCALE: '100000',
    ...s3Env(),
    ...extra,
  };
}

/** This run's local S3 (global-setup) as the S3_* variables content reads. */
function s3Env(): Record<string, string> {
  const e = process.env;
  if (!e.TEST_S3_ENDPOINT) return {};
  return contentS3Env({
    endpoint: e.TEST_S3_ENDPOINT,
    region: e.TEST_S3_REGION ?? 'us-east-1',
    bucket: e.TEST_S3_BUCKET ?? 'shutter-media',
    accessKeyId: e.TEST_S3_ACCESS_KEY_ID ?? '',
    secretAccessKey: e.TEST_S3_SECRET_ACCESS_KEY ?? '',
  });
}

export interface StartedGateway {
  app: FastifyInstance;
  url: string;
  metrics?: Metrics;
  stop(): Promise<void>;
}

export interface Stack {
  url: string;
  app: FastifyInstance;
  /** The gateway's metrics (its gRPC client histograms count calls per service and method). */
  gatewayMetrics?: Metrics;
  services: Record<string, StartedService>;
  env: NodeJS.ProcessEnv;
  /** Starts a stopped service again on its former port: the gateway's channel finds it there. */
  restartService(name: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts every service that exists (real gRPC on port 0, this run's Postgres and Redis) and the
 * gateway on a real HTTP port. `only` limits the services; `extraEnv` overrides variables.
 */
export async function startStack(opts: { only?: string[]; extraEnv?: Record<string, string> } = {}): Promise<Stack> {
  const env = testEnv(opts.extraEnv);
  const logger = createLogger('test', env.LOG_LEVEL);
  const services: Record<string, StartedService> = {};
  const addrs: Record<string, string> = {};
  const load = (name: string) =>
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(path.join(REPO_ROOT, 'services', name, 'test/start.ts')) as { start(ctx: StartContext): Promise<StartedService> };
  const stopServices = async () => {
    for (const name of [...SERVICE_ORDER].reverse()) await services[name]?.stop();
  };
  try {
    return await startAll();
  } catch (err) {
    await stopServices();
    throw err;
  }

  async function startAll(): Promise<Stack> {
    for (const name of SERVICE_ORDER) {
      if (opts.only && !opts.only.includes(name)) continue;
      const file = path.join(REPO_ROOT, 'services', name, 'test/start.ts');
      if (!fs.existsSync(file)) continue;
      const s = await load(name).start({ env: { ...env, ...addrs }, addrs: { ...addrs }, logger });
      services[name] = s;
      addrs[s.addrVar] = s.addr;
    }
    // The gateway's own test/start.ts builds it (required at run time: testing does not depend on gateway).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const gw = require(path.join(REPO_ROOT, 'gateway/test/start.ts')) as { start(env: NodeJS.ProcessEnv, logger: Logger): Promise<StartedGateway> };
    const gateway = await gw.start({ ...env, ...addrs }, logger);
    const { app, url } = gateway;
    return {
      url,
      app,
      gatewayMetrics: gateway.metrics,
      services,
      env: { ...env, ...addrs },
      async restartService(name) {
        const old = services[name];
        if (!old) throw new Error(`${name} was not started`);
        const port = Number(old.addr.split(':').pop());
        const s = await load(name).start({ env: { ...env, ...addrs }, addrs: { ...addrs }, logger, port });
        if (s.addr !== old.addr) {
          await s.stop();
          throw new Error(`${name} restarted on ${s.addr}, not ${old.addr}: its test/start.ts must honour ctx.port`);
        }
        services[name] = s;
      },
      async stop() {
        await gateway.stop();
        await stopServices();
      },
    };
  }
}
