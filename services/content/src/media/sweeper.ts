import type { Knex, Logger } from '@shutter/kit';
import type { IdempotencyKeys } from '../posts/idempotency';
import type { MediaStorage } from '../storage/media-storage';

const BATCH = 200;

/**
 * Deletes what was never used: media past their expiry (presigned POSTs never posted, uploads of
 * a request that died before it could clean up) and orphaned avatars, with their objects; and
 * expired idempotency keys.
 * Rows are taken FOR UPDATE SKIP LOCKED, so several replicas can sweep at once.
 */
export function createSweeper(deps: { db: Knex; storage: MediaStorage; idempotency: IdempotencyKeys; log: Logger; intervalMs: number }) {
  const { db, storage, log } = deps;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  async function sweepMediaBatch(): Promise<number> {
    return db.transaction(async (trx) => {
      const rows: Array<{ id: string; key: string }> = await trx('media').whereNull('used_at').where('expires_at', '<', trx.fn.now()).forUpdate().skipLocked().limit(BATCH).select('id', 'key');
      if (rows.length === 0) return 0;
      await storage.deleteMany(rows.map((r) => r.key));
      await trx('media').whereIn('id', rows.map((r) => r.id)).delete();
      return rows.length;
    });
  }

  /**
   * Avatars claimed for a profile update that then failed (identity refused it): used, so never
   * expired, yet no longer the author's image. An hour of grace covers the user.updated event.
   */
  async function sweepOrphanAvatarsBatch(): Promise<number> {
    return db.transaction(async (trx) => {
      const res = await trx.raw(
        `SELECT m.id, m.key FROM media m JOIN authors a ON a.id = m.owner_id
          WHERE m.used_for = 'profile' AND m.used_at < now() - interval '1 hour'
            AND a.profile_image_key IS DISTINCT FROM m.key
          ORDER BY m.used_at LIMIT ${BATCH} FOR UPDATE OF m SKIP LOCKED`,
      );
      const rows = res.rows as Array<{ id: string; key: string }>;
      if (rows.length === 0) return 0;
      await storage.deleteMany(rows.map((r) => r.key));
      await trx('media').whereIn('id', rows.map((r) => r.id)).delete();
      return rows.length;
    });
  }

  async function sweep(): Promise<void> {
    let swept = 0;
    for (let n = BATCH; n === BATCH; swept += n) n = await sweepMediaBatch();
    for (let n = BATCH; n === BATCH; swept += n) n = await sweepOrphanAvatarsBatch();
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
