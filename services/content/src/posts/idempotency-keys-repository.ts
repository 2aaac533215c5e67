import type { Knex } from '@shutter/kit/db';

/** How long an Idempotency-Key answers with its first response (docs/api.md: 24 hours). */
export const IDEMPOTENCY_TTL_SQL = "interval '24 hours'";

/** What a key recorded: the request's fingerprint and the post it created. */
export interface Recorded {
  fingerprint: string;
  postId: string;
}

/**
 * Idempotency keys of post creation, per user. `claim` runs first in the creating transaction:
 * a concurrent request with the same key waits on the primary key until that transaction ends,
 * then sees its record (commit) or claims the key itself (rollback).
 */
export function createIdempotencyKeys(db: Knex) {
  return {
    async find(userId: string, key: string): Promise<Recorded | undefined> {
      const row = await db('idempotency_keys')
        .where({ user_id: userId, key })
        .andWhereRaw(`created_at > now() - ${IDEMPOTENCY_TTL_SQL}`)
        .first('fingerprint', 'post_id');
      return row ? { fingerprint: row.fingerprint, postId: row.post_id } : undefined;
    },

    /** Records the key for `postId`; answers the earlier record instead when there is one. */
    async claim(trx: Knex, userId: string, key: string, fp: string, postId: string): Promise<Recorded | 'claimed'> {
      await trx('idempotency_keys').where({ user_id: userId, key }).andWhereRaw(`created_at <= now() - ${IDEMPOTENCY_TTL_SQL}`).delete();
      const inserted = await trx('idempotency_keys')
        .insert({ user_id: userId, key, fingerprint: fp, post_id: postId })
        .onConflict(['user_id', 'key'])
        .ignore()
        .returning('post_id');
      if (inserted.length > 0) return 'claimed';
      const row = await trx('idempotency_keys').where({ user_id: userId, key }).first('fingerprint', 'post_id');
      return { fingerprint: row.fingerprint, postId: row.post_id };
    },

    async deleteExpired(): Promise<number> {
      return db('idempotency_keys').whereRaw(`created_at <= now() - ${IDEMPOTENCY_TTL_SQL}`).delete();
    },
  };
}

export type IdempotencyKeys = ReturnType<typeof createIdempotencyKeys>;
