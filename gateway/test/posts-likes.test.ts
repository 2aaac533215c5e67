import { apiClient, expectError, listKeys, png, postsHelpers, startStack, type ApiClient, type Stack } from '@shutter/testing';

let stack: Stack;
let api: ApiClient;
let h: ReturnType<typeof postsHelpers>;

beforeAll(async () => {
  stack = await startStack();
  api = apiClient(stack.url);
  h = postsHelpers(api, () => stack);
});
afterAll(() => stack?.stop());

const like = (token: string, postId: string) => api.post(`/api/posts/like/${postId}`, undefined, { token });
const unlike = (token: string, postId: string) => api.post(`/api/posts/unlike/${postId}`, undefined, { token });

describe('likes', () => {
  it('like and unlike are idempotent; is_liked and like_count reflect the caller at once', async () => {
    const author = await h.register({ public: true });
    const fan = await h.register();
    const postId = await h.createPost(author);
    // Seed 000's client sends Content-Type: application/json with an empty body.
    const first = await api.post(`/api/posts/like/${postId}`, '', { token: fan.token, headers: { 'content-type': 'application/json' } });
    expect(first.status).toBe(200);
    expect(first.body.data).toEqual({ post_id: postId, is_liked: true, like_count: 1 });
    expect((await like(fan.token, postId)).body.data).toEqual({ post_id: postId, is_liked: true, like_count: 1 });
    expect((await api.get(`/api/posts/${postId}`, { token: fan.token })).body.data).toMatchObject({ is_liked: true, like_count: 1 });
    expect((await api.get(`/api/posts/${postId}`, { token: author.token })).body.data).toMatchObject({ is_liked: false, like_count: 1 });
    expect((await like(author.token, postId)).body.data.like_count).toBe(2);
    expect((await unlike(fan.token, postId)).body.data).toEqual({ post_id: postId, is_liked: false, like_count: 1 });
    expect((await unlike(fan.token, postId)).body.data).toEqual({ post_id: postId, is_liked: false, like_count: 1 });
    expect((await api.get(`/api/posts/${postId}`, { token: fan.token })).body.data).toMatchObject({ is_liked: false, like_count: 1 });
    const list = await api.get(`/api/posts?user_id=${author.id}`, { token: author.token });
    expect(list.body.data.posts[0]).toMatchObject({ post_id: postId, is_liked: true, like_count: 1 });
  });

  it('50 concurrent likes by one user make one like; 50 concurrent unlikes remove it', async () => {
    const author = await h.register();
    const postId = await h.createPost(author);
    const likes = await Promise.all(Array.from({ length: 50 }, () => like(author.token, postId)));
    for (const res of likes)
      expect({ status: res.status, data: res.body.data }).toEqual({ status: 200, data: { post_id: postId, is_liked: true, like_count: 1 } });
    expect((await api.get(`/api/posts/${postId}`, { token: author.token })).body.data).toMatchObject({ is_liked: true, like_count: 1 });
    const unlikes = await Promise.all(Array.from({ length: 50 }, () => unlike(author.token, postId)));
    for (const res of unlikes)
      expect({ status: res.status, data: res.body.data }).toEqual({ status: 200, data: { post_id: postId, is_liked: false, like_count: 0 } });
  });

  it('concurrent likes by many users are all counted', async () => {
    const author = await h.register({ public: true });
    const postId = await h.createPost(author);
    const fans = await Promise.all(Array.from({ length: 6 }, () => h.register()));
    // The switch to public reaches content through the event stream (docs/api.md: within 2 s).
    await h.waitForPostStatus(fans[0]!, postId, 200);
    const results = await Promise.all(fans.flatMap((f) => [like(f.token, postId), like(f.token, postId)]));
    expect(results.map((r) => r.status)).toEqual(Array(12).fill(200));
    expect((await api.get(`/api/posts/${postId}`, { token: author.token })).body.data.like_count).toBe(6);
  });
});

describe('Idempotency-Key on POST /api/posts', () => {
  it('the same key twice creates one post and answers the same status and body', async () => {
    const u = await h.register();
    const headers = { 'idempotency-key': 'create-1' };
    const first = await h.postMultipart(u, 'once', undefined, headers);
    const again = await h.postMultipart(u, 'once', undefined, headers);
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    const posts = (await api.get(`/api/posts?user_id=${u.id}`, { token: u.token })).body.data.posts;
    expect(posts.map((p: any) => p.post_id)).toEqual([first.body.data.post_id]);
    // The repeat's files were not kept.
    expect(await listKeys(`media/${u.id}/`)).toHaveLength(1);
  });

  it('the same key with a different body is 422, and creates nothing', async () => {
    const u = await h.register();
    const headers = { 'idempotency-key': 'create-2' };
    expect((await h.postMultipart(u, 'one body', undefined, headers)).status).toBe(201);
    const other = await h.postMultipart(u, 'another body', undefined, headers);
    expectError(other, 422, /Idempotency-Key/);
    const otherImage = await h.postMultipart(u, 'one body', [{ bytes: png(9, 9) }], headers);
    expectError(otherImage, 422, /Idempotency-Key/);
    expect((await api.get(`/api/posts?user_id=${u.id}`, { token: u.token })).body.data.posts).toHaveLength(1);
    expect(await listKeys(`media/${u.id}/`)).toHaveLength(1);
  });

  it('concurrent requests with one key make one post; keys are per user; bad keys are 422', async () => {
    const u = await h.register();
    const v = await h.register();
    const headers = { 'idempotency-key': 'shared-key' };
    const results = await Promise.all(Array.from({ length: 5 }, () => h.postMultipart(u, 'race', undefined, headers)));
    const ids = new Set(results.map((r) => (expect(r.status).toBe(201), r.body.data.post_id)));
    expect(ids.size).toBe(1);
    expect((await api.get(`/api/posts?user_id=${u.id}`, { token: u.token })).body.data.posts).toHaveLength(1);
    expect(await listKeys(`media/${u.id}/`)).toHaveLength(1);
    const theirs = await h.postMultipart(v, 'race', undefined, headers);
    expect(theirs.status).toBe(201);
    expect(ids.has(theirs.body.data.post_id)).toBe(false);
    expectError(await h.postMultipart(u, 'x', undefined, { 'idempotency-key': 'x'.repeat(256) }), 422, /Idempotency-Key/);
  });
});
