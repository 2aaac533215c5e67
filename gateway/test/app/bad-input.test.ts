import { randomUUID } from 'node:crypto';
import { payloadTooLarge } from '@shutter/kit';
import { content, identity, notification } from '@shutter/proto';
import { expectError, png, type ApiClient, type ApiResponse } from '@shutter/testing';
import { testApp, type TestApp } from './test-app';

/**
 * Every malformed request is a 4xx in the error envelope (docs/api.md *Conventions*), never a 500 or
 * Fastify's own body; every 422 names its field in `detail` and in `errors`. The gateway refuses
 * them itself: the fakes behind it answer only the requests that pass.
 */
let t: TestApp;
let api: ApiClient;
let user: { token: string; userId: string };

beforeAll(async () => {
  t = await testApp({
    fakes: {
      identity: {
        searchUsers: async () => identity.SearchUsersResponse.fromPartial({ users: [], totalItems: 0 }),
      },
      content: {
        createComment: async () => ({ commentId: randomUUID() }),
        // Files of a refused form are streamed here first, then discarded.
        uploadMedia: async (call) => {
          for await (const _chunk of call) void _chunk;
          return content.UploadedMedia.fromPartial({ mediaId: randomUUID() });
        },
        // content's own rule: a declared size over 20 MiB is refused (the gateway caps what it sends).
        createMediaUpload: async (req) => {
          if (req.sizeBytes > 20 * 1024 * 1024) throw payloadTooLarge('File is too large (at most 20 MiB).');
          return content.MediaUpload.fromPartial({ mediaId: randomUUID(), method: 'POST', url: 'https://s3.test/', fields: {} });
        },
        discardMedia: async () => ({}),
        listPosts: async () => content.ListPostsResponse.fromPartial({ postsJson: Buffer.from('[]'), hasMore: false }),
      },
      notification: { listEvents: async () => notification.ListEventsResponse.fromPartial({ events: [], totalItems: 0 }) },
    },
  });
  api = t.api;
  user = await t.signIn();
});
afterAll(() => t?.stop());

/** A 422 naming `field` in `errors` and (by its last segment) in `detail`. */
function expectFieldError(res: ApiResponse, field: string, detail?: RegExp): void {
  expectError(res, 422);
  expect(res.body.code).toBe('validation_error');
  expect(res.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
  expect(res.body.detail).toContain(field.split('.').pop()!);
  if (detail) expect(res.body.detail).toMatch(detail);
}

const raw = (method: string, path: string, body: string | Buffer | undefined, headers: Record<string, string> = {}) =>
  api.request(method, path, { token: user.token, headers, body: body as never });

describe('bodies', () => {
  it('POST /api/posts with no body at all is a 4xx naming the body, not a 500', async () => {
    const none = await api.request('POST', '/api/posts', { token: user.token });
    expect(none.status).toBeLessThan(500);
    expectError(none, 422);
    expect(none.body.errors[0].field).toMatch(/^body/);
    const emptyJson = await raw('POST', '/api/posts', '', { 'content-type': 'application/json' });
    expectError(emptyJson, 422);
    expect(emptyJson.body.errors[0].field).toMatch(/^body/);
  });

  it('a body of the wrong JSON type or an unknown content type is a 4xx in the envelope', async () => {
    expectFieldError(
      await raw('POST', '/api/posts/comment/0190a8d2-0000-7000-8000-000000000000', '[1,2]', { 'content-type': 'application/json' }),
      'body',
      /request body must be an object/,
    );
    expectError(await raw('POST', '/api/posts', 'hello', { 'content-type': 'text/plain' }), 415);
    expectError(await raw('POST', '/api/users/login', '{"email":', { 'content-type': 'application/json' }), 400);
  });

  it('NUL and other control characters in text fields → 422 naming the field', async () => {
    const post = randomUUID();
    expectFieldError(await api.post(`/api/posts/comment/${post}`, { content: 'a\u0000b' }, { token: user.token }), 'body.content', /control characters/);
    expectFieldError(await api.post(`/api/posts/comment/${post}`, { content: 'bell\u0007' }, { token: user.token }), 'body.content');
    expectFieldError(await api.patch('/api/users', { name: 'x\u0000' }, { token: user.token }), 'body.name');
    // Newlines and tabs are text.
    expect((await api.post(`/api/posts/comment/${post}`, { content: 'line 1\n\tline 2' }, { token: user.token })).status).toBe(201);
    const form = new FormData();
    form.append('content', 'nul \u0000 in a form');
    form.append('images', new Blob([png(2, 2)], { type: 'image/png' }), 'a.png');
    expectFieldError(await api.post('/api/posts', form, { token: user.token }), 'body.content');
  });

  it('NUL in profile JSON (values or keys) and deep nesting → 422 naming body.profile', async () => {
    expectFieldError(await api.patch('/api/users', { profile: { bio: 'a\u0000' } }, { token: user.token }), 'body.profile.bio');
    expectFieldError(await api.patch('/api/users', { profile: { 'k\u0000': 1 } }, { token: user.token }), 'body.profile');
    const deep = `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`;
    const res = await raw('PATCH', '/api/users', `{"profile":${deep}}`, { 'content-type': 'application/json' });
    expectFieldError(res, 'body.profile', /nested/);
    let deepArr = '1';
    for (let i = 0; i < 100_000; i++) deepArr = `[${deepArr}]`;
    const arr = await raw('PATCH', '/api/users', `{"profile":{"x":${deepArr}}}`, { 'content-type': 'application/json' });
    expect(arr.status).toBeGreaterThanOrEqual(400);
    expect(arr.status).toBeLessThan(500);
    expectError(arr, arr.status);
    // A multipart profile form gets the same rules.
    const form = new FormData();
    form.append('profile', JSON.stringify({ bio: 'x\u0000' }));
    expectFieldError(await api.patch('/api/users', form, { token: user.token }), 'body.profile.bio');
  });

  it('integers out of range → 422 naming the field', async () => {
    // A size past 20 MiB is 413 (docs/api.md), however large.
    expectError(await api.post('/api/media/uploads', { content_type: 'image/png', size_bytes: 2 ** 31 }, { token: user.token }), 413);
    expectError(await api.post('/api/media/uploads', { content_type: 'image/png', size_bytes: 1e300 }, { token: user.token }), 413);
    expectFieldError(await api.post('/api/media/uploads', { content_type: 'image/png', size_bytes: 1.5 }, { token: user.token }), 'body.size_bytes');
    expectFieldError(await api.get('/api/users?page=2147483648', { token: user.token }), 'query.page');
    // Search pages stop at its first 1 000 matches; total_items is capped there too.
    expectFieldError(await api.get('/api/users?page=11&limit=100', { token: user.token }), 'query.page', /at most 10 /);
    expectFieldError(await api.get('/api/users?search=a&page=101', { token: user.token }), 'query.page', /at most 100 /);
    expect((await api.get('/api/users?page=100', { token: user.token })).status).toBe(200);
    expectFieldError(await api.get('/api/events?page=99999999999999999999', { token: user.token }), 'query.page');
    expectFieldError(await api.get('/api/events?limit=0', { token: user.token }), 'query.limit');
    expectFieldError(await api.get('/api/events?limit=1.5', { token: user.token }), 'query.limit');
    // Above 100, limit is clamped (docs/api.md), whatever its size.
    for (const limit of ['2147483648', '1e999', '99999999999999999999999']) {
      const res = await api.get(`/api/events?limit=${limit}`, { token: user.token });
      expect(res.status).toBe(200);
      expect(res.body.data.pagination.limit).toBe(100);
    }
  });
});

describe('ids, paths and queries', () => {
  it('a non-UUID path or query id → 422 whose detail names the field', async () => {
    expectFieldError(await api.get('/api/posts/not-a-uuid', { token: user.token }), 'path.post_id', /^post_id must be a UUID/);
    expectFieldError(await api.get('/api/posts?user_id=nope', { token: user.token }), 'query.user_id', /^user_id must be a UUID/);
    expectFieldError(await api.post('/api/posts', { content: 'x', media_ids: ['nope'] }, { token: user.token }), 'body.media_ids.0');
  });

  it('a broken percent-encoding in the path is a 400 in the envelope, not Fastify’s body', async () => {
    for (const p of ['/api/users/%E0%A4%A', '/api/posts/%', '/api/users/%ED%A0%80', '/api/posts/comment/%zz']) {
      const res = await api.get(p, { token: user.token });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expectError(res, res.status);
      expect(Object.keys(res.body).sort()).toEqual(expect.arrayContaining(['code', 'detail', 'request_id']));
      expect(res.body).not.toHaveProperty('statusCode');
    }
  });

  it('bad encodings and control characters in a query → 4xx in the envelope', async () => {
    for (const q of ['search=%E0%A4%A', 'search=%ED%A0%80', 'page=%FF', 'search=%']) {
      const res = await api.get(`/api/users?${q}`, { token: user.token });
      expectError(res, 400);
      expect(res.body.code).toBe('bad_url');
    }
    for (const q of ['search=%00', 'search=a%0Ab%07', 'search[]=x', 'search=a&search=b', 'page=1&page=2', 'search=%F0%9F%98%80']) {
      const res = await api.get(`/api/users?${q}`, { token: user.token });
      expect(res.status).toBeLessThan(500);
      if (res.status >= 400) expectError(res, res.status);
    }
    expectFieldError(await api.get('/api/users?search=%00', { token: user.token }), 'query.search');
    expectFieldError(await api.get('/api/posts?search=%00', { token: user.token }), 'query.search');
  });
});

describe('multipart', () => {
  const boundary = 'XbOuNdArYx';
  const mp = (parts: string) => raw('POST', '/api/posts', parts, { 'content-type': `multipart/form-data; boundary=${boundary}` });

  it('eleven images → 422 with errors naming body.images, nothing kept', async () => {
    const form = new FormData();
    form.append('content', 'eleven');
    for (let i = 0; i < 11; i++) form.append('images', new Blob([png(2, 2)], { type: 'image/png' }), `image${i}.png`);
    const res = await api.post('/api/posts', form, { token: user.token });
    expectFieldError(res, 'body.images', /at most 10/);
    // The ten stored before the eleventh are discarded.
    const discarded = t.fakes.calls.filter((c) => c.method === 'discardMedia').map((c) => (c.request as { mediaIds: string[] }).mediaIds);
    expect(discarded.at(-1)).toHaveLength(10);
  });

  it('a truncated form, a form without a boundary and a part without a name are 4xx in the envelope', async () => {
    const truncated = await mp(
      `--${boundary}\r\nContent-Disposition: form-data; name="content"\r\n\r\nhello\r\n--${boundary}\r\nContent-Disposition: form-data; name="images"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n\x89PNG`,
    );
    expect(truncated.status).toBeGreaterThanOrEqual(400);
    expect(truncated.status).toBeLessThan(500);
    expectError(truncated, truncated.status);

    const noBoundary = await raw('POST', '/api/posts', 'whatever', { 'content-type': 'multipart/form-data' });
    expect(noBoundary.status).toBeGreaterThanOrEqual(400);
    expect(noBoundary.status).toBeLessThan(500);
    expectError(noBoundary, noBoundary.status);

    const nameless = await mp(`--${boundary}\r\nContent-Disposition: form-data\r\n\r\nhello\r\n--${boundary}--\r\n`);
    expectFieldError(nameless, 'body.content');

    const noDisposition = await mp(`--${boundary}\r\n\r\nhello\r\n--${boundary}--\r\n`);
    expect(noDisposition.status).toBeLessThan(500);
    expectError(noDisposition, noDisposition.status);

    const garbage = await mp('this is not a multipart body at all');
    expect(garbage.status).toBeLessThan(500);
    expectError(garbage, garbage.status);
  });

  it('a broken profile form is a 4xx in the envelope', async () => {
    const res = await raw('PATCH', '/api/users', `--${boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nabc`, {
      'content-type': `multipart/form-data; boundary=${boundary}`,
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expectError(res, res.status);
  });
});
