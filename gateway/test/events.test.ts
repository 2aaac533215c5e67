import { newId, type Redis } from '@shutter/kit';
import type { Knex } from '@shutter/kit/db';
import { apiClient, startStack, testDb, testRedis, unique, waitFor, type ApiClient, type Stack } from '@shutter/testing';
import { commentPayload, followPayload, likePayload, postPayload, publishEvent as publishOn, registerUser, type TestUser } from './events-helpers';

/*
 * The events API against the real notification service, fed with domain events put on the stream
 * in the exact form the producers' outbox relays write (events-e2e.test.ts drives the same
 * through the real follow/like/comment routes).
 */

let stack: Stack;
let api: ApiClient;
let redis: Redis;
let db: Knex;
// This file's own stream: its notification consumer is the only reader (no other test's load).
const stream = unique('events_');

beforeAll(async () => {
  stack = await startStack({ only: ['identity', 'notification'], extraEnv: { EVENTS_STREAM: stream } });
  api = apiClient(stack.url);
  redis = testRedis();
  db = testDb('notification');
});
afterAll(async () => {
  await stack?.stop();
  await redis?.quit();
  await db?.destroy();
});

const publishEvent = (r: Redis, type: string, key: string, payload: Uint8Array, opts: { id?: string } = {}) =>
  publishOn(r, type, key, payload, { ...opts, stream });

const list = async (u: TestUser, query = '') => {
  const res = await api.get(`/api/events${query}`, { token: u.token });
  expect(res.status).toBe(200);
  return res.body.data as { events: any[]; pagination: { page: number; limit: number; total: number; total_items: number } };
};
const unread = async (u: TestUser): Promise<number> => {
  const res = await api.get('/api/events/unread-count', { token: u.token });
  expect(res.status).toBe(200);
  return res.body.data.count;
};
const eventsOf = async (u: TestUser, n: number) => waitFor(async () => ((await list(u)).events.length === n ? (await list(u)).events : null));
/** Unread rows in Postgres, the truth the Redis count must equal. */
const dbUnread = async (u: TestUser) =>
  Number((await db('notifications').where({ recipient_id: u.id, is_read: false }).count<{ count: number }[]>('* as count'))[0]?.count);
const redisUnread = async (u: TestUser) => redis.hget(`notif:unread:${u.id}`, 'c');

const follow = (type: string, follower: TestUser, followee: TestUser, followsId: string, status: 'pending' | 'agree', actor = follower) =>
  publishEvent(redis, type, followsId, followPayload({ followsId, followerId: follower.id, followeeId: followee.id, status, actorId: actor.id }));

describe('events list, read state and unread count', () => {
  it('needs a token', async () => {
    for (const [method, path] of [
      ['GET', '/api/events'],
      ['GET', '/api/events/unread-count'],
      ['POST', `/api/events/read/${newId()}`],
      ['POST', '/api/events/read-all'],
      ['GET', '/api/events/stream'],
    ] as const) {
      const res = await api.request(method, path);
      expect(res.status).toBe(401);
      expect(res.body.detail).toBe('Not authenticated');
    }
  });

  it('starts empty', async () => {
    const u = await registerUser(api);
    expect(await list(u)).toEqual({ events: [], pagination: { page: 1, limit: 10, total: 0, total_items: 0 } });
    expect(await unread(u)).toBe(0);
  });

  it('friend_request: item shape, seed keys, message; read is idempotent and updates the count', async () => {
    const [alice, bob] = [await registerUser(api, 'alice'), await registerUser(api, 'bob')];
    const followsId = newId();
    await follow('follow.requested', alice, bob, followsId, 'pending');
    const [item] = await eventsOf(bob, 1);
    const actor = { user_id: alice.id, username: alice.username, metadata: { profile: {} } };
    expect(item).toEqual({
      event_id: expect.any(String),
      type: 'friend_request',
      message: `${alice.username} sent you a follow request`,
      is_read: false,
      metadata: { actor, follower: actor, follows_id: followsId },
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    });
    expect(await unread(bob)).toBe(1);
    expect(await unread(alice)).toBe(0); // nothing for one's own action
    expect((await list(alice)).events).toEqual([]);

    // Seed 000's client sends Content-Type: application/json with no body.
    const read = await api.post(`/api/events/read/${item.event_id}`, undefined, { token: bob.token, headers: { 'content-type': 'application/json' } });
    expect(read.status).toBe(200);
    expect(read.body.data).toEqual({ event_id: item.event_id, is_read: true, unread_count: 0 });
    const again = await api.post(`/api/events/read/${item.event_id}`, undefined, { token: bob.token });
    expect(again.status).toBe(200);
    expect(again.body.data.unread_count).toBe(0);
    expect((await list(bob)).events[0].is_read).toBe(true);
    expect(await unread(bob)).toBe(0);
  });

  it("another user's event is 404, a malformed id 422, an unknown one 404", async () => {
    const [alice, bob] = [await registerUser(api), await registerUser(api)];
    await follow('follow.requested', alice, bob, newId(), 'pending');
    const [item] = await eventsOf(bob, 1);
    const other = await api.post(`/api/events/read/${item.event_id}`, undefined, { token: alice.token });
    expect(other.status).toBe(404);
    expect(other.body.code).toBe('not_found');
    expect((await list(bob)).events[0].is_read).toBe(false);
    expect((await api.post(`/api/events/read/${newId()}`, undefined, { token: bob.token })).status).toBe(404);
    const bad = await api.post('/api/events/read/not-a-uuid', undefined, { token: bob.token });
    expect(bad.status).toBe(422);
    expect(bad.body.errors[0].field).toBe('path.event_id');
  });

  it('follow.accepted withdraws the request and tells the follower (friend_agree with following)', async () => {
    const [alice, bob] = [await registerUser(api, 'alice'), await registerUser(api, 'bob')];
    const followsId = newId();
    await follow('follow.requested', alice, bob, followsId, 'pending');
    await eventsOf(bob, 1);
    await follow('follow.accepted', alice, bob, followsId, 'agree', bob);
    const [agree] = await eventsOf(alice, 1);
    const actor = { user_id: bob.id, username: bob.username, metadata: { profile: {} } };
    expect(agree).toMatchObject({
      type: 'friend_agree',
      message: `${bob.username} accepted your follow request`,
      is_read: false,
      metadata: { actor, following: actor, follows_id: followsId },
    });
    expect(agree.metadata.follower).toBeUndefined();
    await eventsOf(bob, 0);
    expect(await unread(bob)).toBe(0);
    expect(await unread(alice)).toBe(1);
  });

  it('a cancelled or rejected request is withdrawn; an unfollow keeps history', async () => {
    const [alice, bob, carol] = [await registerUser(api), await registerUser(api), await registerUser(api)];
    const pending = newId();
    await follow('follow.requested', alice, bob, pending, 'pending');
    await eventsOf(bob, 1);
    await follow('follow.removed', alice, bob, pending, 'pending');
    await eventsOf(bob, 0);
    expect(await unread(bob)).toBe(0);

    const agreed = newId();
    await follow('follow.created', carol, bob, agreed, 'agree');
    await eventsOf(bob, 1);
    await follow('follow.removed', carol, bob, agreed, 'agree');
    const marker = newId(); // a later event proves the removal was handled
    await follow('follow.requested', alice, bob, marker, 'pending');
    const events = await eventsOf(bob, 2);
    expect(events.map((e) => e.type).sort()).toEqual(['follow', 'friend_request']);
  });

  it('following a public account: the followee gets follow, the follower a friend_agree that is already read', async () => {
    const [alice, bob] = [await registerUser(api, 'alice'), await registerUser(api, 'bob')];
    const followsId = newId();
    await follow('follow.created', alice, bob, followsId, 'agree');
    const [item] = await eventsOf(bob, 1);
    const aliceActor = { user_id: alice.id, username: alice.username, metadata: { profile: {} } };
    expect(item).toMatchObject({
      type: 'follow',
      message: `${alice.username} started following you`,
      is_read: false,
      metadata: { actor: aliceActor, follower: aliceActor, follows_id: followsId },
    });
    const [own] = await eventsOf(alice, 1);
    const bobActor = { user_id: bob.id, username: bob.username, metadata: { profile: {} } };
    expect(own).toMatchObject({
      type: 'friend_agree',
      message: `You started following ${bob.username}`,
      is_read: true,
      metadata: { following: bobActor, follows_id: followsId },
    });
    expect(await unread(alice)).toBe(0);
    expect(await unread(bob)).toBe(1);
  });

  it('like and unlike, comment and deletion, none for own posts, post deletion', async () => {
    const [author, fan] = [await registerUser(api, 'author'), await registerUser(api, 'fan')];
    const postId = newId();
    await publishEvent(redis, 'post.liked', postId, likePayload({ postId, postAuthorId: author.id, userId: author.id })); // own
    await publishEvent(redis, 'post.liked', postId, likePayload({ postId, postAuthorId: author.id, userId: fan.id }));
    const commentId = newId();
    await publishEvent(redis, 'comment.created', commentId, commentPayload({ commentId: newId(), postId, postAuthorId: author.id, userId: author.id })); // own
    await publishEvent(redis, 'comment.created', commentId, commentPayload({ commentId, postId, postAuthorId: author.id, userId: fan.id }));
    const byType = Object.fromEntries((await eventsOf(author, 2)).map((e) => [e.type, e]));
    const { comment, like } = byType;
    expect(like).toMatchObject({
      type: 'like',
      message: `${fan.username} liked your post`,
      metadata: { post_id: postId, actor: { user_id: fan.id, username: fan.username } },
    });
    expect(comment).toMatchObject({ type: 'comment', message: `${fan.username} commented on your post`, metadata: { post_id: postId, comment_id: commentId } });
    expect(await unread(author)).toBe(2);
    expect((await list(fan)).events).toEqual([]);

    await publishEvent(redis, 'post.unliked', postId, likePayload({ postId, postAuthorId: author.id, userId: fan.id }));
    expect((await eventsOf(author, 1))[0].type).toBe('comment');
    await publishEvent(redis, 'comment.deleted', commentId, commentPayload({ commentId, postId, postAuthorId: author.id, userId: fan.id, actorId: author.id }));
    await eventsOf(author, 0);
    expect(await unread(author)).toBe(0);

    // Liked again: a new notification; then the post goes, and its notifications with it.
    await publishEvent(redis, 'post.liked', postId, likePayload({ postId, postAuthorId: author.id, userId: fan.id }));
    await eventsOf(author, 1);
    await publishEvent(redis, 'post.deleted', postId, postPayload({ postId, authorId: author.id }));
    await eventsOf(author, 0);
    expect(await unread(author)).toBe(0);
  });

  it('a redelivered stream entry creates one notification', async () => {
    const [alice, bob] = [await registerUser(api), await registerUser(api)];
    const id = newId();
    const followsId = newId();
    const payload = followPayload({ followsId, followerId: alice.id, followeeId: bob.id, status: 'pending', actorId: alice.id });
    await publishEvent(redis, 'follow.requested', followsId, payload, { id });
    await publishEvent(redis, 'follow.requested', followsId, payload, { id });
    await publishEvent(redis, 'follow.requested', followsId, payload, { id });
    const marker = newId();
    await publishEvent(redis, 'post.liked', marker, likePayload({ postId: marker, postAuthorId: bob.id, userId: alice.id }));
    const events = await eventsOf(bob, 2);
    expect(events.map((e) => e.type).sort()).toEqual(['friend_request', 'like']);
    expect(await unread(bob)).toBe(2);
    expect(await db('notifications').where({ source_event_id: id })).toHaveLength(1);
  });

  it('pages newest first with the pagination object', async () => {
    const [author, fan] = [await registerUser(api), await registerUser(api)];
    for (const postId of Array.from({ length: 5 }, () => newId()))
      await publishEvent(redis, 'post.liked', postId, likePayload({ postId, postAuthorId: author.id, userId: fan.id }));
    const all = (await eventsOf(author, 5)).map((e) => e.event_id);
    expect(all).toEqual([...all].sort().reverse()); // newest first: UUIDv7 ids order by creation
    const page1 = await list(author, '?page=1&limit=2&_t=123');
    expect(page1.pagination).toEqual({ page: 1, limit: 2, total: 3, total_items: 5 });
    expect(page1.events.map((e) => e.event_id)).toEqual(all.slice(0, 2));
    const page3 = await list(author, '?page=3&limit=2');
    expect(page3.events.map((e) => e.event_id)).toEqual(all.slice(4));
    expect((await list(author, '?limit=500')).pagination.limit).toBe(100);
    for (const q of ['?page=0', '?limit=0', '?page=abc']) {
      const res = await api.get(`/api/events${q}`, { token: author.token });
      expect(res.status).toBe(422);
    }
  });

  it('read-all marks everything up to now', async () => {
    const [author, fan] = [await registerUser(api), await registerUser(api)];
    for (let i = 0; i < 3; i++) await publishEvent(redis, 'post.liked', newId(), likePayload({ postId: newId(), postAuthorId: author.id, userId: fan.id }));
    await waitFor(async () => (await unread(author)) === 3);
    const res = await api.post('/api/events/read-all', undefined, { token: author.token, headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({ marked: 3, unread_count: 0 });
    expect((await list(author)).events.every((e) => e.is_read)).toBe(true);
    expect((await api.post('/api/events/read-all', undefined, { token: author.token })).body.data).toEqual({ marked: 0, unread_count: 0 });
  });

  it('the count is rebuilt from Postgres when Redis lost it', async () => {
    const [author, fan] = [await registerUser(api), await registerUser(api)];
    await publishEvent(redis, 'post.liked', newId(), likePayload({ postId: newId(), postAuthorId: author.id, userId: fan.id }));
    await waitFor(async () => (await unread(author)) === 1);
    await redis.del(`notif:unread:${author.id}`);
    expect(await unread(author)).toBe(1);
    expect(await redisUnread(author)).toBe('1');
  });

  it('stays exact under 100 concurrent reads while new events arrive', async () => {
    const [author, fan] = [await registerUser(api), await registerUser(api)];
    const first = Array.from({ length: 100 }, () => newId());
    for (const postId of first) await publishEvent(redis, 'post.liked', postId, likePayload({ postId, postAuthorId: author.id, userId: fan.id }));
    await waitFor(async () => (await unread(author)) === 100);
    const ids: string[] = [];
    for (let page = 1; page <= 1; page++) ids.push(...(await list(author, `?page=${page}&limit=100`)).events.map((e) => e.event_id));
    expect(ids).toHaveLength(100);

    // 100 reads (some twice), a read-all half-way, unlikes and 50 new likes, all at once.
    const more = Array.from({ length: 50 }, () => newId());
    await Promise.all([
      ...ids.map((id) => api.post(`/api/events/read/${id}`, undefined, { token: author.token })),
      ...ids.slice(0, 20).map((id) => api.post(`/api/events/read/${id}`, undefined, { token: author.token })),
      api.post('/api/events/read-all', undefined, { token: author.token }),
      ...more.map((postId) => publishEvent(redis, 'post.liked', postId, likePayload({ postId, postAuthorId: author.id, userId: fan.id }))),
      ...first.slice(0, 10).map((postId) => publishEvent(redis, 'post.unliked', postId, likePayload({ postId, postAuthorId: author.id, userId: fan.id }))),
    ]);
    // This file's stream has one consumer, so once an event published last is in, all are.
    await follow('follow.requested', fan, author, newId(), 'pending');
    await waitFor(async () => (await list(author)).events.some((e) => e.type === 'friend_request'));
    expect((await list(author)).pagination.total_items).toBe(100 + 50 - 10 + 1);
    const truth = await dbUnread(author);
    await waitFor(async () => (await redisUnread(author)) === String(truth));
    expect(await unread(author)).toBe(truth);
    // Every read landed; only events the read-all did not see can be unread.
    const { events } = await list(author, '?limit=100');
    expect(events.filter((e) => !e.is_read && e.type === 'like').every((e) => more.includes(e.metadata.post_id))).toBe(true);
  });
});
