import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRedis, type Redis } from '@shutter/kit';
import type { Knex } from '@shutter/kit/db';
import { apiClient, postsHelpers, startRedisServer, startStack, testDb, waitFor, type ApiClient, type Stack } from '@shutter/testing';

/**
 * Likes, comments and post edits and deletes do not fail while Redis is down (cache/pending-marks.ts):
 * the write commits with its cache marker recorded in Postgres, and the marker is placed once
 * Redis answers. The private redis-server here keeps its data (append-only file) across the stop,
 * like a Redis cut off by a partition: the copies from before the writes are still in it when it
 * returns, and must not be served once the recorded markers are placed.
 */

let dataDir: string;
let server: Awaited<ReturnType<typeof startRedisServer>>;
let stack: Stack;
let api: ApiClient;
let h: ReturnType<typeof postsHelpers>;
let db: Knex;
let peek: Redis;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shutter-redis-'));
  server = await startRedisServer(undefined, { dataDir });
  stack = await startStack({ extraEnv: { REDIS_URL: server.url } });
  api = apiClient(stack.url);
  h = postsHelpers(api, () => stack);
  db = testDb('content');
  peek = createRedis(server.url, stack.env.REDIS_KEY_PREFIX);
});
afterAll(async () => {
  await peek?.quit();
  await stack?.stop();
  await server?.stop();
  await db?.destroy();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

/** content's cache_pending_marks gauge, as a scrape reads it. */
const pendingGauge = async () => (await stack.services.content!.metrics!.registry.getSingleMetric('cache_pending_marks')!.get()).values[0]?.value;

const pendingMarks = async () => (await db('pending_cache_marks').orderBy(['cache', 'id']).select('cache', 'id')) as Array<{ cache: string; id: string }>;

it('a like, a comment, an edit and a delete made while Redis is down answer and commit; the copies Redis kept are not served after it returns', async () => {
  const author = await h.register({ public: true });
  const reader = await h.register();
  const postId = await h.createPost(author, 'before');
  const doomedId = await h.createPost(author, 'doomed');
  const read = async (id: string) => api.get(`/api/posts/${id}`, { token: reader.token });
  // Twice: the first read fills the copies (post forms, the reader's likes set), the second is served by them.
  for (let i = 0; i < 2; i++) {
    expect((await read(postId)).body.data).toMatchObject({ content: 'before', like_count: 0, comment_count: 0, is_liked: false });
    expect((await read(doomedId)).status).toBe(200);
  }
  expect(await peek.exists(`post:${postId}`, `post:${doomedId}`, `content:likes:${reader.id}`)).toBe(3);

  await server.stop();
  const like = await api.post(`/api/posts/like/${postId}`, undefined, { token: reader.token });
  expect(like.status).toBe(200);
  expect(like.body.data).toEqual({ post_id: postId, is_liked: true, like_count: 1 });
  expect((await api.post(`/api/posts/comment/${postId}`, { content: 'while down' }, { token: reader.token })).status).toBe(201);
  expect((await api.patch(`/api/posts/${postId}`, { content: 'after' }, { token: author.token })).status).toBe(200);
  expect((await api.delete(`/api/posts/${doomedId}`, { token: author.token })).status).toBe(200);
  // Reads go to Postgres meanwhile.
  expect((await read(postId)).body.data).toMatchObject({ content: 'after', like_count: 1, comment_count: 1, is_liked: true });
  expect((await read(doomedId)).status).toBe(404);
  expect(await pendingMarks()).toEqual(
    [
      { cache: 'likes_set', id: reader.id },
      { cache: 'post_form', id: doomedId },
      { cache: 'post_form', id: postId },
    ].sort((a, b) => (a.cache + a.id < b.cache + b.id ? -1 : 1)),
  );
  expect(await pendingGauge()).toBe(3);

  server = await startRedisServer(server.port, { dataDir });
  await waitFor(async () => (await pendingMarks()).length === 0);
  expect(await pendingGauge()).toBe(0);
  for (let i = 0; i < 2; i++) {
    const page = await read(postId);
    expect(page.body.data).toMatchObject({ content: 'after', like_count: 1, comment_count: 1, is_liked: true });
    expect(page.body.data.comments.map((c: { content: string }) => c.content)).toEqual(['while down']);
    expect((await read(doomedId)).status).toBe(404);
  }
});
