import { accounts, apiClient, expectError, startRedisServer, startStack, waitFor, type ApiClient, type Stack } from '@shutter/testing';
import { REDIS_COMMAND_TIMEOUT_MS, createLogger } from '@shutter/kit';
import { expectNoInternals, timed } from './fault-helpers';
import { start as startGateway } from './start';

/**
 * Redis down (docs/architecture.md *Data*: Redis holds only rebuildable state). The stack runs on a private
 * redis-server that the test stops and starts again, empty, on the same port.
 */

/** The gateway trusts its in-memory revocation state this long without reaching Redis. */
const STALENESS_MS = 8000;
/**
 * Redis down must not cost a request a Redis command's timeout (the one way it could hang): each
 * answers in less, however busy the machine, or the code waited on Redis.
 */
const FAIL_FAST_MS = REDIS_COMMAND_TIMEOUT_MS;
let redis: Awaited<ReturnType<typeof startRedisServer>>;
let stack: Stack;
let api: ApiClient;

beforeAll(async () => {
  redis = await startRedisServer();
  stack = await startStack({
    only: ['identity', 'social-graph'],
    extraEnv: { REDIS_URL: redis.url, REVOCATION_SYNC_MS: '200', REVOCATION_RESYNC_MS: '200', REVOCATION_MAX_STALENESS_MS: String(STALENESS_MS) },
  });
  api = apiClient(stack.url);
});
afterAll(async () => {
  await stack?.stop();
  await redis?.stop();
});

describe('Redis down', () => {
  it('signed-in reads keep working for the staleness bound, then answer 503 (fail closed), /readyz says 503, and everything recovers when Redis returns', async () => {
    const users = accounts(api, () => stack.env);
    const a = await users.register();
    const d = await users.register();
    const admin = await users.adminToken();
    expect((await api.patch(`/api/users/${d.id}`, { status: 'disabled' }, { token: admin })).status).toBe(200);
    expectError(await api.get('/api/users/me', { token: d.token }), 401);
    expect((await api.get('/readyz')).status).toBe(200);

    await redis.stop();
    const stoppedAt = Date.now();
    for (let i = 0; i < 2; i++) {
      // Within the bound the revocation state in memory is trusted and the rate limit fails open, quickly.
      const [me, ms] = await timed(() => api.get('/api/users/me', { token: a.token }));
      expect(me.status).toBe(200);
      expect(me.body.data.user.user_id).toBe(a.id);
      expect(ms).toBeLessThan(FAIL_FAST_MS);
      const [follows, ms2] = await timed(() => api.get('/api/follows?type=follower&status=agree', { token: a.token }));
      expect(follows.status).toBe(200);
      expect(ms2).toBeLessThan(FAIL_FAST_MS);
    }
    // The login throttle cannot count: identity refuses rather than lets guesses through unthrottled.
    const [login, loginMs] = await timed(() => api.post('/api/users/login', { email: a.email, password: a.password }));
    expectError(login, 503);
    expect(login.body.code).toBe('service_unavailable');
    expectNoInternals(login);
    expect(loginMs).toBeLessThan(FAIL_FAST_MS);
    // The live event stream needs its Pub/Sub subscription: refused in the envelope, not hung.
    const [stream, streamMs] = await timed(() => api.get('/api/events/stream', { token: a.token }));
    expectError(stream, 503);
    expect(stream.body.code).toBe('service_unavailable');
    expectNoInternals(stream);
    expect(streamMs).toBeLessThan(FAIL_FAST_MS);
    const [ready, ms] = await timed(() => api.get('/readyz'));
    expect(ready.status).toBe(503);
    expect(ms).toBeLessThan(FAIL_FAST_MS);

    // Past the bound, a revoked session could go unnoticed: authenticated requests fail closed.
    const closed = await waitFor(async () => {
      const res = await api.get('/api/users/me', { token: a.token });
      return res.status === 503 ? res : null;
    }, STALENESS_MS + 5000);
    expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(STALENESS_MS - 500);
    expectError(closed, 503);
    expect(closed.body.code).toBe('service_unavailable');
    expect(Number(closed.headers.get('retry-after'))).toBeGreaterThan(0);
    expectNoInternals(closed);
    // Public routes are not authenticated: they do not depend on it.
    expect((await api.get('/healthz')).status).toBe(200);

    // Back, empty: identity notices the revocation state is gone and rebuilds it; until then the
    // gateway does not trust the empty sets (no version key), then serves again.
    redis = await startRedisServer(redis.port);
    // The disabled account never gets through meanwhile: 503 (stale) until the rebuilt state, then 401.
    const dStatuses = new Set<number>();
    await waitFor(async () => {
      const status = (await api.get('/api/users/me', { token: d.token })).status;
      dStatuses.add(status);
      return status === 401 && (await api.get('/readyz')).status === 200;
    }, 10_000);
    expect([...dStatuses].filter((st) => st !== 401 && st !== 503)).toEqual([]);
    const me = await api.get('/api/users/me', { token: a.token });
    expect(me.status).toBe(200);
    expect(me.headers.get('x-ratelimit-remaining')).not.toBeNull();
    expect((await api.post('/api/users/login', { email: a.email, password: a.password })).status).toBe(200);
  });

  it('a process still shuts down cleanly while Redis is down', async () => {
    const gw = await startGateway(stack.env, createLogger('test', 'silent'));
    const gwApi = apiClient(gw.url);
    await waitFor(async () => (await gwApi.get('/readyz')).status === 200);
    await redis.stop();
    try {
      await waitFor(async () => (await gwApi.get('/readyz')).status === 503);
      await expect(gw.stop()).resolves.toBeUndefined();
    } finally {
      redis = await startRedisServer(redis.port);
    }
  });
});
