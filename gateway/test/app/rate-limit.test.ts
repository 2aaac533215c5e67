import { randomUUID } from 'node:crypto';
import { unauthenticated } from '@shutter/kit';
import { content, identity } from '@shutter/proto';
import { expectError, unique } from '@shutter/testing';
import { testApp, type TestApp } from './test-app';

/**
 * Route-class limits per user and per address (docs/api.md *Conventions*, README *Limits*): which
 * class a route is in, the X-RateLimit-* headers, 429 with Retry-After in the envelope. Upload
 * quotas (files and bytes, counted as content receives them) stay in the system test
 * ../rate-limit.test.ts.
 */

const userOf = (userId: string) => identity.User.fromPartial({ userId, username: 'someone', role: 'user', status: 'enabled' });

let t: TestApp;
beforeAll(async () => {
  t = await testApp({
    env: {
      RATE_LIMIT_SCALE: '1',
      RATE_LIMIT_READS_USER: '5/1m',
      RATE_LIMIT_SIGNUP_ADDRESS: '3/1h',
      RATE_LIMIT_SEARCH_USER: '3/1m',
      RATE_LIMIT_AUTH_ADDRESS: '4/1m',
      // Clients are told apart by X-Forwarded-For, as behind nginx.
      TRUST_PROXY: '1',
    },
    fakes: {
      identity: {
        getUser: async (req) => userOf(req.userId),
        register: async () =>
          identity.AuthResponse.fromPartial({ tokens: { accessToken: 'a', refreshToken: 'r', expiresIn: 900 }, user: userOf(randomUUID()) }),
        login: async () => identity.AuthResponse.fromPartial({ tokens: { accessToken: 'a', refreshToken: 'r', expiresIn: 900 }, user: userOf(randomUUID()) }),
        refresh: async () => {
          throw unauthenticated('Invalid refresh token.', 'invalid_refresh_token');
        },
        logout: async () => ({}),
        searchUsers: async () => identity.SearchUsersResponse.fromPartial({ users: [], totalItems: 0 }),
      },
      content: { listPosts: async () => content.ListPostsResponse.fromPartial({ postsJson: Buffer.from('[]'), hasMore: false }) },
    },
  });
});
afterAll(() => t?.stop());

let addressSeq = 0;
const newAddress = () => ({ 'x-forwarded-for': `198.51.100.${++addressSeq}` });

const register = (from: Record<string, string>) => {
  const name = unique('rl');
  return t.api.post('/api/users/register', { email: `${name}@example.com`, username: name, password: 'password-1' }, { headers: from });
};

describe('route-class limits', () => {
  it('reads: counted per user, 429 in the envelope with Retry-After, other users untouched', async () => {
    const a = await t.signIn();
    const b = await t.signIn();
    const first = await t.api.get('/api/users/me', { token: a.token });
    expect(first.status).toBe(200);
    expect(first.headers.get('x-ratelimit-limit')).toBe('5');
    expect(first.headers.get('x-ratelimit-remaining')).toBe('4');
    expect(Number(first.headers.get('x-ratelimit-reset'))).toBeGreaterThan(0);
    for (let i = 0; i < 4; i++) expect((await t.api.get('/api/users/me', { token: a.token })).status).toBe(200);
    const limited = await t.api.get('/api/users/me', { token: a.token });
    expectError(limited, 429);
    expect(limited.body.code).toBe('rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
    expect((await t.api.get('/api/users/me', { token: b.token })).status).toBe(200);
    // Another class has its own window; health and preflights are never limited.
    expect((await t.api.post('/api/users/logout', { refresh_token: 'x' }, { token: a.token })).status).toBe(200);
    expect((await t.api.get('/healthz')).status).toBe(200);
    expect((await t.api.request('OPTIONS', '/api/users/me', { headers: { origin: 'http://x.test', 'access-control-request-method': 'GET' } })).status).toBe(
      204,
    );
  });

  it('sign-up: per address; another address still signs up', async () => {
    const from = newAddress();
    for (let i = 0; i < 3; i++) expect((await register(from)).status).toBe(201);
    const refused = await register(from);
    expectError(refused, 429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await register(newAddress())).status).toBe(201);
  });

  it('login/refresh: per address, before identity is asked', async () => {
    const from = newAddress();
    for (let i = 0; i < 4; i++) expect((await t.api.post('/api/users/refresh', { refresh_token: 'nope' }, { headers: from })).status).toBe(401);
    const asked = t.fakes.calls.length;
    expectError(await t.api.post('/api/users/login', { email: 'a@example.com', password: 'password-1' }, { headers: from }), 429);
    expect(t.fakes.calls.length).toBe(asked);
    expect((await t.api.post('/api/users/login', { email: 'a@example.com', password: 'password-1' }, { headers: newAddress() })).status).toBe(200);
  });

  it('search: its own, tighter window; reads go on', async () => {
    const u = await t.signIn();
    for (let i = 0; i < 3; i++) expect((await t.api.get('/api/users?search=abc', { token: u.token })).status).toBe(200);
    expectError(await t.api.get('/api/users?search=abc', { token: u.token }), 429);
    expectError(await t.api.get('/api/posts?search=abc', { token: u.token }), 429);
    expect((await t.api.get('/api/users/me', { token: u.token })).status).toBe(200);
  });
});
