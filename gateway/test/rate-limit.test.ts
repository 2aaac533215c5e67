import { apiClient, startStack, testBackends, unique, type Stack } from '@shutter/testing';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ only: ['identity'], extraEnv: {
      RATE_LIMIT_MAX: '5',
      RATE_LIMIT_WINDOW_MS: '60000',
      // Its own key space: other test files share 127.0.0.1's per-IP window.
      REDIS_KEY_PREFIX: `${testBackends().redisPrefix}${unique('rl')}:`,
    } });
});
afterAll(() => stack?.stop());

describe('per-caller rate limit', () => {
  it('counts per user, answers 429 in the envelope with Retry-After, and leaves other users alone', async () => {
    const api = apiClient(stack.url);
    const signup = async () => {
      const name = unique('rl');
      const res = await api.post('/api/users/register', { email: `${name}@example.com`, username: name, password: 'password-1' });
      return res.body.data.token as string;
    };
    const a = await signup();
    const b = await signup();
    const first = await api.get('/api/users/me', { token: a });
    expect(first.status).toBe(200);
    expect(first.headers.get('x-ratelimit-limit')).toBe('5');
    expect(Number(first.headers.get('x-ratelimit-remaining'))).toBe(4);
    for (let i = 0; i < 4; i++) expect((await api.get('/api/users/me', { token: a })).status).toBe(200);
    const limited = await api.get('/api/users/me', { token: a });
    expect(limited.status).toBe(429);
    expect(limited.body).toMatchObject({ code: 'rate_limited', request_id: limited.headers.get('x-request-id') });
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
    expect((await api.get('/api/users/me', { token: b })).status).toBe(200);
    // Health and preflights are never limited.
    expect((await api.get('/healthz')).status).toBe(200);
  });
});
