import type { Knex } from 'knex';
import { loadDotEnv } from './config';
import { createDb, migrate, type Migration } from './db';
import { createLogger, type Logger } from './logger';
import { createMetrics, observeDbPool, startSidePort, type Metrics } from './metrics';
import { onShutdown } from './process';
import { startTracing } from './tracing';
import type { EventConsumer } from './outbox';

/** What every service's `createXService` returns (see services/identity/src/server.ts). */
export interface RunnableService {
  db: Knex;
  start(addr: string): Promise<number>;
  ready(): Promise<boolean>;
  stop(timeoutMs: number): Promise<void>;
}

interface ServiceProcessConfig {
  DATABASE_URL: string;
  LOG_LEVEL: string;
  HOST: string;
  GRPC_PORT: number;
  METRICS_PORT: number;
  SHUTDOWN_TIMEOUT_MS: number;
}

/**
 * The process layer of a service (its `main.ts`): `.env`, config validated once, logs, metrics,
 * traces (when OTEL_EXPORTER_OTLP_ENDPOINT is set), migrations, gRPC + side port, and an ordered shutdown on SIGINT/SIGTERM. A config error prints
 * the variables at fault and exits 1.
 */
export function runService<C extends ServiceProcessConfig, S extends RunnableService>(opts: {
  name: string;
  loadConfig: () => C;
  create: (config: C, logger: Logger, metrics: Metrics) => S | Promise<S>;
  schema: string;
  migrations: Migration[];
}): void {
  const main = async () => {
    loadDotEnv();
    const config = opts.loadConfig();
    const tracing = startTracing(opts.name);
    const logger = createLogger(opts.name, config.LOG_LEVEL);
    // MIGRATIONS: `run` (default) migrates then serves; `only` migrates and exits (a Kubernetes
    // Job before the Deployments roll; PGOPTIONS can bound its lock waits); `wait` exits once the
    // schema has every migration this build knows (a pod's init container: new code never runs
    // on an old schema); `skip` serves without migrating.
    const mode = process.env.MIGRATIONS ?? 'run';
    if (mode === 'only' || mode === 'wait') {
      const db = createDb({ url: config.DATABASE_URL, schema: opts.schema, poolMax: 1 });
      try {
        if (mode === 'only') await migrate(db, opts.schema, opts.migrations);
        else await waitForMigrations(db, opts.schema, opts.migrations, logger);
        logger.info({ schema: opts.schema }, `${opts.name} migrations ${mode === 'only' ? 'applied' : 'present'}`);
      } finally {
        await db.destroy();
        await tracing?.shutdown();
      }
      return;
    }
    const metrics = createMetrics(opts.name);
    const service = await opts.create(config, logger, metrics);
    observeDbPool(metrics, service.db);
    if (mode !== 'skip') await migrate(service.db, opts.schema, opts.migrations);
    const port = await service.start(`${config.HOST}:${config.GRPC_PORT}`);
    const side = await startSidePort(metrics, config.METRICS_PORT, service.ready, config.HOST);
    logger.info({ grpc_port: port, metrics_port: side.port }, `${opts.name} serving`);
    onShutdown(logger, config.SHUTDOWN_TIMEOUT_MS, async () => {
      await service.stop(config.SHUTDOWN_TIMEOUT_MS);
      await side.close();
      await tracing?.shutdown();
    });
  };
  main().catch((err: unknown) => {
    console.error(err instanceof Error && err.name === 'ConfigError' ? err.message : err);
    process.exit(1);
  });
}

/** Polls the schema's migration table until it lists every migration of this build. */
async function waitForMigrations(db: Knex, schema: string, migrations: Migration[], logger: Logger): Promise<void> {
  const want = migrations.map((m) => m.name);
  for (let i = 0; ; i++) {
    const applied = await db
      .withSchema(schema)
      .table('knex_migrations')
      .pluck('name')
      .catch(() => [] as string[]);
    const missing = want.filter((n) => !applied.includes(n));
    if (missing.length === 0) return;
    if (i % 15 === 0) logger.info({ schema, missing }, 'waiting for the migration job');
    await new Promise((r) => setTimeout(r, 2000));
  }
}

/**
 * A consumer whose loop has not turned for this long is stalled: its process is not doing its job
 * (a healthy loop turns every `blockMs`, 2 s; Redis or Postgres failing backs off to 5 s).
 */
export const CONSUMER_STALLED_AFTER_MS = 60_000;

/**
 * Readiness of a service whose dependencies are its Postgres pool and Redis, and, where it
 * consumes events, a consumer loop that still turns.
 */
export const backendsReady =
  (db: Knex, redis: { ping(): Promise<string> }, consumer?: Pick<EventConsumer, 'stalledMs'>, stalledAfterMs = CONSUMER_STALLED_AFTER_MS) =>
  async (): Promise<boolean> => {
    if (consumer && consumer.stalledMs() > stalledAfterMs) return false;
    await db.raw('select 1');
    return (await redis.ping()) === 'PONG';
  };
