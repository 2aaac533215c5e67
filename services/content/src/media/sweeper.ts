import type { Logger } from '@shutter/kit';
import type { Knex } from '@shutter/kit/db';
import type { IdempotencyKeys } from '../posts/idempotency-keys-repository';
import type { MediaStorage } from '../storage/media-storage';
import { objectKeysOf, type MediaRepository, type SweptMedia } from './media-repository';
import type { PhotoStore } from './photo-store';
import { UPLOAD_WINDOW_SECONDS } from './media-service';

const BATCH = 200;

/**
 * Deletes what was never used: media past their expiry (presigned POSTs never posted, uploads of
 * a request that died before it could clean up) and orphaned avatars, with every object they own
 * (uploaded object, processed image, variants); the uploaded objects of used direct uploads once
 * their presigned POST expired (a client may have written them again after use); and expired
 * idempotency keys. Rows are taken FOR UPDATE SKIP LOCKED, so several replicas can sweep at once.
 */
export function createSweeper(deps: {
  db: Knex;
  media: MediaRepository;
  storage: MediaStorage;
  idempotency: IdempotencyKeys;
  log: Logger;
  intervalMs: number;
  keepOriginals?: boolean;
  photos?: Pick<PhotoStore, 'removeStale'>;
}) {
  const { db, media, storage, log } = deps;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  /** Deletes a batch's objects, then its rows, in the transaction that locked them. */
  const sweepBatch = (select: (trx: Knex.Transaction) => Promise<SweptMedia[]>): Promise<number> =>
    db.transaction(async (trx) => {
      const rows = await select(trx);
      if (rows.length === 0) return 0;
      await storage.deleteMany(rows.flatMap(objectKeysOf));
      await media.deleteRows(
        trx,
        rows.map((r) => r.id),
      );
      return rows.length;
    });

  const sweepMediaBatch = () => sweepBatch((trx) => media.expiredUnused(trx, BATCH));

  /**
   * Avatars claimed for a profile update that then failed (identity refused it): used, so never
   * expired, yet no longer the author's image. An hour of grace covers the user.updated event.
   */
  const sweepOrphanAvatarsBatch = () => sweepBatch((trx) => media.orphanAvatars(trx, BATCH));

  /**
   * A used direct upload's own object was deleted at use, but its presigned POST stays valid for
   * UPLOAD_WINDOW_SECONDS: once that has passed (a minute of clock slack) it is deleted for good.
   * Only processed rows: a legacy image waits for the backfill, which reads that object.
   */
  async function sweepUsedUploadsBatch(): Promise<number> {
    if (deps.keepOriginals) return 0;
    return db.transaction(async (trx) => {
      const rows = await media.usedUploadsOlderThan(trx, UPLOAD_WINDOW_SECONDS + 60, BATCH);
      if (rows.length === 0) return 0;
      await storage.deleteMany(rows.map((r) => r.key));
      await media.markOriginalsDeleted(
        rows.map((r) => r.id),
        trx,
      );
      return rows.length;
    });
  }

  async function sweep(): Promise<void> {
    let swept = 0;
    for (let n = BATCH; n === BATCH; swept += n) n = await sweepMediaBatch();
    for (let n = BATCH; n === BATCH; swept += n) n = await sweepOrphanAvatarsBatch();
    for (let n = BATCH; n === BATCH; swept += n) n = await sweepUsedUploadsBatch();
    // An upload is processed within its gRPC deadline (10 minutes): an older scratch file is a crash's.
    const scratch = (await deps.photos?.removeStale(3_600_000)) ?? 0;
    if (scratch) log.warn({ files: scratch }, 'removed scratch files left by an earlier process');
    const keys = await deps.idempotency.deleteExpired();
    if (swept || keys) log.info({ media: swept, idempotency_keys: keys }, 'swept unused media and expired idempotency keys');
  }

  const tick = () => {
    if (running) return;
    running = sweep()
      .catch((err: unknown) => log.warn({ err }, 'sweep failed; retrying next interval'))
      .finally(() => {
        running = undefined;
      });
  };

  return {
    sweep,
    start() {
      timer = setInterval(tick, deps.intervalMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      await running;
    },
  };
}
