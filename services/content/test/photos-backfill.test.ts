import sharp from 'sharp';
import { createLogger, createMetrics, newId } from '@shutter/kit';
import { inspect, listKeys, pngClaiming, testEnv } from '@shutter/testing';
import { loadContentConfig } from '../src/config';
import { createMediaRepository, mediaKey } from '../src/media/media-repository';
import { createContentService, type ContentService } from '../src/server';

let service: ContentService;

beforeAll(() => {
  // Built, not started: the backfill and the sweep are called directly, as the command does.
  service = createContentService(loadContentConfig(testEnv()), createLogger('test', 'silent'), createMetrics('content'));
});
afterAll(() => service?.stop(100));

const photo = (w: number, h: number) =>
  sharp({ create: { width: w, height: h, channels: 3, background: '#c33' } })
    .withExif({ IFD0: { Make: 'Legacy Cam' }, IFD2: { BodySerialNumber: 'SN-LEGACY-1' } })
    .withMetadata({ orientation: 6 })
    .jpeg()
    .toBuffer();

async function readObject(key: string): Promise<Buffer> {
  const res = await fetch((await service.storage.urls.sign(key)).url);
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

/** An image as it was stored before the pipeline: the uploaded bytes at `media/<owner>/<id>`, used. */
async function legacyImage(owner: string, bytes: Buffer | null, use: { postId?: string; profile?: boolean }) {
  const id = newId();
  const key = mediaKey(owner, id);
  if (bytes) await service.storage.put(key, bytes, 'image/jpeg');
  await service.db('media').insert({
    id,
    owner_id: owner,
    key,
    source: 'presigned',
    declared_type: 'image/jpeg',
    max_bytes: 1 << 20,
    width: 1200,
    height: 900,
    verified_at: new Date(),
    used_at: new Date(),
    used_for: use.profile ? 'profile' : 'post',
    post_id: use.postId ?? null,
    expires_at: new Date(Date.now() + 3_600_000),
    created_at: new Date(Date.now() - 3_600_000),
  });
  if (use.postId) await service.db('post_images').insert({ post_id: use.postId, position: 0, media_id: id, key, width: 900, height: 1200 });
  return { id, key };
}

async function legacyPost(owner: string) {
  const postId = newId();
  await service.db('posts').insert({ id: postId, author_id: owner, content: 'from before' });
  return postId;
}

describe('backfill-photos', () => {
  it('processes legacy post images and avatars once, resumably; refusals are recorded, not retried', async () => {
    const owner = newId();
    await service.db('authors').insert({ id: owner, username: `b${owner.slice(-8)}`, is_public: true });
    const postId = await legacyPost(owner);
    const postImage = await legacyImage(owner, await photo(1200, 900), { postId });
    const avatar = await legacyImage(owner, await photo(2000, 1500), { profile: true });
    await service.db('authors').where({ id: owner }).update({ profile_image_key: avatar.key });
    const bombPost = await legacyPost(owner);
    const bomb = await legacyImage(owner, pngClaiming(100_000, 100_000), { postId: bombPost });
    const gone = await legacyImage(owner, null, { postId: await legacyPost(owner) });
    const mine = async () => service.db('media').where({ owner_id: owner }).orderBy('id');

    // Stopped after one image: a rerun continues. (Other test files may add legacy rows of their own.)
    const first = await service.backfill.run({ limit: 1 });
    expect(first.processed + first.failed).toBe(1);
    expect(first.remaining).toBeGreaterThan(0);
    await service.backfill.run({ batch: 2 });
    expect((await mine()).filter((m) => m.processed_key).map((m) => m.id)).toEqual([postImage.id, avatar.id]);
    expect((await mine()).filter((m) => m.process_error).map((m) => m.id)).toEqual([bomb.id, gone.id]);
    const rows = await mine();
    expect(rows.find((m) => m.id === bomb.id).process_error).toMatch(/at most 10000 px/);
    expect(rows.find((m) => m.id === gone.id).process_error).toMatch(/no longer exists/);

    // The post image now points at its processed copy: oriented, bounded, clean, with variants.
    const [image] = await service.db('post_images').where({ post_id: postId });
    expect(image.key).not.toBe(postImage.key);
    expect([image.width, image.height, image.variants.map((v: { width: number }) => v.width), typeof image.blurhash]).toEqual([
      900,
      1200,
      [320, 640],
      'string',
    ]);
    expect(inspect(await readObject(image.key))).toMatchObject({ format: 'jpeg', width: 900, height: 1200, metadata: [] });
    // The avatar keeps identity's key, which now resolves to a 1024-px processed copy.
    const served = await service.db('media').where({ id: avatar.id }).first();
    expect(Object.fromEntries(await createMediaRepository(service.db).processedKeysOf([avatar.key]))).toEqual({ [avatar.key]: served.processed_key });
    expect(inspect(await readObject(served.processed_key))).toMatchObject({ width: 768, height: 1024, metadata: [] });

    // A refused image is no longer served: its post keeps its text, not the image.
    expect(await service.db('post_images').where({ post_id: bombPost })).toEqual([]);
    // Uploaded objects are gone; what remains is what the pipeline made.
    const keys = await listKeys(`media/${owner}/`);
    expect(keys.filter((k) => k.split('/').length === 3)).toEqual([]);
    expect(keys).toHaveLength(2 + 2 + 2); // post image + 320/640, avatar + 320/640

    // Idempotent: a second run changes nothing of this owner's.
    const before = await mine();
    await service.backfill.run();
    expect(await mine()).toEqual(before);
    expect((await listKeys(`media/${owner}/`)).sort()).toEqual(keys.sort());
  });
});

describe('MEDIA_KEEP_ORIGINALS', () => {
  let keeping: ContentService;
  beforeAll(() => {
    keeping = createContentService(loadContentConfig(testEnv({ MEDIA_KEEP_ORIGINALS: 'true' })), createLogger('test', 'silent'), createMetrics('content'));
  });
  afterAll(() => keeping?.stop(100));

  it('keeps the uploaded object beside the processed one, through the backfill and the sweeper', async () => {
    const owner = newId();
    const postId = await legacyPost(owner);
    const image = await legacyImage(owner, await photo(800, 600), { postId });
    await keeping.backfill.run();
    await keeping.sweeper.sweep();
    const row = await keeping.db('media').where({ id: image.id }).first();
    expect(row.processed_key).toEqual(expect.any(String));
    expect(row.original_deleted_at).toBeNull();
    const keys = await listKeys(`media/${owner}/`);
    expect(keys).toContain(image.key);
    expect(keys).toContain(row.processed_key);
    // Kept, never served: the post shows the processed copy.
    expect((await keeping.db('post_images').where({ post_id: postId }).first()).key).toBe(row.processed_key);
  });
});
