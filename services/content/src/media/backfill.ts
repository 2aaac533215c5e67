import { ServiceError, type Logger } from '@shutter/kit';
import type { Knex } from '@shutter/kit/db';
import type { PostReads } from '../posts/read-path';
import type { MediaStorage } from '../storage/media-storage';
import { objectKeysOf, type MediaRepository, type MediaRow } from './media-repository';
import type { PhotoStore } from './photo-store';

export interface BackfillResult {
  processed: number;
  /** Images the pipeline refuses (over the bounds, undecodable) or whose object is gone: recorded in `process_error`. */
  failed: number;
  /** Used images still without a processed copy and without a recorded error (0 when the run finished). */
  remaining: number;
}

/**
 * Runs the photo pipeline over images uploaded before it existed (used media without a
 * `processed_key`): post images get their `post_images` row pointed at the processed copy (and
 * their cached read form dropped); avatars keep the key identity holds, which SignMediaUrls and
 * comment authors then resolve to the processed copy (media-repository `processedKeysOf`).
 *
 * Idempotent and resumable: each image is committed on its own, guarded by
 * `processed_key IS NULL`, so a rerun (or a second process running at once) skips what is done
 * and a duplicate's objects are deleted. An image the pipeline refuses (over the bounds, not
 * decodable, object gone) is recorded in `process_error`, taken out of its post and skipped from
 * then on. The uploaded object is deleted after its row commits unless MEDIA_KEEP_ORIGINALS.
 */
export function createPhotoBackfill(deps: {
  db: Knex;
  media: MediaRepository;
  storage: MediaStorage;
  photos: PhotoStore;
  reads: PostReads;
  keepOriginals: boolean;
  log: Logger;
}) {
  const { db, media, storage, photos, reads, log } = deps;

  /**
   * An image the pipeline refuses is not served any more: its post loses it (the post itself
   * stays), and its uploaded object goes unless MEDIA_KEEP_ORIGINALS. The row keeps the reason.
   */
  async function fail(row: MediaRow, reason: string): Promise<void> {
    log.warn({ media_id: row.id, key: row.key, reason }, 'backfill: image refused by the photo pipeline; no longer served');
    await db.transaction((trx) => media.recordRefused(trx, row.id, reason));
    if (row.post_id) await reads.postImagesChanged(row.post_id);
    if (!deps.keepOriginals) await storage.deleteMany([row.key]);
  }

  /** One image: answers whether it was processed now (false: refused, or done by someone else). */
  async function one(row: MediaRow): Promise<'processed' | 'failed' | 'skipped'> {
    const purpose = row.used_for === 'profile' ? 'profile' : 'post';
    const path = await photos.tempPath();
    try {
      const size = await storage.download(row.key, path);
      if (size === null) {
        await fail(row, 'the uploaded object no longer exists');
        return 'failed';
      }
      let p;
      try {
        p = await photos.processAndStore(path, { ownerId: row.owner_id, id: row.id }, purpose, 'image');
      } catch (err) {
        // Refusals (bounds, not an image) are the image's; storage errors stop the run (resumable).
        if (err instanceof ServiceError && (err.reason === 'validation_error' || err.reason === 'unsupported_media_type')) {
          await fail(row, err.message);
          return 'failed';
        }
        throw err;
      }
      const recorded = await db.transaction((trx) => media.recordBackfilled(trx, row, p));
      if (!recorded) {
        await storage.deleteMany(objectKeysOf({ key: p.processedKey, processed_key: null, variants: p.variants }));
        return 'skipped';
      }
      if (row.post_id) await reads.postImagesChanged(row.post_id);
      if (!deps.keepOriginals) {
        await storage.deleteMany([row.key]);
        await media.markOriginalsDeleted([row.id]);
      }
      return 'processed';
    } finally {
      await photos.removeTemp(path);
    }
  }

  return {
    /** Processes up to `limit` images (default: all), `batch` rows read at a time, oldest first. */
    async run(opts: { batch?: number; limit?: number; signal?: AbortSignal } = {}): Promise<BackfillResult> {
      const batch = opts.batch ?? 50;
      const result: BackfillResult = { processed: 0, failed: 0, remaining: 0 };
      let after = '00000000-0000-0000-0000-000000000000';
      let budget = opts.limit ?? Infinity;
      while (budget > 0 && !opts.signal?.aborted) {
        const rows = await media.backfillBatch(after, Math.min(batch, budget));
        if (rows.length === 0) break;
        for (const row of rows) {
          if (opts.signal?.aborted) break;
          after = row.id;
          budget -= 1;
          const outcome = await one({ ...row, variants: row.variants ?? [] });
          if (outcome === 'processed') result.processed += 1;
          else if (outcome === 'failed') result.failed += 1;
        }
        log.info({ ...result }, 'backfill: progress');
      }
      result.remaining = await media.backfillRemaining();
      return result;
    },
  };
}

export type PhotoBackfill = ReturnType<typeof createPhotoBackfill>;
