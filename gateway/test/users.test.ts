import { decodeProtectedHeader } from 'jose';
import { accounts, apiClient, expectError, startStack, unique, type ApiClient, type Stack } from '@shutter/testing';

let stack: Stack;
let api: ApiClient;

beforeAll(async () => {
  // Every service: a profile (GET /api/users/{id}) joins identity with social-graph's (and content's) parts.
  stack = await startStack();
  api = apiClient(stack.url);
});
afterAll(() => stack?.stop());

const users = () => accounts(api, () => stack.env);
const register = (opts: { username?: string } = {}) => users().register(opts);
const adminToken = () => users().adminToken();

describe('register', () => {
  it('creates a private account and answers tokens and the user with email', async () => {
    const name = unique('Reg');
    const res = await api.post('/api/users/register', { email: `${name}@Example.com`, username: `  ${name.toUpperCase()} `, password: 'secret-pass' });
    expect(res.status).toBe(201);
    expect(res.body.message).toBe('ok');
    const { token, refresh_token, expires_in, user } = res.body.data;
    expect(token.split('.')).toHaveLength(3);
    expect(refresh_token.length).toBeGreaterThan(20);
    expect(expires_in).toBe(900);
    expect(user).toMatchObject({
      username: name.toLowerCase(),
      is_public: false,
      role: 'user',
      status: 'enabled',
      email: `${name}@Example.com`,
      metadata: { profile: {} },
    });
    expect(user.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(user.metadata.profile_image).toBeUndefined();
    // The payload holds ids and fixed words only, readable with a plain base64 decode.
    const payload = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
    expect(payload).toMatchObject({ sub: user.user_id, role: 'user' });
    expect(typeof payload.exp).toBe('number');
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'EdDSA' });
    expect(typeof decodeProtectedHeader(token).kid).toBe('string');
  });

  it('ignores a role in the body', async () => {
    const name = unique('r');
    const res = await api.post('/api/users/register', {
      email: `${name}@example.com`,
      username: name,
      password: 'password1',
      role: 'admin',
      status: 'disabled',
    });
    expect(res.status).toBe(201);
    expect(res.body.data.user).toMatchObject({ role: 'user', status: 'enabled' });
  });

  it.each([
    [{ email: 'not-an-email' }, 'body.email', /email/],
    [{ email: `${'a'.repeat(250)}@x.io` }, 'body.email', /email/],
    [{ username: 'ab' }, 'body.username', /username must be 3 to 30/],
    [{ username: 'a'.repeat(31) }, 'body.username', /username/],
    [{ username: 'bad name!' }, 'body.username', /username/],
    [{ password: 'short' }, 'body.password', /password must be at least 8 characters/],
    [{ password: 'x'.repeat(129) }, 'body.password', /password must be at most 128 characters/],
    [{ password: 12345678 }, 'body.password', /password must be a string/],
    [{ email: undefined }, 'body.email', /email is required/],
  ])('422 for %j', async (over, field, detail) => {
    const name = unique('v');
    const body = { email: `${name}@example.com`, username: name, password: 'password1', ...over };
    const res = await api.post('/api/users/register', JSON.parse(JSON.stringify(body)));
    expectError(res, 422, detail);
    expect(res.body.code).toBe('validation_error');
    expect(res.body.errors[0].field).toBe(field);
  });

  it('422 for a body that is not an object, 400 for malformed JSON', async () => {
    expectError(await api.post('/api/users/register', [1, 2]), 422, /request body must be an object/);
    expectError(await api.post('/api/users/register', '{"email":', { headers: { 'content-type': 'application/json' } }), 400, /not valid JSON/);
    expectError(await api.post('/api/users/register', undefined, { headers: { 'content-type': 'application/json' } }), 422);
  });

  it('409 for a duplicate email or username in another case, and nothing is half-written', async () => {
    const a = await register();
    const dupEmail = await api.post('/api/users/register', { email: a.email.toUpperCase(), username: unique('d'), password: 'password1' });
    expectError(dupEmail, 409, /Email is already registered/);
    const dupName = await api.post('/api/users/register', {
      email: `${unique('d')}@example.com`,
      username: a.user.username.toUpperCase(),
      password: 'password1',
    });
    expectError(dupName, 409, /Username is already taken/);
  });
});

describe('login', () => {
  it('accepts the email in any case', async () => {
    const a = await register();
    const res = await api.post('/api/users/login', { email: a.email.toUpperCase(), password: a.password });
    expect(res.status).toBe(200);
    expect(res.body.data.user.user_id).toBe(a.user.user_id);
    expect(res.body.data.user.email).toBe(a.email);
  });

  it('answers the same 400 for a wrong password and an unknown email', async () => {
    const a = await register();
    const wrong = await api.post('/api/users/login', { email: a.email, password: 'wrong password' });
    const unknown = await api.post('/api/users/login', { email: `${unique('nobody')}@example.com`, password: 'whatever1' });
    expectError(wrong, 400, 'Invalid email or password.');
    expectError(unknown, 400, 'Invalid email or password.');
    expect(unknown.body.code).toBe(wrong.body.code);
  });

  it('throttles repeated failures with 429 and Retry-After, even for the right password', async () => {
    const a = await register();
    for (let i = 0; i < 5; i++) expect((await api.post('/api/users/login', { email: a.email, password: 'nope-nope' })).status).toBe(400);
    const res = await api.post('/api/users/login', { email: a.email, password: a.password });
    expectError(res, 429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('tokens', () => {
  it('rotates refresh tokens and revokes the family on reuse', async () => {
    const a = await register();
    const first = await api.post('/api/users/refresh', { refresh_token: a.refreshToken });
    expect(first.status).toBe(200);
    expect(first.body.data.refresh_token).not.toBe(a.refreshToken);
    expect((await api.get('/api/users/me', { token: first.body.data.token })).status).toBe(200);
    // Reusing the old token: 401, and the newest token of the family dies with it.
    expectError(await api.post('/api/users/refresh', { refresh_token: a.refreshToken }), 401);
    expectError(await api.post('/api/users/refresh', { refresh_token: first.body.data.refresh_token }), 401);
  });

  it('logout revokes the session; unknown refresh tokens are 401', async () => {
    const a = await register();
    expect((await api.post('/api/users/logout', { refresh_token: a.refreshToken }, { token: a.token })).status).toBe(200);
    expectError(await api.post('/api/users/refresh', { refresh_token: a.refreshToken }), 401);
    expectError(await api.post('/api/users/refresh', { refresh_token: 'not-a-token' }), 401);
  });
});

describe('profiles and search', () => {
  it('shows email only to its owner; 404 for an unknown id; 422 for a non-UUID id', async () => {
    const a = await register();
    const b = await register();
    const own = await api.get(`/api/users/${a.user.user_id}`, { token: a.token });
    expect(own.status).toBe(200);
    expect(own.body.data.user.email).toBe(a.email);
    expect(own.body.data).toMatchObject({ follow_status: 'none', is_following: false, follows_id: null });
    const other = await api.get(`/api/users/${a.user.user_id}`, { token: b.token });
    expect(other.body.data.user.email).toBeUndefined();
    expectError(await api.get('/api/users/0190a6b4-0000-7000-8000-000000000000', { token: a.token }), 404);
    const bad = await api.get('/api/users/not-a-uuid', { token: a.token });
    expectError(bad, 422);
    expect(bad.body.errors[0].field).toBe('path.user_id');
  });

  it('updates the own profile by JSON and by multipart; own username is never a conflict', async () => {
    const a = await register();
    const res = await api.patch(
      '/api/users/',
      { name: '  Alice A.  ', username: a.user.username, is_public: true, profile: { bio: 'hi' } },
      { token: a.token },
    );
    expect(res.status).toBe(200);
    expect(res.body.data.user).toMatchObject({ name: 'Alice A.', is_public: true, metadata: { profile: { bio: 'hi' } } });
    const form = new FormData();
    form.set('username', a.user.username);
    form.set('is_public', 'false');
    form.set('profile', JSON.stringify({ bio: 'multipart' }));
    const mp = await api.patch('/api/users', form, { token: a.token });
    expect(mp.status).toBe(200);
    expect(mp.body.data.user).toMatchObject({ is_public: false, metadata: { profile: { bio: 'multipart' } } });
  });

  it('refuses bad profile input with 422 and a taken username with 409', async () => {
    const a = await register();
    const b = await register();
    expectError(await api.patch('/api/users', { name: 'x'.repeat(101) }, { token: a.token }), 422, /name must be at most 100/);
    expectError(await api.patch('/api/users', { is_public: 'yes' }, { token: a.token }), 422, /is_public must be true or false/);
    expectError(await api.patch('/api/users', { profile: { big: 'x'.repeat(5000) } }, { token: a.token }), 422, /4 KiB/);
    expectError(await api.patch('/api/users', { profile: [1] }, { token: a.token }), 422);
    expectError(await api.patch('/api/users', { username: b.user.username }, { token: a.token }), 409);
    const form = new FormData();
    form.set('profile', '{not json');
    expectError(await api.patch('/api/users', form, { token: a.token }), 422, /profile must be a JSON object/);
    const me = await api.get('/api/users/me', { token: a.token });
    expect(me.body.data.user.name).toBe('');
  });

  it('searches exact, then prefix, then substring, with % and _ literal', async () => {
    const stem = unique('s').slice(0, 8);
    const exact = await register({ username: stem });
    const prefix = await register({ username: `${stem}zz` });
    const middle = await register({ username: `aa${stem}` });
    const res = await api.get(`/api/users?search=${stem.toUpperCase()}&limit=10&_t=123`, { token: exact.token });
    expect(res.status).toBe(200);
    expect(res.body.data.users.map((u: any) => u.username)).toEqual([exact.user.username, prefix.user.username, middle.user.username]);
    expect(res.body.data.pagination).toEqual({ page: 1, limit: 10, total: 1, total_items: 3 });
    const pct = await api.get(`/api/users?search=${encodeURIComponent('%')}`, { token: exact.token });
    expect(pct.body.data.users).toEqual([]);
    const under = await api.get(`/api/users?search=${encodeURIComponent(`${stem.slice(0, 3)}_`)}`, { token: exact.token });
    expect(under.body.data.users.every((u: any) => u.username.includes(`${stem.slice(0, 3)}_`))).toBe(true);
  });

  it('pages: limit clamps to 100; page 0, limit 0 and non-numbers are 422', async () => {
    const a = await register();
    const res = await api.get('/api/users?limit=500', { token: a.token });
    expect(res.body.data.pagination.limit).toBe(100);
    for (const q of ['page=0', 'limit=0', 'page=abc', 'limit=1.5']) expectError(await api.get(`/api/users?${q}`, { token: a.token }), 422);
  });
});

describe('admin', () => {
  it('disables an account: its token fails at once, login is 403, it leaves search, and enabling restores it', async () => {
    const admin = await adminToken();
    const a = await register();
    const viewer = await register();
    expect((await api.get('/api/users/me', { token: a.token })).status).toBe(200);
    const res = await api.patch(`/api/users/${a.user.user_id}`, { status: 'disabled' }, { token: admin });
    expect(res.status).toBe(200);
    expect(res.body.data.user.status).toBe('disabled');
    expectError(await api.get('/api/users/me', { token: a.token }), 401, 'Could not validate credentials');
    expectError(await api.post('/api/users/login', { email: a.email, password: a.password }), 403, 'Account is disabled.');
    expectError(await api.post('/api/users/refresh', { refresh_token: a.refreshToken }), 401);
    expectError(await api.get(`/api/users/${a.user.user_id}`, { token: viewer.token }), 404);
    const seenByAdmin = await api.get(`/api/users/${a.user.user_id}`, { token: admin });
    expect(seenByAdmin.body.data.user.status).toBe('disabled');
    const search = await api.get(`/api/users?search=${a.user.username}`, { token: viewer.token });
    expect(search.body.data.users).toEqual([]);
    expect((await api.patch(`/api/users/${a.user.user_id}`, { status: 'enabled' }, { token: admin })).status).toBe(200);
    expect((await api.post('/api/users/login', { email: a.email, password: a.password })).status).toBe(200);
  });

  it('403 for non-admins, for self and for another admin; 404 for an unknown id; 422 for a bad status', async () => {
    const admin = await adminToken();
    const a = await register();
    const b = await register();
    expectError(await api.patch(`/api/users/${b.user.user_id}`, { status: 'disabled' }, { token: a.token }), 403);
    const adminId = JSON.parse(Buffer.from(admin.split('.')[1]!, 'base64url').toString()).sub;
    expectError(await api.patch(`/api/users/${adminId}`, { status: 'disabled' }, { token: admin }), 403);
    expectError(await api.patch('/api/users/0190a6b4-0000-7000-8000-000000000000', { status: 'disabled' }, { token: admin }), 404);
    expectError(await api.patch(`/api/users/${b.user.user_id}`, { status: 'banned' }, { token: admin }), 422);
    // The admin is not in search results.
    const search = await api.get(`/api/users?search=${stack.env.ADMIN_USERNAME}`, { token: a.token });
    expect(search.body.data.users).toEqual([]);
  });
});
