import { apiClient, expectError, png, startStack, testBackends, unique, waitFor, type ApiClient, type Stack } from '@shutter/testing';
import * as zlib from 'node:zlib';
import { randomBytes } from 'node:crypto';

/** A valid PNG padded with an ancillary chunk of `extra` random bytes (incompressible). */
function paddedPng(extra: number): Buffer {
  const base = png(2, 2);
  const data = Buffer.concat([Buffer.from('Comment\0', 'latin1'), randomBytes(extra)]);
  const body = Buffer.concat([Buffer.from('tEXt', 'latin1'), data]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(body));
  const ihdrEnd = 8 + 25; // signature + IHDR chunk
  return Buffer.concat([base.subarray(0, ihdrEnd), len, body, crc, base.subarray(ihdrEnd)]);
}

/** Route-class limits per user and per address, and per-user upload quotas (docs/api.md, README *Limits*). */
let stack: Stack;
let api: ApiClient;

beforeAll(async () => {
  stack = await startStack({
    only: ['identity', 'social-graph', 'content'],
    extraEnv: {
      RATE_LIMIT_SCALE: '1',
      RATE_LIMIT_READS_USER: '5/1m',
      RATE_LIMIT_SIGNUP_ADDRESS: '3/1h',
      RATE_LIMIT_SEARCH_USER: '3/1m',
      RATE_LIMIT_AUTH_ADDRESS: '4/1m',
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

describe('route-class limits', () => {
  it('reads: counted per user, 429 in the envelope with Retry-After, other users untouched', async () => {
    const a = await signup();
    const b = await signup();
    const first = await api.get('/api/users/me', { token: a.token });
    expect(first.status).toBe(200);
    expect(first.headers.get('x-ratelimit-limit')).toBe('5');
    expect(first.headers.get('x-ratelimit-remaining')).toBe('4');
    expect(Number(first.headers.get('x-ratelimit-reset'))).toBeGreaterThan(0);
    for (let i = 0; i < 4; i++) expect((await api.get('/api/users/me', { token: a.token })).status).toBe(200);
    const limited = await api.get('/api/users/me', { token: a.token });
    expectError(limited, 429);
    expect(limited.body.code).toBe('rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
    expect((await api.get('/api/users/me', { token: b.token })).status).toBe(200);
    // Another class has its own window; health and preflights are never limited.
    expect((await api.post('/api/users/logout', { refresh_token: 'x' }, { token: a.token })).status).not.toBe(429);
    expect((await api.get('/healthz')).status).toBe(200);
    expect((await api.request('OPTIONS', '/api/users/me', { headers: { origin: 'http://x.test', 'access-control-request-method': 'GET' } })).status).toBe(204);
  });

  it('sign-up: per address; another address still signs up', async () => {
    const from = newAddress();
    for (let i = 0; i < 3; i++) await signup(from);
    const name = unique('rl');
    const refused = await api.post('/api/users/register', { email: `${name}@example.com`, username: name, password: 'password-1' }, { headers: from });
    expectError(refused, 429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    await signup(newAddress());
  });

  it('login/refresh: per address, before identity is asked', async () => {
    const u = await signup();
    const from = newAddress();
    for (let i = 0; i < 4; i++) expect((await api.post('/api/users/refresh', { refresh_token: 'nope' }, { headers: from })).status).toBe(401);
    expectError(await api.post('/api/users/login', { email: u.email, password: 'password-1' }, { headers: from }), 429);
    expect((await api.post('/api/users/login', { email: u.email, password: 'password-1' }, { headers: newAddress() })).status).toBe(200);
  });

  it('search: its own, tighter window; reads go on', async () => {
    const u = await signup();
    for (let i = 0; i < 3; i++) expect((await api.get('/api/users?search=abc', { token: u.token })).status).toBe(200);
    expectError(await api.get('/api/users?search=abc', { token: u.token }), 429);
    expectError(await api.get('/api/posts?search=abc', { token: u.token }), 429);
    expect((await api.get('/api/users/me', { token: u.token })).status).toBe(200);
  });
});

describe('upload quotas', () => {
  const post = (token: string, images: Buffer[]) => {
    const form = new FormData();
    form.append('content', 'quota');
    images.forEach((b, i) => form.append('images', new Blob([b], { type: 'image/png' }), `i${i}.png`));
    return api.post('/api/posts', form, { token });
  };
  // A new user reaches content by event: their list answers once content has them. Polled slowly:
  // reads are limited to 5 a minute here.
  const ownPosts = async (u: { token: string; id: string }) =>
    (await waitFor(async () => (await api.get(`/api/posts?user_id=${u.id}`, { token: u.token })).body.data?.posts as unknown[] | undefined, 7_000, 1_500)).length;

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
    const big = paddedPng(8000); // past the 5 000-byte day
    const v = await signup();
    const refused = await post(v.token, [big]);
    expectError(refused, 429);
    expect(refused.body.code).toBe('upload_quota_exceeded');
    expect(await ownPosts(v)).toBe(0);
  });
});
