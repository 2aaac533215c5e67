import {
  apiClient,
  expectError,
  inspect,
  jpeg,
  listKeys,
  paddedPng,
  png,
  postsHelpers,
  startStack,
  waitFor,
  webp,
  type ApiClient,
  type Stack,
  type TestUser,
} from '@shutter/testing';

let stack: Stack;
let api: ApiClient;
let h: ReturnType<typeof postsHelpers>;

beforeAll(async () => {
  stack = await startStack();
  api = apiClient(stack.url);
  h = postsHelpers(api, () => stack);
});
afterAll(() => stack?.stop());

const MiB = 1024 * 1024;
const NOT_AN_IMAGE = Buffer.from('this is plain text, whatever its Content-Type says\n'.repeat(20));

const download = async (url: string) => {
  const res = await fetch(url);
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()) };
};
const keysOf = (u: TestUser) => listKeys(`media/${u.id}/`);
const timeline = async (u: TestUser) => (await api.get(`/api/posts?user_id=${u.id}`, { token: u.token })).body.data.posts as any[];

/** A direct upload: ask for a presigned POST, then send the file straight to S3. */
async function directUpload(u: TestUser, bytes: Buffer, type = 'image/jpeg', declaredSize = bytes.length) {
  const res = await api.post('/api/media/uploads', { content_type: type, size_bytes: declaredSize }, { token: u.token });
  expect(res.status).toBe(201);
  return res.body.data as { media_id: string; upload: { method: string; url: string; fields: Record<string, string> }; expires_at: string };
}
async function sendToS3(upload: { url: string; fields: Record<string, string> }, bytes: Buffer, type = 'image/jpeg') {
  const form = new FormData();
  for (const [k, v] of Object.entries(upload.fields)) form.append(k, v);
  form.append('file', new Blob([bytes], { type }));
  const res = await fetch(upload.url, { method: 'POST', body: form });
  expect(res.ok).toBe(true);
}

describe('multipart uploads: the bytes decide', () => {
  it('accepts a PNG, a JPEG and a WebP with their real width and height, in order, whatever type was declared', async () => {
    const u = await h.register();
    const images = [
      { bytes: png(3, 2), type: 'image/png' },
      { bytes: jpeg(20, 9), type: 'application/octet-stream', name: 'photo.bin' },
      { bytes: webp(7, 3), type: 'image/png', name: 'wrong.png' },
    ];
    const res = await h.postMultipart(u, 'three formats', images);
    expect(res.status).toBe(201);
    const post = (await api.get(`/api/posts/${res.body.data.post_id}`, { token: u.token })).body.data;
    expect(post.images.map((i: any) => [i.width, i.height, i.order])).toEqual([
      [3, 2, 0],
      [20, 9, 1],
      [7, 3, 2],
    ]);
    // The URL serves the processed image (media-photos.test.ts), never the uploaded bytes.
    for (const [i, im] of post.images.entries()) {
      const served = (await download(im.url)).bytes;
      expect(served.equals(images[i]!.bytes)).toBe(false);
      expect(inspect(served)).toMatchObject({ width: im.width, height: im.height, metadata: [] });
    }
    expect(await keysOf(u)).toHaveLength(3);
  });

  it('streams a large file and stores only what the pipeline made of it', async () => {
    const u = await h.register();
    const big = paddedPng(4, 5, 11 * MiB + 123);
    const res = await h.postMultipart(u, 'big one', [{ bytes: big }]);
    expect(res.status).toBe(201);
    const post = (await api.get(`/api/posts/${res.body.data.post_id}`, { token: u.token })).body.data;
    expect(post.images[0]).toMatchObject({ width: 4, height: 5, variants: [] });
    const served = (await download(post.images[0].url)).bytes;
    expect(served.length).toBeLessThan(1024);
    expect(inspect(served)).toMatchObject({ format: 'png', width: 4, height: 5, metadata: [] });
    expect(await keysOf(u)).toHaveLength(1);
  });

  it('415 for bytes that are not an image though they claim image/png; nothing is left behind', async () => {
    const u = await h.register();
    expectError(await h.postMultipart(u, 'text', [{ bytes: NOT_AN_IMAGE, type: 'image/png' }]), 415);
    // A good image first, then a bad one: the first is deleted again.
    expectError(await h.postMultipart(u, 'mixed', [{ bytes: png(2, 2) }, { bytes: NOT_AN_IMAGE, type: 'image/png' }]), 415);
    const gif = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');
    expectError(await h.postMultipart(u, 'a gif', [{ bytes: gif, type: 'image/gif' }]), 415);
    // Refused at the first file while a large second one is still on its way: the answer still arrives.
    expectError(await h.postMultipart(u, 'early', [{ bytes: NOT_AN_IMAGE }, { bytes: paddedPng(1, 1, 15 * MiB) }]), 415);
    expect(await timeline(u)).toEqual([]);
    expect(await keysOf(u)).toEqual([]);
  });

  it('413 for a file of 20 MiB + 1 byte; nothing is left behind', async () => {
    const u = await h.register();
    const res = await h.postMultipart(u, 'too big', [{ bytes: png(1, 1) }, { bytes: paddedPng(1, 1, 20 * MiB + 1) }]);
    expectError(res, 413, /20 MiB/);
    expect(await timeline(u)).toEqual([]);
    expect(await keysOf(u)).toEqual([]);
  });

  it('422 for zero images and for eleven; nothing is left behind', async () => {
    const u = await h.register();
    const none = await h.postMultipart(u, 'no images', []);
    expectError(none, 422, /at least 1/);
    expect(none.body.errors[0].field).toBe('body.images');
    const eleven = Array.from({ length: 11 }, (_, i) => ({ bytes: png(i + 1, 1) }));
    expectError(await h.postMultipart(u, 'eleven', eleven), 422, /10/);
    expectError(await h.postMultipart(u, '', [{ bytes: png(1, 1) }]), 422, /content/);
    expect(await timeline(u)).toEqual([]);
    expect(await keysOf(u)).toEqual([]);
  });
});

describe('direct uploads: presigned POST, then media_ids', () => {
  it('round trip: presigned POST (policy: type, size, 10 minutes), upload to S3, post with media_ids', async () => {
    const u = await h.register();
    const bytes = jpeg(16, 8);
    const up = await directUpload(u, bytes);
    expect(up.upload.method).toBe('POST');
    const expiresIn = Date.parse(up.expires_at) - Date.now();
    expect(expiresIn).toBeGreaterThan(9 * 60_000);
    expect(expiresIn).toBeLessThanOrEqual(10 * 60_000);
    const policy = JSON.parse(Buffer.from(up.upload.fields.Policy!, 'base64').toString());
    expect(policy.conditions).toEqual(
      expect.arrayContaining([
        ['content-length-range', 1, bytes.length],
        ['eq', '$Content-Type', 'image/jpeg'],
      ]),
    );
    await sendToS3(up.upload, bytes);

    const res = await api.post('/api/posts', { content: 'direct', media_ids: [up.media_id] }, { token: u.token });
    expect(res.status).toBe(201);
    const post = (await api.get(`/api/posts/${res.body.data.post_id}`, { token: u.token })).body.data;
    expect(post.images).toEqual([
      { image_id: up.media_id, url: expect.any(String), width: 16, height: 8, order: 0, blurhash: expect.any(String), variants: [] },
    ]);
    expect(inspect((await download(post.images[0].url)).bytes)).toMatchObject({ format: 'jpeg', width: 16, height: 8, metadata: [] });
  });

  it('a media id is usable once, by its owner, after upload; a refused post does not use it up', async () => {
    const owner = await h.register();
    const other = await h.register();
    const first = await directUpload(owner, png(2, 2), 'image/png');
    const second = await directUpload(owner, png(3, 3), 'image/png');
    await sendToS3(first.upload, png(2, 2), 'image/png');

    // The second is not uploaded yet: 409, and the first stays usable.
    expectError(await api.post('/api/posts', { content: 'x', media_ids: [first.media_id, second.media_id] }, { token: owner.token }), 409, /not been uploaded/);
    expectError(await api.post('/api/posts', { content: 'x', media_ids: [first.media_id] }, { token: other.token }), 404);
    expectError(await api.post('/api/posts', { content: 'x', media_ids: ['0190a5c4-0000-7000-8000-000000000000'] }, { token: owner.token }), 404);
    await sendToS3(second.upload, png(3, 3), 'image/png');
    const ok = await api.post('/api/posts', { content: 'x', media_ids: [second.media_id, first.media_id] }, { token: owner.token });
    expect(ok.status).toBe(201);
    const post = (await api.get(`/api/posts/${ok.body.data.post_id}`, { token: owner.token })).body.data;
    expect(post.images.map((i: any) => [i.image_id, i.width, i.order])).toEqual([
      [second.media_id, 3, 0],
      [first.media_id, 2, 1],
    ]);
    // Used: 409 for a post and for a profile image.
    expectError(await api.post('/api/posts', { content: 'again', media_ids: [first.media_id] }, { token: owner.token }), 409, /already been used/);
    expectError(await api.patch('/api/users/', { profile_image_media_id: first.media_id }, { token: owner.token }), 409);
    expectError(await api.post('/api/posts', { content: 'x', media_ids: [first.media_id, first.media_id] }, { token: owner.token }), 422);
  });

  it('415 when the uploaded object is not really an image', async () => {
    const u = await h.register();
    const up = await directUpload(u, NOT_AN_IMAGE, 'image/png');
    await sendToS3(up.upload, NOT_AN_IMAGE, 'image/png');
    expectError(await api.post('/api/posts', { content: 'x', media_ids: [up.media_id] }, { token: u.token }), 415);
    expect(await timeline(u)).toEqual([]);
  });

  it.each([
    [{ content_type: 'image/gif', size_bytes: 100 }, 415],
    [{ content_type: 'text/plain', size_bytes: 100 }, 415],
    [{ content_type: 'image/png', size_bytes: 20 * MiB + 1 }, 413],
    [{ content_type: 'image/png', size_bytes: 0 }, 422],
    [{ content_type: 'image/png', size_bytes: '100' }, 422],
    [{ size_bytes: 100 }, 422],
  ])('POST /api/media/uploads %j → %i', async (body, status) => {
    const u = await h.register();
    expectError(await api.post('/api/media/uploads', body, { token: u.token }), status);
  });
});

describe('objects follow their post and profile', () => {
  it("deleting a post deletes its images' objects", async () => {
    const u = await h.register();
    const res = await h.postMultipart(u, 'two', [{ bytes: png(1, 2) }, { bytes: webp(2, 1) }]);
    expect(res.status).toBe(201);
    const url = (await api.get(`/api/posts/${res.body.data.post_id}`, { token: u.token })).body.data.images[0].url;
    expect(await keysOf(u)).toHaveLength(2);
    expect((await api.delete(`/api/posts/${res.body.data.post_id}`, { token: u.token })).status).toBe(200);
    await waitFor(async () => (await keysOf(u)).length === 0);
    expect((await download(url)).status).toBe(404);
  });

  it('a profile image: multipart file or media id; the URL serves the processed image; a replaced one is deleted', async () => {
    const u = await h.register();
    const form = new FormData();
    form.append('name', 'Pic Ture');
    form.append('profile_image', new Blob([jpeg(9, 9)], { type: 'image/jpeg' }), 'me.jpg');
    const res = await api.patch('/api/users/', form, { token: u.token });
    expect(res.status).toBe(200);
    const first = res.body.data.user.metadata.profile_image.url;
    expect(inspect((await download(first)).bytes)).toMatchObject({ format: 'jpeg', width: 9, height: 9 });
    const [firstKey] = await keysOf(u);

    const up = await directUpload(u, png(5, 5), 'image/png');
    await sendToS3(up.upload, png(5, 5), 'image/png');
    const second = await api.patch('/api/users/', { profile_image_media_id: up.media_id }, { token: u.token });
    expect(second.status).toBe(200);
    expect(inspect((await download(second.body.data.user.metadata.profile_image.url)).bytes)).toMatchObject({ format: 'png', width: 5, height: 5 });
    await waitFor(async () => !(await keysOf(u)).includes(firstKey!));

    const bad = new FormData();
    bad.append('profile_image', new Blob([NOT_AN_IMAGE], { type: 'image/png' }), 'x.png');
    expectError(await api.patch('/api/users/', bad, { token: u.token }), 415);
    const huge = new FormData();
    huge.append('profile_image', new Blob([paddedPng(1, 1, 20 * MiB + 1)], { type: 'image/png' }), 'huge.png');
    expectError(await api.patch('/api/users/', huge, { token: u.token }), 413);
    expect(await keysOf(u)).toHaveLength(1);
  });
});
