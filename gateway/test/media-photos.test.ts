import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isBlurhashValid } from 'blurhash';
import sharp from 'sharp';
import {
  apiClient,
  exifTags,
  expectError,
  inspect,
  listKeys,
  pngChunk,
  pngClaiming,
  postsHelpers,
  startStack,
  waitFor,
  withPngChunks,
  type ApiClient,
  type Stack,
  type TestUser,
} from '@shutter/testing';

/*
 * The photo pipeline (docs/api.md *Photos*) end to end: real files with real metadata go in through
 * both upload paths; every byte stream served (full size and every variant, fetched from the
 * local S3 through the URLs the API answers) is parsed by its format's structure.
 */

let stack: Stack;
let api: ApiClient;
let h: ReturnType<typeof postsHelpers>;

beforeAll(async () => {
  stack = await startStack();
  api = apiClient(stack.url);
  h = postsHelpers(api, () => stack);
});
afterAll(() => stack?.stop());

const SERIAL = 'SN-8675309-SHUTTER';
const GPS = { GPSLatitudeRef: 'N', GPSLatitude: '48/1 51/1 2964/100', GPSLongitudeRef: 'E', GPSLongitude: '2/1 17/1 4035/100' };
const XMP = `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Make="Shutter Test Cam"/></rdf:RDF></x:xmpmeta>`;

/** Left half red, right half blue: after a 90° clockwise turn (orientation 6) the top is red. */
function halves(width: number, height: number) {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) raw.set(x < width / 2 ? [220, 20, 20] : [20, 20, 220], (y * width + x) * 3);
  return sharp(raw, { raw: { width, height, channels: 3 } });
}
const withCameraExif = (img: sharp.Sharp) => img.withExif({ IFD0: { Make: 'Shutter Test Cam', Model: 'T1' }, IFD2: { BodySerialNumber: SERIAL }, IFD3: GPS });

/** A JPEG with GPS, a camera serial and orientation 6 (stored 1200×900, displayed 900×1200). */
const cameraJpeg = () => withCameraExif(halves(1200, 900)).withMetadata({ orientation: 6 }).jpeg({ quality: 90 }).toBuffer();
/** A PNG with eXIf (GPS, serial), tEXt and iTXt (XMP) chunks. */
async function taggedPng(width: number, height: number): Promise<Buffer> {
  const exif = (await sharp(await withCameraExif(halves(8, 8)).jpeg().toBuffer()).metadata()).exif!.subarray(6); // minus "Exif\0\0"
  const png = await halves(width, height).png().toBuffer();
  return withPngChunks(png, [
    pngChunk('eXIf', exif),
    pngChunk('tEXt', Buffer.from(`Comment\0${SERIAL}`)),
    pngChunk('iTXt', Buffer.from(`XML:com.adobe.xmp\0\0\0\0\0${XMP}`)),
  ]);
}
/** A WebP with EXIF and XMP chunks. */
const taggedWebp = (width: number, height: number) => withCameraExif(halves(width, height)).withXmp(XMP).webp().toBuffer();

const download = async (url: string) => {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
};
const keysOf = (u: TestUser) => listKeys(`media/${u.id}/`);
const getPost = async (u: TestUser, postId: string) => (await api.get(`/api/posts/${postId}`, { token: u.token })).body.data;

async function directUpload(u: TestUser, bytes: Buffer, type: string) {
  const res = await api.post('/api/media/uploads', { content_type: type, size_bytes: bytes.length }, { token: u.token });
  expect(res.status).toBe(201);
  const up = res.body.data as { media_id: string; upload: { url: string; fields: Record<string, string> } };
  await sendToS3(up.upload, bytes, type);
  return up;
}
async function sendToS3(upload: { url: string; fields: Record<string, string> }, bytes: Buffer, type: string) {
  const form = new FormData();
  for (const [k, v] of Object.entries(upload.fields)) form.append(k, v);
  form.append('file', new Blob([bytes], { type }));
  expect((await fetch(upload.url, { method: 'POST', body: form })).ok).toBe(true);
}

/** Every stream an image serves, checked: no metadata block, the stated size, nothing of the camera. */
async function expectClean(image: { url: string; width: number; height: number; variants: Array<{ url: string; width: number; height: number }> }) {
  for (const served of [image, ...image.variants]) {
    const bytes = await download(served.url);
    const seen = inspect(bytes);
    expect({ metadata: seen.metadata, width: seen.width, height: seen.height }).toEqual({ metadata: [], width: served.width, height: served.height });
    expect(bytes.includes(SERIAL)).toBe(false);
    expect(bytes.includes('Shutter Test Cam')).toBe(false);
    const meta = await sharp(bytes).metadata();
    expect([meta.width, meta.height, meta.orientation, meta.exif, meta.xmp, meta.icc, meta.iptc]).toEqual([
      served.width,
      served.height,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  }
  for (const v of image.variants) expect(inspect(await download(v.url)).format).toBe('webp');
}

/** The colour at a point of a served image. */
async function pixel(bytes: Buffer, x: number, y: number): Promise<number[]> {
  const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
  const at = (y * info.width + x) * info.channels;
  return [data[at]!, data[at + 1]!, data[at + 2]!];
}
const isRed = ([r, , b]: number[]) => r! > 150 && b! < 100;
const isBlue = ([r, , b]: number[]) => b! > 150 && r! < 100;

describe('metadata is stripped and the orientation applied', () => {
  it('fixtures carry what they claim: GPS, serial and orientation 6; eXIf/tEXt/iTXt; EXIF and XMP', async () => {
    const jpeg = await cameraJpeg();
    const meta = await sharp(jpeg).metadata();
    expect([meta.width, meta.height, meta.orientation]).toEqual([1200, 900, 6]);
    expect(exifTags(meta.exif!.subarray(6))).toEqual(expect.arrayContaining([0x0112, 0x8825, 0x8769])); // orientation, GPS IFD, Exif IFD
    expect(jpeg.includes(SERIAL)).toBe(true);
    expect(inspect(await taggedPng(40, 30)).metadata).toEqual(expect.arrayContaining(['eXIf', 'tEXt', 'iTXt']));
    expect(inspect(await taggedWebp(40, 30)).metadata).toEqual(expect.arrayContaining(['EXIF', 'XMP ']));
  });

  it('multipart: a JPEG (GPS, serial, orientation 6), a PNG (eXIf, tEXt, iTXt) and a WebP (EXIF, XMP) are served clean, the JPEG turned upright', async () => {
    const u = await h.register();
    const res = await h.postMultipart(u, 'tagged', [
      { bytes: await cameraJpeg(), type: 'image/jpeg', name: 'camera.jpg' },
      { bytes: await taggedPng(1200, 900), type: 'image/png' },
      { bytes: await taggedWebp(800, 600), type: 'image/webp', name: 'x.webp' },
    ]);
    expect(res.status).toBe(201);
    const post = await getPost(u, res.body.data.post_id);
    const [jpeg, png, webp] = post.images;
    // Described as displayed: 900×1200, variants of 320 and 640 px wide in proportion.
    expect([jpeg.width, jpeg.height]).toEqual([900, 1200]);
    expect(jpeg.variants.map((v: any) => [v.width, v.height])).toEqual([
      [320, 427],
      [640, 853],
    ]);
    expect(inspect(await download(jpeg.url)).format).toBe('jpeg');
    expect(inspect(await download(png.url)).format).toBe('png');
    expect(inspect(await download(webp.url)).format).toBe('webp');
    for (const im of post.images) {
      expect(isBlurhashValid(im.blurhash).result).toBe(true);
      await expectClean(im);
    }
    // Upright: the stored left (red) half is now the top.
    const full = await download(jpeg.url);
    expect(isRed(await pixel(full, 450, 100))).toBe(true);
    expect(isBlue(await pixel(full, 450, 1100))).toBe(true);
    // Nothing but the processed objects is stored: 3 full-size images, 2 + 3 + 2 variants.
    expect(await keysOf(u)).toHaveLength(10);
  });

  it('direct uploads: the same files through presigned POSTs and media_ids are served clean', async () => {
    const u = await h.register();
    const ids = [
      (await directUpload(u, await cameraJpeg(), 'image/jpeg')).media_id,
      (await directUpload(u, await taggedPng(600, 450), 'image/png')).media_id,
      (await directUpload(u, await taggedWebp(300, 200), 'image/webp')).media_id,
    ];
    const res = await api.post('/api/posts', { content: 'direct', media_ids: ids }, { token: u.token });
    expect(res.status).toBe(201);
    const post = await getPost(u, res.body.data.post_id);
    expect(post.images.map((i: any) => [i.image_id, i.width, i.height, i.variants.length])).toEqual([
      [ids[0], 900, 1200, 2],
      [ids[1], 600, 450, 1],
      [ids[2], 300, 200, 0],
    ]);
    for (const im of post.images) await expectClean(im);
    // The uploaded objects are gone once used; only what the pipeline made is stored.
    const keys = await keysOf(u);
    for (const id of ids) expect(keys).not.toContain(`media/${u.id}/${id}`);
    expect(keys).toHaveLength(3 + 3);
  });

  it('profile images (multipart and direct) are processed too: long side 1024, no metadata', async () => {
    const u = await h.register();
    const form = new FormData();
    form.append('profile_image', new Blob([await cameraJpeg()], { type: 'image/jpeg' }), 'me.jpg');
    const res = await api.patch('/api/users/', form, { token: u.token });
    expect(res.status).toBe(200);
    const image = res.body.data.user.metadata.profile_image;
    const first = await download(image.url);
    expect(inspect(first)).toMatchObject({ format: 'jpeg', width: 768, height: 1024, metadata: [] });
    expect(isRed(await pixel(first, 384, 100))).toBe(true);
    expect(isBlurhashValid(image.blurhash).result).toBe(true);
    expect(image.variants.map((v: any) => [v.width, v.height])).toEqual([
      [320, 427],
      [640, 853],
    ]);
    await expectClean({ ...image, width: 768, height: 1024 });
    // Everywhere the user object appears.
    expect((await api.get(`/api/users/${u.id}`, { token: u.token })).body.data.user.metadata.profile_image).toEqual(image);

    const up = await directUpload(u, await taggedWebp(2000, 1500), 'image/webp');
    const second = await api.patch('/api/users/', { profile_image_media_id: up.media_id }, { token: u.token });
    expect(second.status).toBe(200);
    expect(inspect(await download(second.body.data.user.metadata.profile_image.url))).toMatchObject({ format: 'webp', width: 1024, height: 768, metadata: [] });
  });
});

describe('sizes and variants', () => {
  it('1200×900 gets WebP variants 320×240, 640×480, 1080×810; 300 px wide gets none; 3000 px is scaled to 2048', async () => {
    const u = await h.register();
    const plain = (w: number, hgt: number) => halves(w, hgt).png().toBuffer();
    const res = await h.postMultipart(u, 'sizes', [{ bytes: await plain(1200, 900) }, { bytes: await plain(300, 200) }, { bytes: await plain(3000, 1500) }]);
    expect(res.status).toBe(201);
    const [big, small, huge] = (await getPost(u, res.body.data.post_id)).images;
    expect([big.width, big.height]).toEqual([1200, 900]);
    expect(big.variants.map((v: any) => [v.width, v.height])).toEqual([
      [320, 240],
      [640, 480],
      [1080, 810],
    ]);
    expect([small.width, small.height, small.variants]).toEqual([300, 200, []]);
    expect([huge.width, huge.height, huge.variants.length]).toEqual([2048, 1024, 3]);
    for (const im of [big, small, huge]) await expectClean(im);
  });
});

describe('pixel bounds: refused from the header, nothing stored', () => {
  it.each([
    ['100 000 × 100 000', 100_000, 100_000],
    ['10 001 px wide', 10_001, 10],
    ['56 megapixels', 8000, 7000],
  ])('multipart: a tiny PNG claiming %s → 422 on body.images', async (_name, w, hgt) => {
    const u = await h.register();
    const bytes = pngClaiming(w, hgt);
    expect(bytes.length).toBeLessThan(100);
    // A good image first (stored, with variants), then the bomb: the first one's objects go again.
    const res = await h.postMultipart(u, 'bomb', [{ bytes: await halves(1200, 900).jpeg().toBuffer(), type: 'image/jpeg' }, { bytes }]);
    expectError(res, 422);
    expect(res.body.errors[0].field).toBe('body.images');
    expect((await api.get(`/api/posts?user_id=${u.id}`, { token: u.token })).body.data.posts).toEqual([]);
    expect(await keysOf(u)).toEqual([]);
  });

  it('multipart: the header decides before the rest arrives (a 21 MiB file claiming 100 000 × 100 000 is 422, not 413)', async () => {
    const u = await h.register();
    const tiny = pngClaiming(100_000, 100_000);
    const padding = pngChunk('prVt', Buffer.alloc(21 * 1024 * 1024, 0x61)); // an ancillary chunk decoders skip
    const res = await h.postMultipart(u, 'big bomb', [{ bytes: withPngChunks(tiny, [padding]) }]);
    expectError(res, 422);
    expect(res.body.errors[0].field).toBe('body.images');
    expect(await keysOf(u)).toEqual([]);
  });

  it('direct upload and profile image: the same PNG → 422 on its field; nothing but the client’s own upload exists', async () => {
    const u = await h.register();
    const up = await directUpload(u, pngClaiming(100_000, 100_000), 'image/png');
    const res = await api.post('/api/posts', { content: 'bomb', media_ids: [up.media_id] }, { token: u.token });
    expectError(res, 422);
    expect(res.body.errors[0].field).toBe('body.media_ids');
    const asAvatar = await api.patch('/api/users/', { profile_image_media_id: up.media_id }, { token: u.token });
    expectError(asAvatar, 422);
    expect(asAvatar.body.errors[0].field).toBe('body.profile_image_media_id');
    expect(await keysOf(u)).toEqual([`media/${u.id}/${up.media_id}`]);

    const form = new FormData();
    form.append('profile_image', new Blob([pngClaiming(100_000, 100_000)], { type: 'image/png' }), 'bomb.png');
    const multipart = await api.patch('/api/users/', form, { token: u.token });
    expectError(multipart, 422);
    expect(multipart.body.errors[0].field).toBe('body.profile_image');
    expect((await api.get('/api/users/me', { token: u.token })).body.data.user.metadata.profile_image).toBeUndefined();
    expect(await keysOf(u)).toEqual([`media/${u.id}/${up.media_id}`]);
  });

  it('a file whose header reads but whose pixels do not decode → 415, nothing stored', async () => {
    const u = await h.register();
    const whole = await halves(600, 400).jpeg().toBuffer();
    const truncated = whole.subarray(0, Math.floor(whole.length / 2));
    expectError(await h.postMultipart(u, 'broken', [{ bytes: truncated, type: 'image/jpeg' }]), 415);
    expect(await keysOf(u)).toEqual([]);
  });
});

describe('objects go with their post and profile image', () => {
  it('deleting a post deletes its full-size images and every variant; a replaced avatar goes with its variants', async () => {
    const u = await h.register();
    const res = await h.postMultipart(u, 'to delete', [
      { bytes: await halves(1200, 900).png().toBuffer() },
      { bytes: await taggedWebp(700, 500), type: 'image/webp' },
    ]);
    expect(res.status).toBe(201);
    const post = await getPost(u, res.body.data.post_id);
    const urls = post.images.flatMap((im: any) => [im.url, ...im.variants.map((v: any) => v.url)]);
    expect(urls).toHaveLength(2 + 3 + 2);
    expect(await keysOf(u)).toHaveLength(7);
    expect((await api.delete(`/api/posts/${post.post_id}`, { token: u.token })).status).toBe(200);
    await waitFor(async () => (await keysOf(u)).length === 0, 20_000);
    for (const url of urls) expect((await fetch(url)).status).toBe(404);

    const avatar = async (bytes: Buffer) => {
      const form = new FormData();
      form.append('profile_image', new Blob([bytes], { type: 'image/jpeg' }), 'me.jpg');
      expect((await api.patch('/api/users/', form, { token: u.token })).status).toBe(200);
      return keysOf(u);
    };
    const first = await avatar(await cameraJpeg());
    expect(first).toHaveLength(3); // 768×1024 and its 320/640 variants
    await avatar(await halves(500, 500).jpeg().toBuffer());
    // The replaced avatar goes when content consumes user.updated: all three of its objects.
    const onlyNew = async () => {
      const keys = await keysOf(u);
      return keys.length === 2 && !keys.some((k) => first.includes(k)); // 500×500 and its 320 variant
    };
    await waitFor(onlyNew, 20_000);
  });
});

describe('direct uploads cannot change what is served', () => {
  it('writing to the presigned URL again after the post exists changes nothing that is served', async () => {
    const u = await h.register();
    const original = await halves(800, 600).jpeg().toBuffer();
    const res = await api.post('/api/media/uploads', { content_type: 'image/jpeg', size_bytes: original.length }, { token: u.token });
    const up = res.body.data as { media_id: string; upload: { url: string; fields: Record<string, string> } };
    await sendToS3(up.upload, original, 'image/jpeg');
    const created = await api.post('/api/posts', { content: 'mine', media_ids: [up.media_id] }, { token: u.token });
    expect(created.status).toBe(201);
    const before = (await getPost(u, created.body.data.post_id)).images[0];
    const served = await Promise.all([before.url, ...before.variants.map((v: any) => v.url)].map(download));

    // Same policy, same key, other bytes (smaller than the declared size, so the policy allows it).
    const replacement = await sharp({ create: { width: 40, height: 40, channels: 3, background: '#0f0' } })
      .jpeg()
      .toBuffer();
    await sendToS3(up.upload, replacement, 'image/jpeg');

    const after = (await getPost(u, created.body.data.post_id)).images[0];
    expect([after.width, after.height, after.variants.length]).toEqual([800, 600, 2]);
    const now = await Promise.all([after.url, ...after.variants.map((v: any) => v.url)].map(download));
    now.forEach((bytes, i) => expect(bytes.equals(served[i]!)).toBe(true));
    expect(isRed(await pixel(now[0]!, 100, 300))).toBe(true);
  });
});

describe('memory', () => {
  // The whole server side runs in this process (gateway, services, the S3 stand-in); the ten
  // clients run in a child process so that their request bodies do not count. The pool decodes
  // IMAGE_CONCURRENCY images at once (1 on 2 cores); the uploads wait for it on scratch files, not in memory.
  const RSS_GROWTH_BOUND_MIB = 350;

  /** Posts `bytes` as one multipart image for each token at once, from another process; answers the statuses and post ids. */
  function postFromChild(file: string, tokens: string[]): Promise<Array<{ status: number; postId?: string }>> {
    const script = `
      const bytes = require('node:fs').readFileSync(process.env.PHOTO);
      Promise.all(JSON.parse(process.env.TOKENS).map(async (token) => {
        const form = new FormData();
        form.append('content', 'big');
        form.append('images', new Blob([bytes], { type: 'image/jpeg' }), 'big.jpg');
        const res = await fetch(process.env.URL + '/api/posts', { method: 'POST', body: form, headers: { authorization: 'Bearer ' + token } });
        const body = await res.json();
        return { status: res.status, postId: body.data && body.data.post_id };
      })).then((r) => process.stdout.write(JSON.stringify(r)), (e) => { console.error(e); process.exit(1); });`;
    return new Promise((resolve, reject) => {
      execFile(
        process.execPath,
        ['-e', script],
        { env: { ...process.env, PHOTO: file, TOKENS: JSON.stringify(tokens), URL: stack.url }, maxBuffer: 1 << 20 },
        (err, stdout) => (err ? reject(err) : resolve(JSON.parse(stdout) as Array<{ status: number; postId?: string }>)),
      );
    });
  }

  it(`ten ~19 MiB photos (14.5 MP JPEG) posted at once all complete, the server's RSS growing by less than ${RSS_GROWTH_BOUND_MIB} MiB`, async () => {
    const w = 4400;
    const hgt = 3300;
    const file = join(tmpdir(), `shutter-photo-${process.pid}.jpg`);
    const photo = await sharp(randomBytes(w * hgt * 3), { raw: { width: w, height: hgt, channels: 3 } })
      .jpeg({ quality: 100 })
      .toFile(file);
    expect(photo.size).toBeGreaterThan(18 * 1024 * 1024);
    expect(photo.size).toBeLessThan(20 * 1024 * 1024);
    const users = await Promise.all(Array.from({ length: 10 }, () => h.register()));
    global.gc?.();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
    try {
      const results = await postFromChild(
        file,
        users.map((u) => u.token),
      );
      expect(results.map((r) => r.status)).toEqual(Array(10).fill(201));
      const post = await getPost(users[0]!, results[0]!.postId!);
      expect([post.images[0].width, post.images[0].height, post.images[0].variants.length]).toEqual([2048, 1536, 3]);
    } finally {
      clearInterval(sampler);
      await rm(file, { force: true });
    }
    const growthMiB = (peak - baseline) / 1024 / 1024;
    console.log(
      `ten concurrent 19 MiB uploads: server RSS ${Math.round(baseline / 1048576)} → peak ${Math.round(peak / 1048576)} MiB (+${Math.round(growthMiB)})`,
    );
    expect(growthMiB).toBeLessThan(RSS_GROWTH_BOUND_MIB);
    // Full size and three variants each, nothing else.
    for (const u of users) expect(await keysOf(u)).toHaveLength(4);
  }, 180_000);
});
