import { REDIS_COMMAND_TIMEOUT_MS } from '@shutter/kit';
import { apiClient, postsHelpers, startRedisServer, startStack, waitFor, type ApiClient, type Stack } from '@shutter/testing';

/**
 * Timelines and read forms are copies in Redis: with Redis down, the home feed and post pages are
 * answered from Postgres; when Redis comes back empty, timelines are rebuilt. The stack runs on a
 * private redis-server that the test stops and starts again on the same port.
 */

let redis: Awaited<ReturnType<typeof startRedisServer>>;
let stack: Stack;
let api: ApiClient;
let h: ReturnType<typeof postsHelpers>;

beforeAll(async () => {
  redis = await startRedisServer();
  stack = await startStack({ extraEnv: { REDIS_URL: redis.url } });
  api = apiClient(stack.url);
  h = postsHelpers(api, () => stack);
});
afterAll(async () => {
  await stack?.stop();
  await redis?.stop();
});

it('the home feed and a post page keep answering from Postgres while Redis is down, and rebuild after', async () => {
  const author = await h.register({ public: true });
  const reader = await h.register();
  await h.follow(reader, author);
  const postId = await h.createPost(author, 'still here');
  const feed = async () => (await api.get('/api/posts', { token: reader.token })).body.data?.posts?.map((p: { post_id: string }) => p.post_id);
  await waitFor(async () => (await feed())?.includes(postId));

  await redis.stop();
  const t0 = Date.now();
  expect(await feed()).toEqual([postId]);
  const page = await api.get(`/api/posts/${postId}`, { token: reader.token });
  expect(page.status).toBe(200);
  expect(page.body.data.content).toBe('still here');
  // Not one Redis command's timeout (the one way a read could hang on a down Redis), however busy the machine.
  expect(Date.now() - t0).toBeLessThan(REDIS_COMMAND_TIMEOUT_MS);

  redis = await startRedisServer(redis.port);
  await waitFor(async () => (await api.get('/readyz')).status === 200);
  expect(await feed()).toEqual([postId]);
});
