import { Gauge } from 'prom-client';
import { isBackendUnavailable, type Logger, type Metrics, type Redis } from '@shutter/kit';
import type { Knex } from '@shutter/kit/db';

/**
 * Markers (versioned.ts) that a user-facing write could not place because Redis was unreachable.
 *
 * A like, a comment or a post edit must not fail because a cache is down. When its marker cannot
 * be written, the write commits anyway and the marker is recorded in `pending_cache_marks` in the
 * same transaction; this loop places recorded markers once Redis answers (on start and every
 * REPLAY_INTERVAL_MS) and then deletes them. While Redis is down every read is answered by
 * Postgres, so nothing stale is served then.
 *
 * Residual risk: a Redis that kept its data through the outage (a partition or a pause, not a
 * restart) can serve the copy from before the change between answering again and the replay: at
 * most REPLAY_INTERVAL_MS plus one replay. (A partition that cuts off only some content processes
 * lets the others serve that copy for as long as it lasts.) Hence only copies that decide no
 * access defer: the likes sets and the posts' forms. The followees sets and the authors' forms
 * (visibility) are changed by event consumers, which fail and retry instead.
 *
 * Cost: one SELECT of a (normally empty) table per interval while Redis is up; nothing while down.
 */

/** How often recorded markers are retried: the bound on serving a stale copy after an outage. */
export const REPLAY_INTERVAL_MS = 1000;
const BATCH = 500;

/** In the write's transaction: the marker of `cache`'s `id` at `version` is owed (the highest owed is kept). */
export async function recordPendingMark(trx: Knex, cache: string, id: string, version: number): Promise<void> {
  await trx.raw(
    `INSERT INTO pending_cache_marks (cache, id, version) VALUES (?, ?, ?)
     ON CONFLICT (cache, id) DO UPDATE SET version = GREATEST(pending_cache_marks.version, EXCLUDED.version)`,
    [cache, id, version],
  );
}

/** A versioned cache as the replay sees it. */
export interface MarkedCache {
  name: string;
  replayMark(id: string, version: number): Promise<void>;
}

export function createMarkReplay(deps: { db: Knex; redis: Redis; log: Logger; caches: MarkedCache[]; intervalMs?: number; metrics?: Metrics }) {
  const { db, redis, log } = deps;
  if (deps.metrics && !deps.metrics.registry.getSingleMetric('cache_pending_marks')) {
    // At scrape time; above 0 for longer than an outage means the replay is failing (its log says why).
    new Gauge({
      name: 'cache_pending_marks',
      help: 'Cache markers owed by writes that committed while Redis was unreachable, not yet placed',
      registers: [deps.metrics.registry],
      async collect() {
        const row = await db('pending_cache_marks')
          .count<{ n: string }[]>('* as n')
          .first()
          .catch(() => undefined);
        if (row) this.set(Number(row.n));
      },
    });
  }
  const byName = new Map(deps.caches.map((c) => [c.name, c]));
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  /** Places every recorded marker; answers how many. Rows recorded meanwhile at a higher version stay for the next pass. */
  async function replay(): Promise<number> {
    let placed = 0;
    for (;;) {
      // Names this release does not know (a rolled-back newer one's) are left for it.
      const rows = (await db('pending_cache_marks')
        .whereIn('cache', [...byName.keys()])
        .orderBy('recorded_at')
        .limit(BATCH)
        .select('cache', 'id', 'version')) as Array<{
        cache: string;
        id: string;
        version: string;
      }>;
      if (rows.length === 0) return placed;
      await Promise.all(rows.map((r) => byName.get(r.cache)!.replayMark(r.id, Number(r.version))));
      await db.raw(
        `DELETE FROM pending_cache_marks p USING unnest(?::text[], ?::text[], ?::bigint[]) AS d(cache, id, version)
          WHERE p.cache = d.cache AND p.id = d.id AND p.version = d.version`,
        [rows.map((r) => r.cache), rows.map((r) => r.id), rows.map((r) => r.version)],
      );
      placed += rows.length;
      if (rows.length < BATCH) return placed;
    }
  }

  const tick = () => {
    if (running || redis.status !== 'ready') return;
    running = replay()
      .then((n) => {
        if (n) log.info({ markers: n }, 'placed cache markers recorded while Redis was unreachable');
      })
      .catch((err: unknown) => {
        if (!isBackendUnavailable(err)) log.warn({ err }, 'cache marker replay failed; retrying next interval');
      })
      .finally(() => {
        running = undefined;
      });
  };

  return {
    replay,
    start() {
      tick();
      timer = setInterval(tick, deps.intervalMs ?? REPLAY_INTERVAL_MS);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      await running;
    },
  };
}

export type MarkReplay = ReturnType<typeof createMarkReplay>;
