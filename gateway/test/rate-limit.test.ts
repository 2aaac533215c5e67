import { apiClient, expectError, paddedPng, png, startStack, testBackends, unique, waitFor, type ApiClient, type Stack } from '@shutter/testing';

/**
 * Per-user upload quotas (docs/api.md, README *Limits*): files and bytes counted as content receives
 * them, across services. The route-class limits are the gateway's alone: app/rate-limit.test.ts.
 */
let stack: Stack;
let api: ApiClient;

beforeAll(async () => {
  stack = await startStack({
    only: ['identity', 'social-graph', 'content'],
    extraEnv: {
      RATE_LIMIT_SCALE: '1',
      UPLOAD_QUOTA_FILES_PER_HOUR: '3',
      UPLOAD_QUOTA_BYTES_PER_DAY: '5000',
      // Clients are told apart by X-Forwarded-For, as behind nginx.
      TRUST_PROXY: '1',
      // Its own key space: other test files share this run's Redis.
      REDIS_KEY_PREFIX: `${testBackends().redisPrefix}${unique('rl')}:`,
    },
  });
  api = apiClient(stack.url);
});
afterAll(() => stack?.stop());

let addressSeq = 0;
const newAddress = () => ({ 'x-forwarded-for': `198.51.100.${++addressSeq}` });

async function signup(from = newAddress()) {
  const name = unique('rl');
  const res = await api.post('/api/users/register', { email: `${name}@example.com`, username: name, password: 'password-1' }, { headers: from });
  if (res.status !== 201) throw new Error(`register: ${res.status} ${JSON.stringify(res.body)}`);
  return { token: res.body.data.token as string, id: res.body.data.user.user_id as string, email: `${name}@example.com` };
}

describe('upload quotas', () => {
  const post = (token: string, images: Buffer[]) => {
    const form = new FormData();
    form.append('content', 'quota');
    images.forEach((b, i) => form.append('images', new Blob([b], { type: 'image/png' }), `i${i}.png`));
    return api.post('/api/posts', form, { token });
  };
  // A new user reaches content by event: their list answers once content has them.
  const ownPosts = async (u: { token: string; id: string }) =>
    (await waitFor(async () => (await api.get(`/api/posts?user_id=${u.id}`, { token: u.token })).body.data?.posts as unknown[] | undefined)).length;

  it('files per hour: multipart and direct uploads count alike; the refused post creates nothing', async () => {
    const u = await signup();
    expect((await post(u.token, [png(2, 2), png(2, 2)])).status).toBe(201);
    expect((await api.post('/api/media/uploads', { content_type: 'image/png', size_bytes: 100 }, { token: u.token })).status).toBe(201);
    const refused = await post(u.token, [png(2, 2)]);
    expectError(refused, 429);
    expect(refused.body.code).toBe('upload_quota_exceeded');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expectError(await api.post('/api/media/uploads', { content_type: 'image/png', size_bytes: 100 }, { token: u.token }), 429);
    expect(await ownPosts(u)).toBe(1);
  });

  it('bytes per day: a file that crosses the budget is refused and discarded', async () => {
    const u = await signup();
    expectError(await api.post('/api/media/uploads', { content_type: 'image/png', size_bytes: 6000 }, { token: u.token }), 429);
    const big = paddedPng(2, 2, 8000); // past the 5 000-byte day
    const v = await signup();
    const refused = await post(v.token, [big]);
    expectError(refused, 429);
    expect(refused.body.code).toBe('upload_quota_exceeded');
    expect(await ownPosts(v)).toBe(0);
  });
});
