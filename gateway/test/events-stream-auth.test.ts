import { createHash } from 'node:crypto';
import { newId, type Redis } from '@shutter/kit';
import { accounts, apiClient, expectError, startStack, testRedis, unique, waitFor, type ApiClient, type Stack, type TestUser } from '@shutter/testing';
import { likePayload, openStream, openStreamUrl, publishEvent, type SseClient } from './events-helpers';
import { signLike } from './token-helpers';

/**
 * GET /api/events/stream re-checks its authority (docs/api.md *Events*): it closes when its token
 * expires, its session ends or its account is disabled (within 10 s); at most 5 per user; browsers
 * open it with single-use tickets (their lifetime shortened here to 2 s).
 */

const TICKET_TTL_SECONDS = 2;
let stack: Stack;
let api: ApiClient;
let redis: Redis;
let users: ReturnType<typeof accounts>;
const streams: SseClient[] = [];
const eventsStream = unique('events_');

beforeAll(async () => {
  stack = await startStack({
    only: ['identity', 'notification'],
    extraEnv: { EVENTS_STREAM: eventsStream, EVENTS_PING_MS: '500', EVENTS_TICKET_TTL_SECONDS: String(TICKET_TTL_SECONDS) },
  });
  api = apiClient(stack.url);
  redis = testRedis();
  users = accounts(api, () => stack.env);
});
afterEach(() => {
  for (const s of streams.splice(0)) s.close();
});
afterAll(async () => {
  await stack?.stop();
  await redis?.quit();
});

async function stream(token: string): Promise<SseClient> {
  const s = await openStream(stack.url, token);
  streams.push(s);
  return s;
}

async function ticketStream(ticket: string): Promise<SseClient> {
  const s = await openStreamUrl(`${stack.url}/api/events/stream?ticket=${encodeURIComponent(ticket)}`);
  streams.push(s);
  return s;
}

/** Resolves once the stream has ended; answers how long that took from `since`. */
async function endsWithin(s: SseClient, ms: number, since = Date.now()): Promise<number> {
  await waitFor(() => s.ended(), ms);
  return Date.now() - since;
}

const ticketFor = async (token: string) => {
  const res = await api.post('/api/events/stream-ticket', undefined, { token });
  expect(res.status).toBe(201);
  return res.body.data as { ticket: string; expires_in: number };
};

const likeFor = (author: TestUser, fan: TestUser) => {
  const postId = newId();
  return publishEvent(redis, 'post.liked', postId, likePayload({ postId, postAuthorId: author.id, userId: fan.id }), { stream: eventsStream }).then(
    () => postId,
  );
};

describe('an open event stream', () => {
  it('closes within 10 s of its account being disabled, and cannot be opened again', async () => {
    const u = await users.register();
    const admin = await users.adminToken();
    const s = await stream(u.token);
    expect(s.status).toBe(200);
    await waitFor(() => s.frames.length > 0);
    const t0 = Date.now();
    expect((await api.patch(`/api/users/${u.id}`, { status: 'disabled' }, { token: admin })).status).toBe(200);
    expect(await endsWithin(s, 10_000, t0)).toBeLessThan(10_000);
    await waitFor(async () => (await api.get('/api/events/stream', { token: u.token })).status === 401);
  });

  it('closes when its token expires (within 10 s), not before', async () => {
    const u = await users.register();
    const shortLived = await signLike(stack.env, u.token, { ttlSeconds: 3 });
    const exp = JSON.parse(Buffer.from(shortLived.split('.')[1]!, 'base64url').toString()).exp * 1000;
    const s = await stream(shortLived);
    expect(s.status).toBe(200);
    const long = await stream(u.token); // the same session with a longer token stays open
    await endsWithin(s, exp - Date.now() + 10_000);
    expect(Date.now()).toBeGreaterThanOrEqual(exp);
    expect(Date.now() - exp).toBeLessThan(10_000);
    expect(long.ended()).toBe(false);
  });

  it('closes within 10 s when its session ends (logout); a stream of another session stays open', async () => {
    const u = await users.register();
    const login = await api.post('/api/users/login', { email: u.email, password: u.password });
    const other = await stream(login.body.data.token);
    const s = await stream(u.token);
    await waitFor(() => s.frames.length > 0 && other.frames.length > 0);
    const t0 = Date.now();
    expect((await api.post('/api/users/logout', { refresh_token: u.refreshToken }, { token: u.token })).status).toBe(200);
    expect(await endsWithin(s, 10_000, t0)).toBeLessThan(10_000);
    const pings = other.frames.length;
    await waitFor(() => other.frames.length > pings); // still delivering
    expect(other.ended()).toBe(false);
  });

  it('at most 5 per user: the sixth gets 429 in the error envelope; closing one frees a slot', async () => {
    const [u, v] = [await users.register(), await users.register()];
    const open: SseClient[] = [];
    for (let i = 0; i < 5; i++) open.push(await stream(u.token));
    expect(open.map((s) => s.status)).toEqual([200, 200, 200, 200, 200]);
    const sixth = await api.get('/api/events/stream', { token: u.token });
    expectError(sixth, 429);
    expect(sixth.body.code).toBe('too_many_streams');
    expect(Number(sixth.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await stream(v.token)).status).toBe(200); // another user's cap is their own
    open[0]!.close();
    const again = await waitFor(async () => {
      const s = await stream(u.token);
      return s.status === 200 ? s : null;
    });
    expect(again.status).toBe(200);
  });
});

describe('stream tickets', () => {
  it('open one stream once, without Authorization, delivering that user’s events', async () => {
    const [u, fan] = [await users.register(), await users.register()];
    const { ticket, expires_in } = await ticketFor(u.token);
    expect(expires_in).toBe(TICKET_TTL_SECONDS);
    expect(ticket.length).toBeGreaterThanOrEqual(32);
    const s = await ticketStream(ticket);
    expect(s.status).toBe(200);
    await waitFor(() => s.frames.length > 0);
    const postId = await likeFor(u, fan);
    await waitFor(() => s.events().length === 1);
    expect(s.events()[0]?.item.metadata.post_id).toBe(postId);

    const reused = await api.get(`/api/events/stream?ticket=${encodeURIComponent(ticket)}`);
    expectError(reused, 401);
    expect(reused.body.code).toBe('invalid_ticket');
    expectError(await api.get('/api/events/stream?ticket=not-a-ticket'), 401);
    expectError(await api.get('/api/events/stream'), 401, 'Not authenticated');
    // A ticket opens only the stream.
    expectError(await api.get(`/api/events?ticket=${encodeURIComponent((await ticketFor(u.token)).ticket)}`), 401, 'Not authenticated');
  });

  it('expire after their lifetime', async () => {
    const u = await users.register();
    const { ticket } = await ticketFor(u.token);
    const key = `live:ticket:${createHash('sha256').update(ticket).digest('base64url')}`;
    expect(await redis.exists(key)).toBe(1);
    const ttl = await redis.ttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(TICKET_TTL_SECONDS);
    await waitFor(async () => (await redis.exists(key)) === 0, TICKET_TTL_SECONDS * 1000 + 20_000);
    expectError(await api.get(`/api/events/stream?ticket=${encodeURIComponent(ticket)}`), 401);
  });

  it("a ticket's stream closes when the session that asked for it ends (logout-all)", async () => {
    const u = await users.register();
    const s = await ticketStream((await ticketFor(u.token)).ticket);
    expect(s.status).toBe(200);
    await waitFor(() => s.frames.length > 0);
    const t0 = Date.now();
    expect((await api.post('/api/users/logout-all', undefined, { token: u.token })).status).toBe(200);
    expect(await endsWithin(s, 10_000, t0)).toBeLessThan(10_000);
  });

  it('need a token to be issued', async () => {
    expectError(await api.post('/api/events/stream-ticket'), 401, 'Not authenticated');
  });
});
