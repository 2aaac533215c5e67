import { randomUUID } from 'node:crypto';
import { DISABLED_USERS_KEY, REVOCATIONS_VERSION_KEY, revocationsChannel } from '@shutter/contracts';
import { createRedis } from '@shutter/kit';
import { identity } from '@shutter/proto';
import { expectError, startRedisServer, testTokens, waitFor } from '@shutter/testing';
import { testApp, type TestApp } from './test-app';

/**
 * Access tokens and revocation, as the gateway owns them (docs/api.md *Auth*, README *Sessions and
 * revocation*): tokens verified against identity's JWKS, sessions and accounts refused from the
 * in-memory revocation copy, fail closed when that copy is stale.
 */

const user = (userId: string) =>
  identity.User.fromPartial({ userId, username: 'someone', role: 'user', status: 'enabled', createdAt: new Date('2026-11-21T10:00:00Z') });

let t: TestApp;
beforeAll(async () => {
  // A short resync: the lost-message test waits on it.
  t = await testApp({ fakes: { identity: { getUser: async (req) => user(req.userId) } }, env: { REVOCATION_RESYNC_MS: '200' } });
});
afterAll(() => t?.stop());

const me = (token?: string) => t.api.get('/api/users/me', { token });

describe('access tokens', () => {
  it('a good token reaches the service with its user, role and session in the signed assertion', async () => {
    const caller = await t.signIn({ role: 'admin' });
    const res = await me(caller.token);
    expect(res.status).toBe(200);
    expect(res.body.data.user.user_id).toBe(caller.userId);
    expect(t.fakes.calls.find((c) => c.method === 'getUser' && c.userId === caller.userId)).toMatchObject({
      role: 'admin',
      sessionId: caller.sessionId,
      request: { userId: caller.userId },
    });
  });

  it('no token → 401 "Not authenticated"; public routes need none', async () => {
    expectError(await me(), 401, /^Not authenticated$/);
    expect((await t.api.get('/healthz')).status).toBe(200);
  });

  it('a malformed, unsigned (alg none), foreign, expired or sessionless token → 401 "Could not validate credentials"', async () => {
    const good = await t.signIn({ role: 'admin' });
    const [header, payload] = good.token.split('.') as [string, string];
    const none = `${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(header, 'base64url').toString()), alg: 'none' })).toString('base64url')}.${payload}.`;
    const foreign = await (await testTokens()).sign();
    const expired = (await t.signIn({ ttlSeconds: -10 })).token;
    const sessionless = (await t.signIn({ sid: null })).token;
    for (const token of ['garbage', 'a.b.c', none, foreign, expired, sessionless]) expectError(await me(token), 401, /^Could not validate credentials$/);
    expectError(await t.api.get('/api/users/me', { headers: { authorization: 'Basic abc' } }), 401, /^Could not validate credentials$/);
    // The same key and claims with a session: accepted.
    expect((await me((await t.signIn()).token)).status).toBe(200);
  });
});

describe('revocation', () => {
  it('an ended session is refused as soon as the channel says so; the same user’s other session goes on', async () => {
    const a = await t.signIn();
    const b = await t.signIn({ sub: a.userId });
    expect((await me(a.token)).status).toBe(200);
    // The message alone: with the version unchanged the resync reads nothing, so only the channel
    // can explain the refusal.
    await t.redis.publish(
      revocationsChannel(t.redis.options.keyPrefix ?? ''),
      JSON.stringify({ type: 'sessions', ids: [a.sessionId], until: Date.now() + 600_000 }),
    );
    await waitFor(async () => (await me(a.token)).status === 401);
    expectError(await me(a.token), 401, /^Could not validate credentials$/);
    expect((await me(b.token)).status).toBe(200);
  });

  it('a disabled account whose message was lost is refused after the periodic resync', async () => {
    const a = await t.signIn();
    expect((await me(a.token)).status).toBe(200);
    // Written as identity would, but with no message on the channel.
    await t.redis.multi().sadd(DISABLED_USERS_KEY, a.userId).incr(REVOCATIONS_VERSION_KEY).exec();
    await waitFor(async () => (await me(a.token)).status === 401);
  });

  it('fails closed: without identity’s revocation state, signed-in requests answer 503 with Retry-After', async () => {
    const cold = await testApp({ revocationState: false });
    try {
      const res = await cold.api.get('/api/users/me', { token: (await cold.signIn()).token });
      expectError(res, 503);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      expect((await cold.api.get('/healthz')).status).toBe(200);
    } finally {
      await cold.stop();
    }
  });
});

describe('the lean gateway', () => {
  it('an authenticated request makes exactly one Redis round trip (the rate limit: its user and address keys, pipelined)', async () => {
    // A gateway of its own on a private redis-server: every command that server sees is this gateway's.
    const server = await startRedisServer();
    const lean = await testApp({
      redisUrl: server.url,
      fakes: { identity: { getUser: async (req) => user(req.userId) } },
      env: { REVOCATION_RESYNC_MS: '600000', REVOCATION_MAX_STALENESS_MS: '600000' },
    });
    const admin = createRedis(server.url);
    try {
      const { token } = await lean.signIn();
      expect((await lean.api.get('/api/users/me', { token })).status).toBe(200); // warm: script loaded, token cached
      // MONITOR lists every command a client sent (a script's own commands come from "lua").
      const monitor = await admin.monitor();
      const seen: string[] = [];
      monitor.on('monitor', (_time: string, args: string[], source: string) => {
        if (source !== 'lua') seen.push(String(args[0]).toLowerCase());
      });
      const n = 20;
      for (let i = 0; i < n; i++) expect((await lean.api.get('/api/users/me', { token })).status).toBe(200);
      const marker = `marker-${randomUUID()}`;
      await admin.echo(marker); // listed after every command of the requests above
      await waitFor(() => seen.includes('echo'));
      monitor.disconnect();
      // Two scripts per request (the user's window and the address's), sent in the same tick: ioredis's
      // auto-pipelining writes them together, one round trip.
      expect(seen.filter((c) => c !== 'echo')).toEqual(Array(2 * n).fill('evalsha'));
    } finally {
      await lean.stop();
      await admin.quit();
      await server.stop();
    }
  });
});
