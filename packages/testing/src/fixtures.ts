import { randomBytes } from 'node:crypto';
import { createRedis, type Redis } from '@shutter/kit';
import { createDb, type Knex } from '@shutter/kit/db';

/** The database and Redis of this test run (see global-setup). */
export function testBackends() {
  const databaseUrl = process.env.TEST_DATABASE_URL;
  const redisUrl = process.env.TEST_REDIS_URL;
  if (!databaseUrl || !redisUrl) throw new Error('run tests through jest (global-setup sets TEST_DATABASE_URL)');
  return { databaseUrl, redisUrl, redisPrefix: process.env.TEST_REDIS_PREFIX ?? 'test:' };
}

export function testDb(schema: string): Knex {
  return createDb({ url: testBackends().databaseUrl, schema, poolMax: 5 });
}

/** This file's Redis (every tier has one; the fast tier has no database). */
export function testRedisBackend() {
  const redisUrl = process.env.TEST_REDIS_URL;
  if (!redisUrl) throw new Error('run tests through jest (global-setup sets TEST_REDIS_URL)');
  return { redisUrl, redisPrefix: process.env.TEST_REDIS_PREFIX ?? 'test:' };
}

export function testRedis(prefix = testRedisBackend().redisPrefix): Redis {
  return createRedis(testRedisBackend().redisUrl, prefix);
}

/** A short random suffix so each test owns its data (usernames, emails). */
export function unique(prefix = 'u'): string {
  return `${prefix}${randomBytes(5).toString('hex')}`;
}
