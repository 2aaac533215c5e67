import type { Knex } from '@shutter/kit/db';

export interface MediaRow {
  id: string;
  owner_id: string;
  key: string;
  source: 'stream' | 'presigned';
  declared_type: string;
  max_bytes: number;
  content_type: string | null;
  size_bytes: number | null;
  width: number | null;
  height: number | null;
  sha256: string | null;
  verified_at: Date | null;
  used_for: 'post' | 'profile' | null;
  used_at: Date | null;
  post_id: string | null;
  expires_at: Date;
  created_at: Date;
  /** What the photo pipeline made of it (null before processing, or for a legacy image). */
  processed_key: string | null;
  processed_type: string | null;
  processed_long_side: number | null;
  blurhash: string | null;
  variants: StoredVariant[];
  processed_at: Date | null;
  original_deleted_at: Date | null;
  process_error: string | null;
}

/** A sized WebP copy of a processed image. */
export interface StoredVariant {
  key: string;
  width: number;
  height: number;
}

/** The pipeline's result as stored: the served full-size object and its variants. */
export interface ProcessedMedia {
  processedKey: string;
  processedType: string;
  longSide: number;
  width: number;
  height: number;
  blurhash: string;
  variants: StoredVariant[];
}

/** Every object a media row may own: the uploaded (or kept original) object, the processed one, its variants. */
export const objectKeysOf = (row: Pick<MediaRow, 'key' | 'processed_key' | 'variants'>): string[] => [
  row.key,
  ...(row.processed_key ? [row.processed_key] : []),
  ...(row.variants ?? []).map((v) => v.key),
];

export type NewMedia = Pick<MediaRow, 'id' | 'owner_id' | 'key' | 'source' | 'declared_type' | 'max_bytes' | 'expires_at'> &
  Partial<Pick<MediaRow, 'content_type' | 'size_bytes' | 'width' | 'height' | 'sha256' | 'verified_at' | 'original_deleted_at'>>;

/** Media columns of a processing result. */
export const processedColumns = (p: ProcessedMedia) => ({
  processed_key: p.processedKey,
  processed_type: p.processedType,
  processed_long_side: p.longSide,
  width: p.width,
  height: p.height,
  blurhash: p.blurhash,
  variants: JSON.stringify(p.variants),
  processed_at: new Date(),
  process_error: null,
});

/**
 * Keys of processed objects sit below the uploaded object's key with a fresh random revision:
 * `media/<owner>/<media id>/<rev>/full.jpg`, `…/w320.webp`. A presigned POST names one exact key,
 * so no client can ever write to these, and a re-processing never overwrites a served object.
 */
export const processedKeyBase = (ownerId: string, mediaId: string, rev: string) => `${mediaKey(ownerId, mediaId)}/${rev}/`;

/** Keys from before the pipeline: `media/<owner>/<media id>`, served as uploaded until backfilled. */
export const isLegacyKey = (key: string) => key.split('/').length === 3;

/** Object key of a media id: per owner, so one user's objects can be listed and audited. */
export const mediaKey = (ownerId: string, mediaId: string) => `media/${ownerId}/${mediaId}`;

/** What sweeping a row deletes: the row and every object it owns. */
export type SweptMedia = Pick<MediaRow, 'id' | 'key' | 'processed_key' | 'variants'>;
const SWEPT_COLUMNS = ['id', 'key', 'processed_key', 'variants'] as const;

/** Used images still without a processed copy and without a recorded refusal (the backfill's work). */
const backfillPending = (q: Knex.QueryBuilder) => q.whereNull('processed_key').whereNotNull('used_at').whereNull('process_error');

const normalise = (r: MediaRow): MediaRow => ({
  ...r,
  max_bytes: Number(r.max_bytes),
  size_bytes: r.size_bytes === null ? null : Number(r.size_bytes),
  variants: r.variants ?? [],
});

export function createMediaRepository(db: Knex) {
  return {
    async insert(row: NewMedia & Partial<ReturnType<typeof processedColumns>>): Promise<void> {
      await db('media').insert(row);
    },

    async findMany(ids: string[]): Promise<Map<string, MediaRow>> {
      const rows = ids.length ? await db<MediaRow>('media').whereIn('id', ids) : [];
      return new Map(rows.map((r) => [r.id, normalise(r)]));
    },

    async find(id: string): Promise<MediaRow | undefined> {
      const row = await db<MediaRow>('media').where({ id }).first();
      return row && normalise(row);
    },

    /**
     * Records a processing result unless another request processed the row meanwhile
     * (`previousKey` is what the caller saw); answers whether it was recorded.
     */
    async markProcessed(id: string, previousKey: string | null, p: ProcessedMedia, extra: { contentType: string; size: number }): Promise<boolean> {
      const rows = await db('media')
        .where({ id })
        .whereRaw('processed_key IS NOT DISTINCT FROM ?', [previousKey])
        .update({ ...processedColumns(p), content_type: extra.contentType, size_bytes: extra.size, verified_at: db.fn.now() }, ['id']);
      return rows.length === 1;
    },

    /** Used uploads' rows, for deleting their uploaded objects after use. */
    async presignedAmong(ids: string[]): Promise<MediaRow[]> {
      if (ids.length === 0) return [];
      return db<MediaRow>('media').whereIn('id', ids).andWhere({ source: 'presigned' });
    },

    /**
     * What is served for each key that names a processed image, by its processed key or its
     * uploaded one (a backfilled legacy avatar): two unique-index probes.
     */
    async servedImages(keys: string[]): Promise<Map<string, { servedKey: string; blurhash: string; variants: StoredVariant[] }>> {
      const out = new Map<string, { servedKey: string; blurhash: string; variants: StoredVariant[] }>();
      if (keys.length === 0) return out;
      const rows: Array<Pick<MediaRow, 'key' | 'processed_key' | 'blurhash' | 'variants'>> = await db('media')
        .where((q) => {
          q.whereIn('processed_key', keys).orWhereIn('key', keys.filter(isLegacyKey));
        })
        .whereNotNull('processed_key')
        .select('key', 'processed_key', 'blurhash', 'variants');
      for (const r of rows) {
        const served = { servedKey: r.processed_key!, blurhash: r.blurhash ?? '', variants: r.variants ?? [] };
        out.set(r.processed_key!, served);
        out.set(r.key, served);
      }
      return out;
    },

    /** The processed key of each legacy key that has one by now (a backfilled image). */
    async processedKeysOf(keys: string[]): Promise<Map<string, string>> {
      const legacy = keys.filter(isLegacyKey);
      if (legacy.length === 0) return new Map();
      const rows: Array<{ key: string; processed_key: string }> = await db('media')
        .whereIn('key', legacy)
        .whereNotNull('processed_key')
        .select('key', 'processed_key');
      return new Map(rows.map((r) => [r.key, r.processed_key]));
    },

    async markVerified(id: string, info: { contentType: string; size: number; width: number; height: number }): Promise<void> {
      await db('media')
        .where({ id })
        .update({ content_type: info.contentType, size_bytes: info.size, width: info.width, height: info.height, verified_at: db.fn.now() });
    },

    /**
     * Marks the owner's unused media used, in the caller's transaction; answers how many were.
     * Fewer than asked means another request used one first.
     */
    async claim(trx: Knex, ids: string[], ownerId: string, usedFor: 'post' | 'profile', postId?: string): Promise<number> {
      const rows = await trx('media')
        .whereIn('id', ids)
        .andWhere({ owner_id: ownerId })
        .whereNull('used_at')
        .update({ used_at: trx.fn.now(), used_for: usedFor, post_id: postId ?? null }, ['id']);
      return rows.length;
    },

    /** The owner's unused media among `ids` (what DiscardMedia may delete). */
    async unusedOf(ownerId: string, ids: string[]): Promise<MediaRow[]> {
      if (ids.length === 0) return [];
      return db<MediaRow>('media').whereIn('id', ids).andWhere({ owner_id: ownerId }).whereNull('used_at');
    },

    async deleteByIds(ids: string[], trx: Knex = db): Promise<void> {
      if (ids.length) await trx('media').whereIn('id', ids).delete();
    },

    async deleteByKeys(trx: Knex, keys: string[]): Promise<void> {
      if (keys.length) await trx('media').whereIn('key', keys).delete();
    },

    /** A profile image content stored (the avatar identity just replaced, by either of its keys), or undefined. */
    async profileImageByKey(trx: Knex, key: string): Promise<MediaRow | undefined> {
      return trx<MediaRow>('media')
        .where({ used_for: 'profile' })
        .andWhere((q) => {
          q.where({ key }).orWhere({ processed_key: key });
        })
        .first();
    },

    /** Deletes media rows by id in the caller's transaction. */
    async deleteRows(trx: Knex, ids: string[]): Promise<void> {
      if (ids.length) await trx('media').whereIn('id', ids).delete();
    },

    // ---- sweeping: batches locked FOR UPDATE SKIP LOCKED, so several replicas sweep at once ----

    /** Unused media past their expiry. */
    expiredUnused: (trx: Knex, limit: number): Promise<SweptMedia[]> =>
      trx('media').whereNull('used_at').where('expires_at', '<', trx.fn.now()).forUpdate().skipLocked().limit(limit).select(SWEPT_COLUMNS),

    /** Avatars claimed over an hour ago that are not their owner's image (the profile update failed). */
    async orphanAvatars(trx: Knex, limit: number): Promise<SweptMedia[]> {
      const res = await trx.raw(
        `SELECT m.id, m.key, m.processed_key, m.variants FROM media m JOIN authors a ON a.id = m.owner_id
          WHERE m.used_for = 'profile' AND m.used_at < now() - interval '1 hour'
            AND a.profile_image_key IS DISTINCT FROM m.key
            AND a.profile_image_key IS DISTINCT FROM m.processed_key
          ORDER BY m.used_at LIMIT ? FOR UPDATE OF m SKIP LOCKED`,
        [limit],
      );
      return res.rows as SweptMedia[];
    },

    /** Processed direct uploads used and created over `ageSeconds` ago whose uploaded object is still stored. */
    usedUploadsOlderThan: (trx: Knex, ageSeconds: number, limit: number): Promise<Array<{ id: string; key: string }>> =>
      trx('media')
        .where({ source: 'presigned' })
        .whereNotNull('used_at')
        .whereNull('original_deleted_at')
        .whereNotNull('processed_key')
        .where('created_at', '<', trx.raw("now() - ? * interval '1 second'", [ageSeconds]))
        .forUpdate()
        .skipLocked()
        .limit(limit)
        .select('id', 'key'),

    async markOriginalsDeleted(ids: string[], trx: Knex = db): Promise<void> {
      if (ids.length) await trx('media').whereIn('id', ids).update({ original_deleted_at: trx.fn.now() });
    },

    // ---- the photo backfill ----

    /** Backfill work after id `after`, oldest first. */
    backfillBatch: (after: string, limit: number): Promise<MediaRow[]> => backfillPending(db('media')).where('id', '>', after).orderBy('id').limit(limit),

    async backfillRemaining(): Promise<number> {
      const [left] = (await backfillPending(db('media')).count({ count: '*' })) as Array<{ count: string }>;
      return Number(left?.count ?? 0);
    },

    /** A refused image: the reason recorded (unless processed meanwhile) and its post image row gone. */
    async recordRefused(trx: Knex, id: string, reason: string): Promise<void> {
      await trx('media')
        .where({ id })
        .whereNull('processed_key')
        .update({ process_error: reason.slice(0, 500) });
      await trx('post_images').where({ media_id: id }).delete();
    },

    /** Records a backfilled image (and points its post image at it) unless done meanwhile; answers whether it was. */
    async recordBackfilled(trx: Knex, row: Pick<MediaRow, 'id' | 'post_id'>, p: ProcessedMedia): Promise<boolean> {
      const n = await trx('media').where({ id: row.id }).whereNull('processed_key').update(processedColumns(p), ['id']);
      if (n.length === 0) return false;
      if (row.post_id) {
        await trx('post_images')
          .where({ media_id: row.id })
          .update({ key: p.processedKey, width: p.width, height: p.height, blurhash: p.blurhash, variants: JSON.stringify(p.variants) });
      }
      return true;
    },
  };
}

export type MediaRepository = ReturnType<typeof createMediaRepository>;
