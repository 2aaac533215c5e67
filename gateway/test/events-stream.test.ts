import { createLogger, newId, type Redis } from '@shutter/kit';
import { apiClient, startStack, testRedis, unique, waitFor, type ApiClient, type Stack } from '@shutter/testing';
import { start as startGateway } from './start';
import { followPayload, likePayload, openStream, publishEvent, registerUser, type SseClient, type TestUser } from './events-helpers';

/** GET /api/events/stream: live delivery, Last-Event-ID replay, pings, shutdown. */

let stack: Stack;
let api: ApiClient;
let redis: Redis;
const streams: SseClient[] = [];
// This file's own stream: its notification consumer is the only reader (no other test's load).
const eventsStream = unique('events_');

beforeAll(async () => {
  stack = await startStack({ only: ['identity', 'notification'], extraEnv: { EVENTS_PING_MS: '300', EVENTS_STREAM: eventsStream } });
  api = apiClient(stack.url);
  redis = testRedis();
});
afterEach(() => {
  for (const s of streams.splice(0)) s.close();
});
afterAll(async () => {
  await stack?.stop();
  await redis?.quit();
});

async function stream(user: TestUser, headers: Record<string, string> = {}, url = stack.url): Promise<SseClient> {
  const s = await openStream(url, user.token, headers);
  streams.push(s);
  return s;
}

/** Something the user is notified of: a like of one of their posts by `fan`. */
const likeFor = (author: TestUser, fan: TestUser) => {
  const postId = newId();
  return publishEvent(redis, 'post.liked', postId, likePayload({ postId, postAuthorId: author.id, userId: fan.id }), { stream: eventsStream }).then(
    () => postId,
  );
};

const subscribers = async (user: TestUser) => {
  const prefix = redis.options.keyPrefix ?? '';
  const reply = (await redis.call('pubsub', 'NUMSUB', `${prefix}notif:live:${user.id}`)) as [string, number];
  return Number(reply[1]);
};

describe('GET /api/events/stream', () => {
  it('delivers a new event within a second, as id/event/data frames equal to the list item', async () => {
    const [alice, bob] = [await registerUser(api, 'alice'), await registerUser(api, 'bob')];
    const s = await stream(bob, { origin: 'https://app.example' });
    expect(s.status).toBe(200);
    expect(s.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(s.headers.get('cache-control')).toMatch(/no-cache/);
    expect(s.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(s.headers.get('x-request-id')).toBeTruthy();
    // The stream opens with the retry delay and a cursor (an id without data).
    await waitFor(() => s.frames.length >= 1);
    expect(s.frames[0]).toMatchObject({ retry: '3000', id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(s.frames[0]?.data).toBeUndefined();

    const followsId = newId();
    await publishEvent(
      redis,
      'follow.requested',
      followsId,
      followPayload({ followsId, followerId: alice.id, followeeId: bob.id, status: 'pending', actorId: alice.id }),
      { stream: eventsStream },
    );
    await waitFor(() => s.events().length === 1);
    const [live] = s.events();
    const listed = (await api.get('/api/events', { token: bob.token })).body.data.events[0];
    expect(live).toEqual({ id: listed.event_id, type: 'friend_request', item: listed });
    expect(live?.item.metadata).toMatchObject({ follows_id: followsId, follower: { user_id: alice.id, username: alice.username } });
  });

  it("reaches every stream of the recipient and nobody else's, over one subscription per process", async () => {
    const [alice, bob, fan] = [await registerUser(api), await registerUser(api), await registerUser(api)];
    const [a1, a2, b] = [await stream(alice), await stream(alice), await stream(bob)];
    await waitFor(() => a1.frames.length > 0 && a2.frames.length > 0 && b.frames.length > 0);
    expect(await subscribers(alice)).toBe(1);
    expect(await subscribers(bob)).toBe(1);
    const postId = await likeFor(alice, fan);
    await waitFor(() => a1.events().length === 1 && a2.events().length === 1);
    expect(a1.events()[0]?.item.metadata.post_id).toBe(postId);
    expect(a2.events()[0]?.id).toBe(a1.events()[0]?.id);
    // A later event for bob proves alice's never reached him.
    await likeFor(bob, fan);
    await waitFor(() => b.events().length === 1);
    expect(b.events()[0]?.item.metadata.post_id).not.toBe(postId);

    a1.close();
    await waitFor(async () => (await subscribers(alice)) === 1 && a1.ended());
    a2.close();
    await waitFor(async () => (await subscribers(alice)) === 0);
  });

  it('a reconnect with Last-Event-ID replays what was missed, in order, then goes on live', async () => {
    const [author, fan] = [await registerUser(api), await registerUser(api)];
    const first = await stream(author);
    await likeFor(author, fan);
    await waitFor(() => first.events().length === 1);
    const lastSeen = first.events()[0]!.id;
    first.close();

    const missed = [await likeFor(author, fan), await likeFor(author, fan), await likeFor(author, fan)];
    await waitFor(async () => (await api.get('/api/events', { token: author.token })).body.data.events.length === 4);
    const again = await stream(author, { 'last-event-id': lastSeen });
    await waitFor(() => again.events().length === 3);
    // In the list's order, oldest first (several test workers' consumers may make them in any order).
    const listed = (await api.get('/api/events', { token: author.token })).body.data.events.slice(0, 3).reverse();
    expect(again.events().map((e) => e.item)).toEqual(listed);
    expect(
      again
        .events()
        .map((e) => e.item.metadata.post_id)
        .sort(),
    ).toEqual([...missed].sort());
    expect(again.frames[0]?.id).toBeUndefined(); // the client already has a cursor

    const next = await likeFor(author, fan);
    await waitFor(() => again.events().length === 4);
    expect(again.events()[3]?.item.metadata.post_id).toBe(next);
    expect(new Set(again.events().map((e) => e.id)).size).toBe(4);
  });

  it('a stream opened without Last-Event-ID hands out a cursor that replays everything since it opened', async () => {
    const [author, fan] = [await registerUser(api), await registerUser(api)];
    await likeFor(author, fan); // before the stream: never replayed
    await waitFor(async () => (await api.get('/api/events/unread-count', { token: author.token })).body.data.count === 1);
    const s = await stream(author);
    await waitFor(() => s.frames.length > 0);
    const cursor = s.frames[0]!.id!;
    s.close();
    const missed = await likeFor(author, fan);
    await waitFor(async () => (await api.get('/api/events/unread-count', { token: author.token })).body.data.count === 2);
    const again = await stream(author, { 'last-event-id': cursor });
    await waitFor(() => again.events().length === 1);
    expect(again.events()[0]?.item.metadata.post_id).toBe(missed);
  });

  it('pings while idle', async () => {
    const u = await registerUser(api);
    const s = await stream(u);
    await waitFor(() => s.frames.some((f) => f.comments.includes('ping')));
    expect(s.events()).toEqual([]);
  });

  it('422 for a Last-Event-ID that is not an event id', async () => {
    const u = await registerUser(api);
    const res = await api.get('/api/events/stream', { token: u.token, headers: { 'last-event-id': 'yesterday' } });
    expect(res.status).toBe(422);
    expect(res.body.detail).toMatch(/Last-Event-ID/);
  });

  it('ends open streams when the gateway closes', async () => {
    const u = await registerUser(api);
    const gateway = await startGateway({ ...stack.env, EVENTS_PING_MS: '60000' }, createLogger('test', 'silent'));
    try {
      const [s1, s2] = [await stream(u, {}, gateway.url), await stream(u, {}, gateway.url)];
      await waitFor(() => s1.frames.length > 0 && s2.frames.length > 0);
      await gateway.stop();
      await waitFor(() => s1.ended() && s2.ended());
    } finally {
      await gateway.stop().catch(() => undefined);
    }
  });
});
