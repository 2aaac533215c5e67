import { createLogger, type Redis } from '@shutter/kit';
import type { Knex } from '@shutter/kit/db';
import { parseForm, TOMBSTONE_VERSION } from '../src/cache/versioned';
import { apiClient, postsHelpers, startStack, testDb, testRedis, waitFor, type ApiClient, type Stack, type TestUser } from '@shutter/testing';
import { loadContentConfig } from '../src/config';
import { createFeed, scoreOf, type Feed } from '../src/feed/feed';
import { createPostsRepository } from '../src/posts/posts-repository';
import { createPostReads } from '../src/posts/read-path';

let stack: Stack;
let api: ApiClient;
let redis: Redis;
let db: Knex;
let h: ReturnType<typeof postsHelpers>;

beforeAll(async () => {
  stack = await startStack();
  api = apiClient(stack.url);
  redis = testRedis();
  db = testDb('content');
  h = postsHelpers(api, () => stack);
});
afterAll(async () => {
  await redis?.quit();
  await db?.destroy();
  await stack?.stop();
});

const feedIds = async (u: TestUser, query = ''): Promise<string[]> => {
  const res = await api.get(`/api/posts${query}`, { token: u.token });
  expect(res.status).toBe(200);
  return res.body.data.posts.map((p: { post_id: string }) => p.post_id);
};
/** Whether the post id is in the user's Redis timeline (fan-out happened, not a read-time merge). */
const inTimeline = async (u: TestUser, postId: string) => (await redis.zscore(`feed:${u.id}`, postId)) !== null;

describe('home timelines in Redis, fanned out on write', () => {
  it("a new post reaches an agree follower's timeline and feed by fan-out, scored by its creation time", async () => {
    const author = await h.register();
    const follower = await h.register();
    await h.follow(follower, author);
    expect(await feedIds(follower)).toEqual([]); // builds the (empty) timeline
    const postId = await h.createPost(author, 'fanned out');
    await waitFor(async () => (await feedIds(follower)).includes(postId));
    expect(await inTimeline(follower, postId)).toBe(true);
    expect(Number(await redis.zscore(`feed:${follower.id}`, postId))).toBe(scoreOf(postId));
    expect(Math.abs(scoreOf(postId) - Date.now())).toBeLessThan(60_000);
    expect(await inTimeline(author, postId)).toBe(false); // the author never read a feed: no timeline to add to
    expect(await feedIds(author)).toEqual([postId]); // rebuilt on read
  });

  it('posts made before a follow join the timeline once it is accepted; after an unfollow they are gone', async () => {
    const author = await h.register();
    const follower = await h.register();
    const older = await h.createPost(author, 'before the follow');
    expect(await feedIds(follower)).toEqual([]);
    const followsId = await h.follow(follower, author);
    await waitFor(async () => (await feedIds(follower)).includes(older));
    expect(await inTimeline(follower, older)).toBe(true);

    expect((await api.delete(`/api/follows/${followsId}`, { token: follower.token })).status).toBe(200);
    await waitFor(async () => !(await feedIds(follower)).includes(older));
    // Out of the timeline too (follow.removed), though reads never depended on it.
    await waitFor(async () => !(await inTimeline(follower, older)));
  });

  it('a timeline deleted from Redis is rebuilt from Postgres with the same pages', async () => {
    const me = await h.register();
    const friend = await h.register({ public: true });
    await h.follow(me, friend);
    const made: string[] = [];
    for (let i = 0; i < 3; i++) made.unshift(await h.createPost(friend, `friend ${i}`));
    made.unshift(await h.createPost(me, 'mine'));
    const pages = async () => {
      const first = await api.get('/api/posts?limit=3', { token: me.token });
      const cursor = first.body.data.pagination.cursor_post_id as string;
      const second = await api.get(`/api/posts?limit=3&cursor_post_id=${cursor}`, { token: me.token });
      return { first: first.body.data, second: second.body.data };
    };
    const before = await waitFor(async () => {
      const p = await pages();
      return p.first.posts.length === 3 && p.second.posts.length === 1 ? p : null;
    }, 2000);
    expect([...before.first.posts, ...before.second.posts].map((p: { post_id: string }) => p.post_id)).toEqual(made);
    expect(before.first.pagination.has_more).toBe(true);
    expect(before.second.pagination.has_more).toBe(false);

    expect(await redis.del(`feed:${me.id}`)).toBe(1);
    const after = await pages();
    expect(after).toEqual(before);
    expect(await inTimeline(me, made[0]!)).toBe(true);
    expect(await redis.ttl(`feed:${me.id}`)).toBeGreaterThan(24 * 3600);
  });

  it('a deleted post never shows, at once, though its id may still be in timelines', async () => {
    const author = await h.register();
    const follower = await h.register();
    await h.follow(follower, author);
    expect(await feedIds(follower)).toEqual([]);
    const postId = await h.createPost(author, 'short-lived');
    await waitFor(async () => inTimeline(follower, postId));
    expect((await api.delete(`/api/posts/${postId}`, { token: author.token })).status).toBe(200);
    expect(await feedIds(follower)).not.toContain(postId);
    expect(await feedIds(author)).not.toContain(postId);
    expect((await api.get(`/api/posts/${postId}`, { token: author.token })).status).toBe(404);
    // A tombstone outranks any fill that read the row before the delete.
    expect(parseForm(await redis.get(`post:${postId}`))).toEqual({ version: TOMBSTONE_VERSION, value: null });
  });
});

describe('post read forms in Redis', () => {
  it('a post page reads post:<id> (versioned); an edit shows at once; counts are exact at once', async () => {
    const author = await h.register({ public: true });
    const fan = await h.register();
    const postId = await h.createPost(author, 'first words');
    expect((await api.get(`/api/posts/${postId}`, { token: fan.token })).body.data.content).toBe('first words');
    const form = parseForm<Record<string, unknown>>(await redis.get(`post:${postId}`));
    expect(form?.value).toMatchObject({ id: postId, author_id: author.id, content: 'first words', like_count: 0, comment_count: 0, comments: [] });
    expect(form?.value?.images).toHaveLength(1);
    const v1 = form!.version;

    const edited = await api.patch(`/api/posts/${postId}`, { content: 'second words' }, { token: author.token });
    expect(edited.status).toBe(200);
    expect(edited.body.data.content).toBe('second words');
    expect((await api.get(`/api/posts/${postId}`, { token: fan.token })).body.data.content).toBe('second words');
    expect(parseForm<{ content: string }>(await redis.get(`post:${postId}`))).toMatchObject({ version: v1 + 1, value: { content: 'second words' } });

    expect((await api.post(`/api/posts/like/${postId}`, undefined, { token: fan.token })).status).toBe(200);
    const seen = (await api.get(`/api/posts/${postId}`, { token: fan.token })).body.data;
    expect(seen).toMatchObject({ like_count: 1, is_liked: true });
    expect((await api.get(`/api/posts/${postId}`, { token: author.token })).body.data).toMatchObject({ like_count: 1, is_liked: false });
  });

  it('a read form evicted from Redis is read from Postgres and written back', async () => {
    const author = await h.register({ public: true });
    const postId = await h.createPost(author, 'evict me');
    await api.get(`/api/posts/${postId}`, { token: author.token });
    await redis.del(`post:${postId}`);
    expect((await api.get(`/api/posts/${postId}`, { token: author.token })).body.data.content).toBe('evict me');
    expect(await redis.exists(`post:${postId}`)).toBe(1);
  });
});

describe('big authors: merged at read time, not fanned out', () => {
  let feed: (maxFollowers: number) => Feed;

  beforeAll(() => {
    // Content's fan-out with FEED_FANOUT_MAX_FOLLOWERS lowered through its environment. It is
    // called directly: the stack's consumer group is shared with other test files' stacks.
    const config = loadContentConfig({ ...stack.env, SOCIAL_GRAPH_ADDR: stack.services['social-graph']!.addr, FEED_FANOUT_MAX_FOLLOWERS: '2' });
    const posts = createPostsRepository(db);
    const log = createLogger('test', 'silent');
    const reads = createPostReads({ db, redis, log, ttlSeconds: config.POST_CACHE_TTL_SECONDS });
    feed = (maxFollowers) =>
      createFeed({
        redis,
        posts,
        reads,
        log,
        config: { maxItems: config.FEED_MAX_ITEMS, fanoutMaxFollowers: maxFollowers, ttlSeconds: config.FEED_TTL_SECONDS },
      });
    expect(config.FEED_FANOUT_MAX_FOLLOWERS).toBe(2);
  });

  it('an author with more followers than the threshold is marked big; their posts reach feeds by the read-time merge', async () => {
    const author = await h.register({ public: true });
    const followers = [await h.register(), await h.register(), await h.register()];
    for (const f of followers) await h.follow(f, author);
    const bigOf = async () => Boolean(await db('big_authors').where({ author_id: author.id }).first());

    const first = await h.createPost(author, 'before being big');
    // 3 followers: under a threshold of 5 nothing is marked; over 2 the author becomes big.
    await feed(5).postCreated(db, first, author.id);
    expect(await bigOf()).toBe(false);
    await feed(2).postCreated(db, first, author.id);
    expect(await bigOf()).toBe(true);

    for (const f of followers) expect(await feedIds(f)).toEqual([first]); // timelines built
    expect(await feedIds(author)).toEqual([first]);
    const second = await h.createPost(author, 'big now');
    // The author's own timeline gets it from the consumer; followers' timelines do not.
    await waitFor(async () => inTimeline(author, second));
    for (const f of followers) {
      expect(await feedIds(f)).toEqual([second, first]);
      expect(await inTimeline(f, second)).toBe(false);
    }
    // Paging crosses the merge: the cursor after `second` yields `first`.
    const next = await api.get(`/api/posts?limit=1&cursor_post_id=${second}`, { token: followers[0]!.token });
    expect(next.body.data.posts.map((p: { post_id: string }) => p.post_id)).toEqual([first]);
  });
});

describe('the home feed equals a plain SQL computation over the owners’ tables', () => {
  /** Every page of the viewer's feed, following cursors (3 per page). */
  const allPages = async (u: TestUser): Promise<string[]> => {
    const out: string[] = [];
    let cursor = '';
    for (;;) {
      const res = await api.get(`/api/posts?limit=3${cursor ? `&cursor_post_id=${cursor}` : ''}`, { token: u.token });
      expect(res.status).toBe(200);
      out.push(...res.body.data.posts.map((p: { post_id: string }) => p.post_id));
      if (!res.body.data.pagination.has_more) return out;
      cursor = res.body.data.pagination.cursor_post_id;
    }
  };
  /** The feed by definition (docs/api.md): own posts and agree followees' posts, enabled authors, newest first. */
  const bySql = async (u: TestUser): Promise<string[]> => {
    const res = await db.raw(
      `SELECT p.id FROM content.posts p JOIN identity.users a ON a.id = p.author_id
        WHERE a.status = 'enabled'
          AND (p.author_id = :v OR EXISTS (SELECT 1 FROM graph.follows f WHERE f.follower_id = :v AND f.followee_id = p.author_id AND f.status = 'agree'))
        ORDER BY p.id DESC`,
      { v: u.id },
    );
    return (res.rows as Array<{ id: string }>).map((r) => r.id);
  };
  /** Reads converge within the events' trip (milliseconds); then pages and SQL agree exactly. */
  const expectSqlFeed = async (u: TestUser) => {
    await waitFor(async () => JSON.stringify(await allPages(u)) === JSON.stringify(await bySql(u))).catch(() => undefined);
    const want = await bySql(u);
    expect(await allPages(u)).toEqual(want);
    return want;
  };

  it('through fan-out, a Redis loss, unfollow, a privacy switch, a disable and a delete', async () => {
    const viewer = await h.register();
    const pub = await h.register({ public: true });
    const priv = await h.register();
    const leaver = await h.register({ public: true });
    const switcher = await h.register();
    const disabled = await h.register({ public: true });
    const stranger = await h.register({ public: true });
    for (const a of [pub, priv, leaver, disabled]) await h.follow(viewer, a);
    // A pending request to a private account: not in the feed until the account goes public.
    const pending = await api.post(`/api/follows/request/${switcher.id}`, undefined, { token: viewer.token });
    expect(pending.body.data.status).toBe('pending');
    expect(await allPages(viewer)).toEqual([]); // the timeline is built (empty) before the posts
    const posts: Record<string, string[]> = {};
    for (const [name, u] of Object.entries({ viewer, pub, priv, leaver, switcher, disabled, stranger })) {
      posts[name] = [await h.createPost(u, `${name} 1`), await h.createPost(u, `${name} 2`)];
    }
    const fanned = await expectSqlFeed(viewer); // fan-out
    expect(fanned).toHaveLength(10);
    expect(fanned).not.toContain(posts.stranger![0]);

    await redis.del(`feed:${viewer.id}`); // Redis lost the timeline: rebuilt from Postgres
    await expectSqlFeed(viewer);

    const leaverEdge = await db.raw('SELECT id FROM graph.follows WHERE follower_id = ? AND followee_id = ?', [viewer.id, leaver.id]);
    expect((await api.delete(`/api/follows/${leaverEdge.rows[0].id}`, { token: viewer.token })).status).toBe(200);
    expect(await expectSqlFeed(viewer)).not.toContain(posts.leaver![0]); // unfollow

    const sw = await api.patch('/api/users', { is_public: true }, { token: switcher.token });
    expect(sw.status).toBe(200);
    // social-graph accepts the pending request when identity's user.updated reaches it (an event).
    await waitFor(async () => (await bySql(viewer)).includes(posts.switcher![0]!));
    expect(await expectSqlFeed(viewer)).toContain(posts.switcher![0]); // privacy switch accepted the request

    const admin = await h.adminToken();
    expect((await api.patch(`/api/users/${disabled.id}`, { status: 'disabled' }, { token: admin })).status).toBe(200);
    expect(await expectSqlFeed(viewer)).not.toContain(posts.disabled![0]); // disable

    expect((await api.delete(`/api/posts/${posts.pub![1]}`, { token: pub.token })).status).toBe(200);
    expect(await expectSqlFeed(viewer)).not.toContain(posts.pub![1]); // delete
  });
});
