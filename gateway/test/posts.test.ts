import { apiClient, expectError, postsHelpers, startStack, waitFor, type ApiClient, type Stack, type TestUser } from '@shutter/testing';

let stack: Stack;
let api: ApiClient;
let h: ReturnType<typeof postsHelpers>;

beforeAll(async () => {
  stack = await startStack();
  api = apiClient(stack.url);
  h = postsHelpers(api, () => stack);
});
afterAll(() => stack?.stop());

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const get = (u: Pick<TestUser, 'token'>, path: string) => api.get(path, { token: u.token });

/** Every route that names a post, as `user`: the statuses they answer. */
async function postRouteStatuses(u: TestUser, postId: string) {
  return {
    get: (await get(u, `/api/posts/${postId}`)).status,
    like: (await api.post(`/api/posts/like/${postId}`, undefined, { token: u.token })).status,
    unlike: (await api.post(`/api/posts/unlike/${postId}`, undefined, { token: u.token })).status,
    comments: (await get(u, `/api/posts/comment/${postId}`)).status,
    comment: (await api.post(`/api/posts/comment/${postId}`, { content: 'hi' }, { token: u.token })).status,
    edit: (await api.patch(`/api/posts/${postId}`, { content: 'changed' }, { token: u.token })).status,
    delete: (await api.delete(`/api/posts/${postId}`, { token: u.token })).status,
  };
}

describe('creating and reading a post', () => {
  it('answers 201 {post_id}; the post reads back with its fields, images and 2 newest comments', async () => {
    const author = await h.register();
    const res = await h.postMultipart(author, '  Hello world  ');
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ data: { post_id: expect.any(String) }, message: 'ok' });
    const postId = res.body.data.post_id;
    for (const text of ['first', 'second', 'third'])
      expect((await api.post(`/api/posts/comment/${postId}`, { content: text }, { token: author.token })).status).toBe(201);

    const got = await get(author, `/api/posts/${postId}`);
    expect(got.status).toBe(200);
    const post = got.body.data;
    expect(post).toMatchObject({
      post_id: postId,
      user_id: author.id,
      username: author.username,
      content: 'Hello world',
      like_count: 0,
      comment_count: 3,
      is_liked: false,
    });
    expect(post.images).toEqual([
      {
        image_id: expect.any(String),
        url: expect.stringMatching(/^http/),
        width: 3,
        height: 2,
        order: 0,
        blurhash: expect.any(String),
        variants: expect.any(Array),
      },
    ]);
    expect(post.created_at).toMatch(ISO);
    expect(post.updated_at).toMatch(ISO);
    expect(post.comments.map((c: any) => c.content)).toEqual(['third', 'second']);
    expect(post.comments[0]).toMatchObject({ post_id: postId, user: { user_id: author.id, username: author.username, name: '', metadata: { profile: {} } } });
    expect(post.comments[0].created_at).toMatch(ISO);
  });

  it('counts posts on the profile', async () => {
    const author = await h.register();
    await h.createPost(author);
    await h.createPost(author);
    const other = await h.register();
    // identity's replica of content's posts: current within milliseconds (the event's trip).
    const profile = await waitFor(async () => {
      const res = await get(other, `/api/users/${author.id}`);
      return res.body.data?.post_count === 2 ? res : null;
    }, 10_000);
    expect(profile.status).toBe(200);
  });

  const MEDIA = ['0190a5c4-0000-7000-8000-000000000000'];
  it.each([
    ['empty content', { content: '', media_ids: MEDIA }, 'body.content'],
    ['blank content', { content: ' '.repeat(5), media_ids: MEDIA }, 'body.content'],
    ['2201 characters', { content: 'x'.repeat(2201), media_ids: MEDIA }, 'body.content'],
    ['no images', { content: 'ok', media_ids: [] }, 'body.media_ids'],
    ['media_ids missing', { content: 'ok' }, 'body.media_ids'],
    ['a number as content', { content: 42, media_ids: MEDIA }, 'body.content'],
    ['a media id that is not a UUID', { content: 'ok', media_ids: ['not-a-uuid'] }, 'body.media_ids.0'],
  ])('422 for a JSON body with %s', async (_label, body, field) => {
    const author = await h.register();
    const res = await api.post('/api/posts', body, { token: author.token });
    expectError(res, 422);
    expect(res.body.errors[0].field).toBe(field);
  });

  it('counts content in code points: 2200 emoji are fine', async () => {
    const author = await h.register();
    expect((await h.postMultipart(author, '📷'.repeat(2200))).status).toBe(201);
    expectError(await h.postMultipart(author, '📷'.repeat(2201)), 422, /at most 2200/);
  });

  it('401 without a token, 422 for a path id that is not a UUID', async () => {
    expectError(await api.get('/api/posts/0190a5c4-0000-7000-8000-000000000000'), 401, 'Not authenticated');
    const u = await h.register();
    expectError(await get(u, '/api/posts/nope'), 422);
    expectError(await api.post('/api/posts/like/nope', undefined, { token: u.token }), 422);
    expectError(await get(u, '/api/posts/0190a5c4-0000-7000-8000-000000000000'), 404);
  });
});

describe('visibility (docs/api.md): author, public, agree follower; everyone else 404', () => {
  it('a public author: anyone may see, like and comment; only the author may edit or delete (403)', async () => {
    const author = await h.register({ public: true });
    const stranger = await h.register();
    const postId = await h.createPost(author);
    expect(await postRouteStatuses(stranger, postId)).toEqual({ get: 200, like: 200, unlike: 200, comments: 200, comment: 201, edit: 403, delete: 403 });
    const list = await get(stranger, `/api/posts?user_id=${author.id}`);
    expect(list.status).toBe(200);
    expect(list.body.data.posts.map((p: any) => p.post_id)).toEqual([postId]);
  });

  it('a private author: a stranger and a pending follower get 404 everywhere, and 403 for the list', async () => {
    const author = await h.register();
    const stranger = await h.register();
    const pending = await h.register();
    expect((await api.post(`/api/follows/request/${author.id}`, undefined, { token: pending.token })).body.data.status).toBe('pending');
    const postId = await h.createPost(author);
    for (const u of [stranger, pending]) {
      expect(await postRouteStatuses(u, postId)).toEqual({ get: 404, like: 404, unlike: 404, comments: 404, comment: 404, edit: 404, delete: 404 });
      expectError(await get(u, `/api/posts?user_id=${author.id}`), 403, 'This account is private.');
      expectError(await get(u, `/api/posts?user_id=${author.id}&search=post`), 403, 'This account is private.');
    }
    // The post is untouched by all those attempts.
    expect((await get(author, `/api/posts/${postId}`)).body.data).toMatchObject({ like_count: 0, comment_count: 0, content: 'a post' });
  });

  it('a private author: an agree follower may see, like and comment (posts made before the follow too), not edit', async () => {
    const author = await h.register();
    const follower = await h.register();
    const postId = await h.createPost(author, 'before the follow');
    await h.follow(follower, author);
    await h.waitForPostStatus(follower, postId, 200);
    // The follow reaches content's copies by event (milliseconds; seconds on a loaded machine).
    const expected = { get: 200, like: 200, unlike: 200, comments: 200, comment: 201, edit: 403, delete: 403 };
    let statuses: Record<string, number> = {};
    await waitFor(async () => JSON.stringify((statuses = await postRouteStatuses(follower, postId))) === JSON.stringify(expected)).catch(() => undefined);
    expect(statuses).toEqual(expected);
    const list = await get(follower, `/api/posts?user_id=${author.id}`);
    expect(list.status).toBe(200);
    expect(list.body.data.posts.map((p: any) => p.post_id)).toEqual([postId]);
  });

  it('an author sees and changes their own private posts', async () => {
    const author = await h.register();
    const postId = await h.createPost(author);
    const s = await postRouteStatuses(author, postId);
    expect(s).toEqual({ get: 200, like: 200, unlike: 200, comments: 200, comment: 201, edit: 200, delete: 200 });
    expectError(await get(author, `/api/posts/${postId}`), 404);
  });

  it('an unfollow takes effect on every read once it reaches content', async () => {
    const author = await h.register();
    const follower = await h.register();
    const followsId = await h.follow(follower, author);
    const postId = await h.createPost(author);
    await h.waitForPostStatus(follower, postId, 200);
    expect((await get(follower, '/api/posts')).body.data.posts.map((p: any) => p.post_id)).toContain(postId);
    expect((await api.delete(`/api/follows/${followsId}`, { token: follower.token })).status).toBe(200);
    await h.waitForPostStatus(follower, postId, 404);
    expect((await get(follower, '/api/posts')).body.data.posts.map((p: any) => p.post_id)).not.toContain(postId);
    expectError(await get(follower, `/api/posts?user_id=${author.id}`), 403, 'This account is private.');
  });

  it('a switch to private takes effect once it reaches content; back to public too', async () => {
    const author = await h.register({ public: true });
    const stranger = await h.register();
    const postId = await h.createPost(author);
    expect((await get(stranger, `/api/posts/${postId}`)).status).toBe(200);
    expect((await api.patch('/api/users/', { is_public: false }, { token: author.token })).status).toBe(200);
    await h.waitForPostStatus(stranger, postId, 404);
    expectError(await get(stranger, `/api/posts?user_id=${author.id}`), 403, 'This account is private.');
    expect((await api.patch('/api/users/', { is_public: true }, { token: author.token })).status).toBe(200);
    await h.waitForPostStatus(stranger, postId, 200);
  });

  it("a disabled author's posts and comments are visible to no one else (admins included) until enabled again", async () => {
    const author = await h.register({ public: true });
    const follower = await h.register();
    await h.follow(follower, author);
    const other = await h.register({ public: true });
    const postId = await h.createPost(author);
    const othersPost = await h.createPost(other);
    expect((await api.post(`/api/posts/comment/${othersPost}`, { content: 'from the author' }, { token: author.token })).status).toBe(201);
    expect((await api.post(`/api/posts/comment/${othersPost}`, { content: 'from the follower' }, { token: follower.token })).status).toBe(201);
    await h.waitForPostStatus(follower, postId, 200);
    const admin = { token: await h.adminToken(), id: '', username: '' };

    expect((await api.patch(`/api/users/${author.id}`, { status: 'disabled' }, { token: admin.token })).status).toBe(200);
    await h.waitForPostStatus(follower, postId, 404);
    for (const u of [follower, other, admin]) {
      expectError(await get(u, `/api/posts/${postId}`), 404);
      expectError(await get(u, `/api/posts?user_id=${author.id}`), 404);
    }
    expect((await get(follower, '/api/posts')).body.data.posts.map((p: any) => p.post_id)).not.toContain(postId);
    expect((await get(follower, '/api/posts?search=a%20post')).body.data.posts.map((p: any) => p.post_id)).not.toContain(postId);
    // Their comment left the list and the count.
    const comments = await get(other, `/api/posts/comment/${othersPost}`);
    expect(comments.body.data.comments.map((c: any) => c.content)).toEqual(['from the follower']);
    expect(comments.body.data.pagination.total_items).toBe(1);
    expect((await get(other, `/api/posts/${othersPost}`)).body.data.comment_count).toBe(1);

    expect((await api.patch(`/api/users/${author.id}`, { status: 'enabled' }, { token: admin.token })).status).toBe(200);
    await h.waitForPostStatus(follower, postId, 200);
    expect((await get(other, `/api/posts/${othersPost}`)).body.data.comment_count).toBe(2);
  });
});

describe('editing and deleting', () => {
  it('the author edits the content (same rules as on create); updated_at moves', async () => {
    const author = await h.register();
    const postId = await h.createPost(author);
    const before = (await get(author, `/api/posts/${postId}`)).body.data;
    const res = await api.patch(`/api/posts/${postId}`, { content: '  edited  ' }, { token: author.token });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ post_id: postId, content: 'edited', images: [{ width: 3, height: 2 }] });
    expect(res.body.data.updated_at > before.updated_at).toBe(true);
    expectError(await api.patch(`/api/posts/${postId}`, { content: '' }, { token: author.token }), 422);
  });

  it('deleting answers {post_id}; the post, its likes and comments are gone', async () => {
    const author = await h.register({ public: true });
    const fan = await h.register();
    const postId = await h.createPost(author);
    await api.post(`/api/posts/like/${postId}`, undefined, { token: fan.token });
    const comment = await api.post(`/api/posts/comment/${postId}`, { content: 'nice' }, { token: fan.token });
    const res = await api.delete(`/api/posts/${postId}`, { token: author.token });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({ post_id: postId });
    expectError(await get(fan, `/api/posts/${postId}`), 404);
    expectError(await api.delete(`/api/posts/comment/${comment.body.data.comment_id}`, { token: fan.token }), 404);
    expectError(await api.delete(`/api/posts/${postId}`, { token: author.token }), 404);
    await waitFor(async () => (await get(fan, `/api/users/${author.id}`)).body.data.post_count === 0);
  });
});

describe('comments', () => {
  it('lists newest first with offset paging; 1–1000 characters after trimming', async () => {
    const author = await h.register();
    const postId = await h.createPost(author);
    for (let i = 1; i <= 5; i++) expect((await api.post(`/api/posts/comment/${postId}`, { content: ` c${i} ` }, { token: author.token })).status).toBe(201);
    const page = await get(author, `/api/posts/comment/${postId}?page=2&limit=2`);
    expect(page.status).toBe(200);
    expect(page.body.data.comments.map((c: any) => c.content)).toEqual(['c3', 'c2']);
    expect(page.body.data.pagination).toEqual({ page: 2, limit: 2, total: 3, total_items: 5 });
    expectError(await api.post(`/api/posts/comment/${postId}`, { content: '   ' }, { token: author.token }), 422);
    expectError(await api.post(`/api/posts/comment/${postId}`, { content: 'x'.repeat(1001) }, { token: author.token }), 422);
    expect((await api.post(`/api/posts/comment/${postId}`, { content: 'x'.repeat(1000) }, { token: author.token })).status).toBe(201);
    expectError(await get(author, `/api/posts/comment/${postId}?page=0`), 422);
  });

  it("only the comment's author edits it; the post's author may delete it (moderation), others 403", async () => {
    const author = await h.register({ public: true });
    const commenter = await h.register();
    const bystander = await h.register();
    const postId = await h.createPost(author);
    const c1 = (await api.post(`/api/posts/comment/${postId}`, { content: 'one' }, { token: commenter.token })).body.data.comment_id;
    const c2 = (await api.post(`/api/posts/comment/${postId}`, { content: 'two' }, { token: commenter.token })).body.data.comment_id;

    const edited = await api.patch(`/api/posts/comment/${c1}`, { content: ' uno ' }, { token: commenter.token });
    expect(edited.status).toBe(200);
    expect(edited.body.data).toMatchObject({ comment_id: c1, post_id: postId, content: 'uno', user: { user_id: commenter.id, username: commenter.username } });
    expectError(await api.patch(`/api/posts/comment/${c1}`, { content: 'x' }, { token: author.token }), 403);
    expectError(await api.patch(`/api/posts/comment/${c1}`, { content: 'x' }, { token: bystander.token }), 403);
    expectError(await api.delete(`/api/posts/comment/${c1}`, { token: bystander.token }), 403);

    expect((await api.delete(`/api/posts/comment/${c1}`, { token: commenter.token })).body.data).toEqual({ comment_id: c1 });
    expect((await api.delete(`/api/posts/comment/${c2}`, { token: author.token })).body.data).toEqual({ comment_id: c2 });
    expect((await get(author, `/api/posts/${postId}`)).body.data.comment_count).toBe(0);
    expectError(await api.delete(`/api/posts/comment/${c2}`, { token: author.token }), 404);
  });

  it("comments on a private author's post are hidden with it", async () => {
    const author = await h.register();
    const follower = await h.register();
    const followsId = await h.follow(follower, author);
    const postId = await h.createPost(author);
    await h.waitForPostStatus(follower, postId, 200);
    const commentId = (await api.post(`/api/posts/comment/${postId}`, { content: 'mine' }, { token: follower.token })).body.data.comment_id;
    await api.delete(`/api/follows/${followsId}`, { token: follower.token });
    await h.waitForPostStatus(follower, postId, 404);
    expectError(await api.patch(`/api/posts/comment/${commentId}`, { content: 'edit' }, { token: follower.token }), 404);
    expectError(await api.delete(`/api/posts/comment/${commentId}`, { token: follower.token }), 404);
  });
});

describe('lists: home feed, user timelines, search, keyset paging', () => {
  it("the home feed holds the caller's and agree followees' posts, newest first, not strangers'", async () => {
    const me = await h.register();
    const friend = await h.register();
    const stranger = await h.register({ public: true });
    const old = await h.createPost(friend, 'old');
    await h.follow(me, friend);
    const mine = await h.createPost(me, 'mine');
    const fresh = await h.createPost(friend, 'fresh');
    const strangers = await h.createPost(stranger, 'public but not followed');
    const ids = await waitFor(async () => {
      const res = await get(me, '/api/posts');
      const got = res.body.data.posts.map((p: any) => p.post_id) as string[];
      return got.length === 3 ? got : null;
    }, 10_000);
    expect(ids).toEqual([fresh, mine, old]);
    expect(ids).not.toContain(strangers);
  });

  it('pages with cursor_post_id; the last page has has_more false and a null cursor; an unknown cursor is 422', async () => {
    const author = await h.register();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.unshift(await h.createPost(author, `post ${i}`));
    const seen: string[] = [];
    let cursor: string | null = null;
    for (;;) {
      const res = await get(author, `/api/posts?user_id=${author.id}&limit=2${cursor ? `&cursor_post_id=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      seen.push(...res.body.data.posts.map((p: any) => p.post_id));
      const pg = res.body.data.pagination;
      expect(pg.limit).toBe(2);
      if (!pg.has_more) {
        expect(pg.cursor_post_id).toBeNull();
        break;
      }
      expect(pg.cursor_post_id).toBe(seen[seen.length - 1]);
      cursor = pg.cursor_post_id;
    }
    expect(seen).toEqual(ids);
    const unknown = await get(author, `/api/posts?cursor_post_id=0190a5c4-0000-7000-8000-000000000000`);
    expectError(unknown, 422, /cursor_post_id/);
    expect(unknown.body.errors[0].field).toBe('query.cursor_post_id');
    expect((await get(author, '/api/posts?limit=1000&_t=123')).body.data.pagination.limit).toBe(100);
    expectError(await get(author, '/api/posts?limit=0'), 422);
  });

  it('an unknown user id answers 404', async () => {
    const me = await h.register();
    expectError(await get(me, '/api/posts?user_id=0190a5c4-0000-7000-8000-000000000000'), 404);
  });

  it('search: case-insensitive substring, % and _ literal, over the feed plus public accounts', async () => {
    const me = await h.register();
    const pub = await h.register({ public: true });
    const priv = await h.register();
    const tag = `t${Date.now().toString(36)}`;
    const a = await h.createPost(pub, `${tag} 100% Sure`);
    const b = await h.createPost(pub, `${tag} 100 percent`);
    const c = await h.createPost(priv, `${tag} 100% private`);
    const d = await h.createPost(me, `${tag} my_file`);
    const e = await h.createPost(me, `${tag} myXfile`);
    const search = async (q: string, extra = '') =>
      (await get(me, `/api/posts?search=${encodeURIComponent(q)}${extra}`)).body.data.posts.map((p: any) => p.post_id);
    expect(await search(`${tag} 100%`)).toEqual([a]);
    expect(await search(`${tag.toUpperCase()} 100`)).toEqual([b, a]);
    expect(await search(`${tag} my_f`)).toEqual([d]);
    expect(await search(tag, `&user_id=${me.id}`)).toEqual([e, d]);
    expect(await search(tag)).not.toContain(c);
    expect(await search(tag)).toEqual([e, d, b, a]);
  });
});
