import { accounts, apiClient, expectError, startStack, waitFor, type ApiClient, type Stack, type TestUser } from '@shutter/testing';
import { claimsOf } from './token-helpers';

/**
 * Sessions (docs/api.md *Users and auth*): logout, logout-all, password change and refresh-token reuse
 * end sessions, and the gateway refuses their access tokens within 10 s while other sessions go on.
 * A system test (identity and the gateway together); how the gateway itself verifies tokens and
 * applies revocations is tested in-process in app/auth.test.ts.
 */

let stack: Stack;
let api: ApiClient;
let users: ReturnType<typeof accounts>;

beforeAll(async () => {
  stack = await startStack({ only: ['identity'] });
  api = apiClient(stack.url);
  users = accounts(api, () => stack.env);
});
afterAll(async () => {
  await stack?.stop();
});

/** A second sign-in of the same account: another session. */
async function signIn(u: TestUser, password = u.password): Promise<{ token: string; refreshToken: string }> {
  const res = await api.post('/api/users/login', { email: u.email, password });
  expect(res.status).toBe(200);
  return { token: res.body.data.token, refreshToken: res.body.data.refresh_token };
}

const me = (token: string) => api.get('/api/users/me', { token });
const refused = async (token: string) => (await me(token)).status === 401;
const sid = (token: string) => claimsOf(token).sid;

describe('sessions', () => {
  it('access tokens name their session; a refresh stays in it', async () => {
    const u = await users.register();
    const other = await signIn(u);
    expect(sid(u.token)).toMatch(/^[0-9a-f-]{36}$/);
    expect(sid(other.token)).not.toBe(sid(u.token));
    const refreshed = await api.post('/api/users/refresh', { refresh_token: u.refreshToken });
    expect(refreshed.status).toBe(200);
    expect(sid(refreshed.body.data.token)).toBe(sid(u.token));
  });

  it('logout ends that session within 10 s; the same account’s other session keeps working', async () => {
    const u = await users.register();
    const other = await signIn(u);
    expect((await api.post('/api/users/logout', { refresh_token: u.refreshToken }, { token: u.token })).status).toBe(200);
    await waitFor(() => refused(u.token));
    expectError(await me(u.token), 401, 'Could not validate credentials');
    expectError(await api.post('/api/users/refresh', { refresh_token: u.refreshToken }), 401);
    expect((await me(other.token)).status).toBe(200);
    expect((await api.post('/api/users/refresh', { refresh_token: other.refreshToken })).status).toBe(200);
  });

  it("logout with someone else's refresh token changes nothing", async () => {
    const [a, b] = [await users.register(), await users.register()];
    expect((await api.post('/api/users/logout', { refresh_token: b.refreshToken }, { token: a.token })).status).toBe(200);
    expect((await api.post('/api/users/refresh', { refresh_token: b.refreshToken })).status).toBe(200);
    expect((await me(a.token)).status).toBe(200);
  });

  it('logout-all ends every session of the caller within 10 s, and only theirs', async () => {
    const [u, bystander] = [await users.register(), await users.register()];
    const other = await signIn(u);
    expectError(await api.post('/api/users/logout-all'), 401, 'Not authenticated');
    expect((await api.post('/api/users/logout-all', undefined, { token: u.token, headers: { 'content-type': 'application/json' } })).body).toEqual({
      data: {},
      message: 'ok',
    });
    await waitFor(async () => (await refused(u.token)) && (await refused(other.token)));
    expectError(await api.post('/api/users/refresh', { refresh_token: other.refreshToken }), 401);
    expect((await me(bystander.token)).status).toBe(200);
    // Signing in again starts a new session that works.
    expect((await me((await signIn(u)).token)).status).toBe(200);
  });

  it('a password change needs the current password, ends every earlier session and answers a working one', async () => {
    const [u, bystander] = [await users.register(), await users.register()];
    const other = await signIn(u);
    const wrong = await api.patch('/api/users/password', { current_password: 'not my password', new_password: 'a new password' }, { token: u.token });
    expectError(wrong, 400, /^Invalid password\.$/);
    expect(wrong.body.code).toBe('invalid_password');
    const short = await api.patch('/api/users/password', { current_password: u.password, new_password: 'short' }, { token: u.token });
    expectError(short, 422, /new_password/);
    expectError(await api.patch('/api/users/password', { current_password: u.password, new_password: 'a new password' }), 401);
    expect((await me(u.token)).status).toBe(200); // refused attempts end nothing

    const res = await api.patch('/api/users/password', { current_password: u.password, new_password: 'a new password' }, { token: u.token });
    expect(res.status).toBe(200);
    expect(Object.keys(res.body.data).sort()).toEqual(['expires_in', 'refresh_token', 'token']);
    await waitFor(async () => (await refused(u.token)) && (await refused(other.token)));
    expect((await me(res.body.data.token)).status).toBe(200);
    expect((await api.post('/api/users/refresh', { refresh_token: res.body.data.refresh_token })).status).toBe(200);
    expectError(await api.post('/api/users/refresh', { refresh_token: other.refreshToken }), 401);
    expectError(await api.post('/api/users/login', { email: u.email, password: u.password }), 400);
    expect((await api.post('/api/users/login', { email: u.email, password: 'a new password' })).status).toBe(200);
    expect((await me(bystander.token)).status).toBe(200);
  });

  it('wrong current passwords are throttled like logins', async () => {
    const u = await users.register();
    const max = Number(stack.env.LOGIN_MAX_ATTEMPTS ?? 5);
    for (let i = 0; i < max; i++) {
      expectError(await api.patch('/api/users/password', { current_password: `wrong ${i}`, new_password: 'a new password' }, { token: u.token }), 400);
    }
    const throttled = await api.patch('/api/users/password', { current_password: u.password, new_password: 'a new password' }, { token: u.token });
    expectError(throttled, 429);
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('a reused refresh token ends its session (access tokens too) within 10 s; other sessions go on', async () => {
    const u = await users.register();
    const other = await signIn(u);
    const rotated = await api.post('/api/users/refresh', { refresh_token: u.refreshToken });
    expect(rotated.status).toBe(200);
    const next = rotated.body.data;
    const reuse = await api.post('/api/users/refresh', { refresh_token: u.refreshToken });
    expectError(reuse, 401);
    expect(reuse.body.code).toBe('refresh_token_reused');
    await waitFor(async () => (await refused(u.token)) && (await refused(next.token)));
    expectError(await api.post('/api/users/refresh', { refresh_token: next.refresh_token }), 401);
    expect((await me(other.token)).status).toBe(200);
  });
});
