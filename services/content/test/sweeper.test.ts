import { createLogger, createMetrics, newId } from '@shutter/kit';
import { listKeys, png, testEnv } from '@shutter/testing';
import { loadContentConfig } from '../src/config';
import { mediaKey } from '../src/media/media-repository';
import { createContentService, type ContentService } from '../src/server';

let service: ContentService;

beforeAll(() => {
  // Built, not started: the sweep is called directly.
  service = createContentService(loadContentConfig(testEnv()), createLogger('test', 'silent'), createMetrics('content'));
});
afterAll(() => service?.stop(100));

async function storedMedia(ownerId: string, opts: { expired: boolean; used: boolean; usedAgoMs?: number }) {
  const id = newId();
  const key = mediaKey(ownerId, id);
  const writer = service.storage.writer(key, 'image/png');
  await writer.write(png(1, 1));
  await writer.finish();
  await service.db('media').insert({
    id,
    owner_id: ownerId,
    key,
    source: 'presigned',
    declared_type: 'image/png',
    max_bytes: 100,
    expires_at: new Date(Date.now() + (opts.expired ? -60_000 : 3_600_000)),
    ...(opts.used ? { used_at: new Date(Date.now() - (opts.usedAgoMs ?? 0)), used_for: 'profile' } : {}),
  });
  return { id, key };
}

describe('the sweeper', () => {
  it('deletes expired unused media and orphaned avatars with their objects, keeps the rest, and drops day-old idempotency keys', async () => {
    const owner = newId();
    const expired = await storedMedia(owner, { expired: true, used: false });
    const fresh = await storedMedia(owner, { expired: false, used: false });
    const used = await storedMedia(owner, { expired: true, used: true });
    // Avatars: the current one stays; one claimed 2 hours ago but never applied goes.
    const avatar = await storedMedia(owner, { expired: true, used: true, usedAgoMs: 2 * 3600_000 });
    const orphan = await storedMedia(owner, { expired: true, used: true, usedAgoMs: 2 * 3600_000 });
    await service.db('authors').insert({ id: owner, username: `u${owner.slice(-8)}`, is_public: false, profile_image_key: avatar.key });
    await service.db('idempotency_keys').insert([
      { user_id: owner, key: 'old', fingerprint: 'f', post_id: newId(), created_at: new Date(Date.now() - 25 * 3600_000) },
      { user_id: owner, key: 'new', fingerprint: 'f', post_id: newId() },
    ]);

    await service.sweeper.sweep();

    expect((await listKeys(`media/${owner}/`)).sort()).toEqual([fresh.key, used.key, avatar.key].sort());
    expect((await service.db('media').where({ owner_id: owner }).pluck('id')).sort()).toEqual([fresh.id, used.id, avatar.id].sort());
    expect(await service.db('media').where({ id: expired.id }).first()).toBeUndefined();
    expect(await service.db('media').where({ id: orphan.id }).first()).toBeUndefined();
    expect(await service.db('idempotency_keys').where({ user_id: owner }).pluck('key')).toEqual(['new']);
  });
});

describe('the sweeper and processed images', () => {
  /** A processed media row (as the pipeline leaves it) with its full-size object and two variants stored. */
  async function processedMedia(ownerId: string, opts: { used: boolean; expired: boolean; createdAgoMs: number; uploaded: boolean }) {
    const id = newId();
    const key = mediaKey(ownerId, id);
    const base = `${key}/abc123/`;
    const variants = [320, 640].map((w) => ({ key: `${base}w${w}.webp`, width: w, height: w }));
    for (const k of [`${base}full.png`, ...variants.map((v) => v.key), ...(opts.uploaded ? [key] : [])]) await service.storage.put(k, png(1, 1), 'image/png');
    await service.db('media').insert({
      id,
      owner_id: ownerId,
      key,
      source: 'presigned',
      declared_type: 'image/png',
      max_bytes: 100,
      processed_key: `${base}full.png`,
      variants: JSON.stringify(variants),
      processed_at: new Date(),
      expires_at: new Date(Date.now() + (opts.expired ? -60_000 : 3_600_000)),
      created_at: new Date(Date.now() - opts.createdAgoMs),
      ...(opts.used ? { used_at: new Date(), used_for: 'post' } : {}),
    });
    return { id, key, processed: [`${base}full.png`, ...variants.map((v) => v.key)] };
  }

  it('deletes every object of an expired unused media; deletes a used upload’s own object once its presigned POST expired', async () => {
    const owner = newId();
    const expired = await processedMedia(owner, { used: false, expired: true, createdAgoMs: 0, uploaded: true });
    // Used an hour ago: the client wrote its object again after use; it goes, the processed ones stay.
    const old = await processedMedia(owner, { used: true, expired: true, createdAgoMs: 3_600_000, uploaded: true });
    // Used within the upload window: its object may still be rewritten; swept on a later pass.
    const recent = await processedMedia(owner, { used: true, expired: false, createdAgoMs: 60_000, uploaded: true });

    await service.sweeper.sweep();

    const keys = await listKeys(`media/${owner}/`);
    expect(keys.sort()).toEqual([...old.processed, ...recent.processed, recent.key].sort());
    expect(await service.db('media').where({ id: expired.id }).first()).toBeUndefined();
    expect((await service.db('media').where({ id: old.id }).first()).original_deleted_at).not.toBeNull();
    expect((await service.db('media').where({ id: recent.id }).first()).original_deleted_at).toBeNull();
  });
});
