import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createDb, migrate, type Migration } from '@shutter/kit/db';
import { REPO_ROOT, createDatabase, ensurePostgres, ensureRedis, withDatabase, type PostgresHandle, type RedisHandle } from './backends';
import { startLocalS3, type LocalS3 } from './s3';

/**
 * Once per `jest` run: find or start Postgres and Redis, create this run's template database and
 * migrate every service's schema into it. Each test file then gets its own copy of the template and
 * its own Redis prefix (per-file.ts), so no two files share a database, an event stream or caches.
 * Workers read the TEST_* variables set here.
 *
 * `TEST_TIER=fast` (`make test-fast`: unit tests and the gateway's in-process tests) needs only
 * Redis: no database is made or migrated and no S3 server started.
 */
export default async function globalSetup(): Promise<void> {
  const runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  process.env.TEST_RUN_ID = runId;
  process.env.TEST_RUN_REDIS_PREFIX = `test:${runId}:`;
  // Tests run on the oldest Node the code supports; the SDK's notice about its future Node floor
  // (the images run a current LTS) would repeat once per worker and file.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  if (process.env.TEST_TIER === 'fast') {
    const redis = await ensureRedis();
    process.env.TEST_REDIS_URL = redis.url;
    (globalThis as Record<string, unknown>).__shutterBackends = { redis } satisfies { redis: RedisHandle };
    return;
  }
  // SHUTTER_EMBEDDED_PG=1 proves the path a machine without Postgres takes.
  const pg = await ensurePostgres({
    dataDir: path.join(REPO_ROOT, '.data/test-postgres'),
    persistent: false,
    forceEmbedded: process.env.SHUTTER_EMBEDDED_PG === '1',
  });
  const database = `shutter_test_${runId}`;
  await createDatabase(pg.adminUrl, database);
  const url = withDatabase(pg.adminUrl, database);
  for (const { schema, migrations } of serviceMigrations()) {
    const db = createDb({ url, schema, poolMax: 2 });
    try {
      await migrate(db, schema, migrations);
    } finally {
      await db.destroy();
    }
  }
  const redis = await ensureRedis();
  // One local S3 server per run (its files under .data/, removed by global-teardown).
  const s3 = await startLocalS3({ dir: path.join(REPO_ROOT, '.data/test-s3', runId) });
  process.env.TEST_PG_ADMIN_URL = pg.adminUrl;
  process.env.TEST_TEMPLATE_DATABASE = database;
  process.env.TEST_REDIS_URL = redis.url;
  process.env.TEST_S3_ENDPOINT = s3.endpoint;
  process.env.TEST_S3_REGION = s3.region;
  process.env.TEST_S3_BUCKET = s3.bucket;
  process.env.TEST_S3_ACCESS_KEY_ID = s3.accessKeyId;
  process.env.TEST_S3_SECRET_ACCESS_KEY = s3.secretAccessKey;
  process.env.TEST_S3_DIR = path.join(REPO_ROOT, '.data/test-s3', runId);
  (globalThis as Record<string, unknown>).__shutterBackends = { pg, redis, s3 } satisfies { pg: PostgresHandle; redis: RedisHandle; s3: LocalS3 };
}

/** Every service's `src/migrations/index.ts` exports `schema` and `migrations`. */
export function serviceMigrations(): Array<{ schema: string; migrations: Migration[] }> {
  const dir = path.join(REPO_ROOT, 'services');
  return (
    fs
      .readdirSync(dir)
      .filter((name) => fs.existsSync(path.join(dir, name, 'src/migrations/index.ts')))
      .sort()
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      .map((name) => require(path.join(dir, name, 'src/migrations')) as { schema: string; migrations: Migration[] })
  );
}
