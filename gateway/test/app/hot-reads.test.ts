import { presentPost } from '@shutter/contracts';
import { content, identity } from '@shutter/proto';
import { testApp, type TestApp } from './test-app';

/**
 * The hot reads' JSON (docs/api.md), shaped by the gateway from one canned reply each: field names,
 * timestamps, nulls, defaults, what only the owner sees; and each read is exactly one call to the
 * one service that answers it (docs/architecture.md *Hot paths*; the system test hot-reads.test.ts counts
 * the same calls through the whole stack).
 */

const AUTHOR = '0190a8d2-0000-7000-8000-00000000000a';
const POST = '0190a8d2-0000-7000-8000-0000000000b1';
const COMMENT = '0190a8d2-0000-7000-8000-0000000000c1';
const IMAGE = '0190a8d2-0000-7000-8000-0000000000d1';
const CREATED = new Date('2026-11-21T10:00:00.000Z');
const UPDATED = new Date('2026-11-21T10:05:00.000Z');

const userOf = (userId: string, extra: Partial<identity.User> = {}) =>
  identity.User.fromPartial({
    userId,
    email: `${userId.slice(-4)}@example.com`,
    username: 'ada',
    name: 'Ada',
    isPublic: true,
    role: 'user',
    status: 'enabled',
    profile: { bio: 'hi' },
    createdAt: CREATED,
    ...extra,
  });

const post = content.Post.fromPartial({
  postId: POST,
  userId: AUTHOR,
  username: 'ada',
  content: 'hello',
  images: [
    {
      imageId: IMAGE,
      url: 'https://cdn.test/i.jpg',
      width: 2048,
      height: 1536,
      order: 0,
      blurhash: 'LEHV6nWB2yk8',
      variants: [{ url: 'https://cdn.test/i-320.webp', width: 320, height: 240 }],
    },
  ],
  likeCount: 3,
  commentCount: 1,
  isLiked: true,
  createdAt: CREATED,
  updatedAt: UPDATED,
  comments: [
    {
      commentId: COMMENT,
      postId: POST,
      content: 'first',
      createdAt: CREATED,
      updatedAt: CREATED,
      user: { userId: AUTHOR, username: 'ada', name: 'Ada', profile: {}, profileImageUrl: '' },
    },
  ],
});

const postJson = {
  post_id: POST,
  user_id: AUTHOR,
  username: 'ada',
  content: 'hello',
  images: [
    {
      image_id: IMAGE,
      url: 'https://cdn.test/i.jpg',
      width: 2048,
      height: 1536,
      order: 0,
      blurhash: 'LEHV6nWB2yk8',
      variants: [{ url: 'https://cdn.test/i-320.webp', width: 320, height: 240 }],
    },
  ],
  like_count: 3,
  comment_count: 1,
  is_liked: true,
  created_at: '2026-11-21T10:00:00.000Z',
  updated_at: '2026-11-21T10:05:00.000Z',
};

const userJson = (userId: string) => ({
  user_id: userId,
  username: 'ada',
  name: 'Ada',
  is_public: true,
  role: 'user',
  status: 'enabled',
  metadata: { profile: { bio: 'hi' } },
  created_at: '2026-11-21T10:00:00.000Z',
});

let t: TestApp;
let reader: { token: string; userId: string };
beforeAll(async () => {
  t = await testApp({
    fakes: {
      identity: {
        getUser: async (req) => userOf(req.userId),
        getProfile: async (req) =>
          identity.Profile.fromPartial({
            user: userOf(req.userId),
            followStatus: 'agree',
            followsId: '0190a8d2-0000-7000-8000-0000000000f1',
            followerCount: 7,
            followingCount: 2,
            postCount: 1,
          }),
      },
      content: {
        getPost: async () => post,
        listPosts: async () => pageOf([post], true),
      },
      notification: { getUnreadCount: async () => ({ count: 4 }) },
    },
  });
  reader = await t.signIn();
});
afterAll(() => t?.stop());

/** A list page as content sends it: the items already in the API's JSON (contracts' presentPost). */
const pageOf = (posts: content.Post[], hasMore: boolean) =>
  content.ListPostsResponse.fromPartial({ postsJson: Buffer.from(JSON.stringify(posts.map(presentPost))), lastPostId: posts.at(-1)?.postId ?? '', hasMore });

/** The one read, its JSON, and the calls it made (method names as the fakes record them). */
async function read(path: string) {
  t.fakes.calls.length = 0;
  const res = await t.api.get(path, { token: reader.token });
  expect(res.status).toBe(200);
  expect(res.body.message).toBe('ok');
  // The first request also fetches identity's keys (once per process): not part of the read.
  const made = t.fakes.calls.filter((c) => c.method !== 'getPublicKeys');
  return { data: res.body.data, calls: made.map((c) => `${c.service}.${c.method}`), requests: made.map((c) => c.request) };
}

describe('hot reads: the JSON of one canned reply, one call', () => {
  it('/me: the caller, with email', async () => {
    const { data, calls, requests } = await read('/api/users/me');
    expect(data).toEqual({ user: { ...userJson(reader.userId), email: `${reader.userId.slice(-4)}@example.com` } });
    expect(calls).toEqual(['identity.getUser']);
    expect(requests).toEqual([{ userId: reader.userId }]);
  });

  it('a profile: relationship and counts, no email for another user', async () => {
    const { data, calls } = await read(`/api/users/${AUTHOR}`);
    expect(data).toEqual({
      user: userJson(AUTHOR),
      is_following: true,
      follow_status: 'agree',
      follows_id: '0190a8d2-0000-7000-8000-0000000000f1',
      follower_count: 7,
      following_count: 2,
      post_count: 1,
    });
    expect(calls).toEqual(['identity.getProfile']);
  });

  it('a profile with no edge: follow_status "none", follows_id null', async () => {
    t.fakes.use({ identity: { getProfile: async (req) => identity.Profile.fromPartial({ user: userOf(req.userId), followStatus: '', followsId: '' }) } });
    try {
      const { data } = await read(`/api/users/${AUTHOR}`);
      expect(data).toMatchObject({ is_following: false, follow_status: 'none', follows_id: null, follower_count: 0, post_count: 0 });
    } finally {
      t.fakes.reset();
    }
  });

  it('the home feed and a user’s posts: items and keyset pagination', async () => {
    const feed = await read('/api/posts?limit=1');
    expect(feed.data).toEqual({ posts: [postJson], pagination: { limit: 1, cursor_post_id: POST, has_more: true } });
    expect(feed.calls).toEqual(['content.listPosts']);
    expect(feed.requests).toEqual([{ userId: '', search: '', limit: 1, cursorPostId: '' }]);

    const mine = await read(`/api/posts?user_id=${AUTHOR}&limit=500`);
    expect(mine.data.pagination.limit).toBe(100); // clamped, as docs/api.md says
    expect(mine.calls).toEqual(['content.listPosts']);
    expect(mine.requests).toEqual([expect.objectContaining({ userId: AUTHOR, limit: 100 })]);
  });

  it('a last page: cursor_post_id null', async () => {
    t.fakes.use({ content: { listPosts: async () => pageOf([post], false) } });
    try {
      expect((await read('/api/posts')).data.pagination).toEqual({ limit: 10, cursor_post_id: null, has_more: false });
    } finally {
      t.fakes.reset();
    }
  });

  it('a post page: the post’s fields directly in data, with its newest comments', async () => {
    const { data, calls } = await read(`/api/posts/${POST}`);
    expect(data).toEqual({
      ...postJson,
      comments: [
        {
          comment_id: COMMENT,
          post_id: POST,
          content: 'first',
          created_at: '2026-11-21T10:00:00.000Z',
          updated_at: '2026-11-21T10:00:00.000Z',
          user: { user_id: AUTHOR, username: 'ada', name: 'Ada', metadata: { profile: {} } },
        },
      ],
    });
    expect(calls).toEqual(['content.getPost']);
  });

  it('the unread count', async () => {
    const { data, calls } = await read('/api/events/unread-count');
    expect(data).toEqual({ count: 4 });
    expect(calls).toEqual(['notification.getUnreadCount']);
  });
});

describe('profile images', () => {
  it('metadata.profile_image carries the signed URL, BlurHash and variants content gives', async () => {
    t.fakes.use({
      identity: { getUser: async (req) => userOf(req.userId, { profileImageKey: 'media/a/p.jpg' }) },
      content: {
        signMediaUrls: async (req) =>
          content.SignMediaUrlsResponse.fromPartial({
            urls: req.keys.map((key) => ({
              key,
              url: `https://cdn.test/${key}`,
              blurhash: 'L00000',
              variants: [{ url: `https://cdn.test/${key}.320.webp`, width: 320, height: 320 }],
              reusableUntil: new Date(Date.now() + 3_600_000),
            })),
          }),
      },
    });
    try {
      const { data } = await read('/api/users/me');
      expect(data.user.metadata).toEqual({
        profile: { bio: 'hi' },
        profile_image: {
          url: 'https://cdn.test/media/a/p.jpg',
          blurhash: 'L00000',
          variants: [{ url: 'https://cdn.test/media/a/p.jpg.320.webp', width: 320, height: 320 }],
        },
      });
    } finally {
      t.fakes.reset();
    }
  });
});
