import * as fs from 'node:fs';
import Redis from 'ioredis';
import { dropDatabases, type PostgresHandle, type RedisHandle } from './backends';
import type { LocalS3 } from './s3';

/** Drops this run's databases (the template and each file's copy) and deletes its Redis keys; stops what global-setup started. */
export default async function globalTeardown(): Promise<void> {
  const handles = (globalThis as Record<string, unknown>).__shutterBackends as { pg?: PostgresHandle; redis: RedisHandle; s3?: LocalS3 } | undefined;
  if (!handles) return;
  const prefix = process.env.TEST_RUN_REDIS_PREFIX;
  if (prefix && !handles.redis.started) {
    const redis = new Redis(handles.redis.url);
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
    await redis.quit();
  }
  if (handles.pg && process.env.KEEP_TEST_DB !== '1')
    await dropDatabases(handles.pg.adminUrl, `${process.env.TEST_TEMPLATE_DATABASE ?? ''}%`).catch(() => undefined);
  await handles.redis.stop();
  await handles.s3?.stop();
  if (process.env.TEST_S3_DIR) fs.rmSync(process.env.TEST_S3_DIR, { recursive: true, force: true });
  await handles.pg?.stop();
}
