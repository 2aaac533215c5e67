import { createLogger, createMetrics, createRedis, newId, type Metrics, type Redis } from '@shutter/kit';
import { migrate, type Knex } from '@shutter/kit/db';
import { startRedisServer, testDb, unique } from '@shutter/testing';
import { migrations } from '../src/migrations';
import { createPostReads, type PostReads } from '../src/posts/read-path';

/**
 * `cache_requests_total{cache,result}`: each key looked up in a versioned copy counts once, as a
 * hit, a miss (answered by Postgres, then filled) or unavailable (Redis down). A private
 * redis-server, so stopping it touches nobody else.
 */

const schema = unique('content_cache_counters_');
let db: Knex;
let server: Awaited<ReturnType<typeof startRedisServer>>;
let redis: Redis;
let metrics: Metrics;
let reads: PostReads;

beforeAll(async () => {
  db = testDb(schema);
  await migrate(db, schema, migrations);
  server = await startRedisServer();
  redis = createRedis(server.url);
  metrics = createMetrics('content');
  reads = createPostReads({ db, redis, log: createLogger('test', 'silent'), ttlSeconds: 60, metrics });
});
afterAll(async () => {
  await redis?.quit();
  await server?.stop();
  await db?.raw('DROP SCHEMA IF EXISTS ?? CASCADE', [schema]);
  await db?.destroy();
});

/** The counter's value for each result of one cache. */
async function counts(cache: string): Promise<Record<string, number>> {
  const { values } = await metrics.registry.getSingleMetric('cache_requests_total')!.get();
  return Object.fromEntries(values.filter((v) => v.labels.cache === cache).map((v) => [v.labels.result, v.value]));
}

it('counts a miss, then a hit, then unavailable for a post form and a followees set', async () => {
  const postId = newId();
  const viewer = newId();
  await db('posts').insert({ id: postId, author_id: newId(), content: 'counted' });
  expect(await counts('post_form')).toEqual({ hit: 0, miss: 0, unavailable: 0 });

  expect((await reads.posts.get([postId])).get(postId)?.content).toBe('counted');
  expect(await counts('post_form')).toEqual({ hit: 0, miss: 1, unavailable: 0 });
  expect((await reads.posts.get([postId])).get(postId)?.content).toBe('counted');
  expect(await counts('post_form')).toEqual({ hit: 1, miss: 1, unavailable: 0 });

  await reads.followeesAmong(viewer, [newId()]);
  await reads.followeesAmong(viewer, [newId()]);
  expect(await counts('followees_set')).toEqual({ hit: 1, miss: 1, unavailable: 0 });

  await server.stop();
  expect((await reads.posts.get([postId])).get(postId)?.content).toBe('counted');
  expect(await counts('post_form')).toEqual({ hit: 1, miss: 1, unavailable: 1 });
});
