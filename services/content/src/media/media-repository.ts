import type { Knex } from '@shutter/kit';

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
}

export type NewMedia = Pick<MediaRow, 'id' | 'owner_id' | 'key' | 'source' | 'declared_type' | 'max_bytes' | 'expires_at'> &
  Partial<Pick<MediaRow, 'content_type' | 'size_bytes' | 'width' | 'height' | 'sha256' | 'verified_at'>>;

/** Object key of a media id: per owner, so one user's objects can be listed and audited. */
export const mediaKey = (ownerId: string, mediaId: string) => `media/${ownerId}/${mediaId}`;

export function createMediaRepository(db: Knex) {
  return {
    async insert(row: NewMedia): Promise<void> {
      await db('media').insert(row);
    },

    async findMany(ids: string[]): Promise<Map<string, MediaRow>> {
      const rows = ids.length ? await db<MediaRow>('media').whereIn('id', ids) : [];
      return new Map(rows.map((r) => [r.id, { ...r, max_bytes: Number(r.max_bytes), size_bytes: r.size_bytes === null ? null : Number(r.size_bytes) }]));
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

    /** A profile image content stored (the avatar identity just replaced), or undefined. */
    async profileImageByKey(trx: Knex, key: string): Promise<MediaRow | undefined> {
      return trx<MediaRow>('media').where({ key, used_for: 'profile' }).first();
    },
  };
}

export type MediaRepository = ReturnType<typeof createMediaRepository>;
