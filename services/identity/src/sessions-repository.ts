import { newId } from '@shutter/kit';
import type { Knex } from '@shutter/kit/db';

export interface RefreshTokenRow {
  id: string;
  family_id: string;
  user_id: string;
  token_hash: string;
  expires_at: Date;
  used_at: Date | null;
  revoked_at: Date | null;
}

/** SQL for sign-in sessions and their refresh-token families; the rules live in tokens.ts. */
export function createSessionsRepository(db: Knex) {
  return {
    async insertSession(trx: Knex, id: string, userId: string): Promise<void> {
      await trx('sessions').insert({ id, user_id: userId });
    },

    async insertRefreshToken(trx: Knex, t: { familyId: string; userId: string; tokenHash: string; expiresAt: Date }): Promise<void> {
      await trx('refresh_tokens').insert({ id: newId(), family_id: t.familyId, user_id: t.userId, token_hash: t.tokenHash, expires_at: t.expiresAt });
    },

    /** Ends the matching open sessions and revokes their refresh tokens; answers the ended ids. */
    async endSessions(trx: Knex, where: { id?: string; user_id?: string }, reason: string): Promise<string[]> {
      const rows = await trx('sessions')
        .where(where)
        .whereNull('ended_at')
        .update({ ended_at: trx.fn.now(), end_reason: reason })
        .returning<{ id: string }[]>('id');
      const ids = rows.map((r) => r.id);
      if (ids.length) await trx('refresh_tokens').whereIn('family_id', ids).whereNull('revoked_at').update({ revoked_at: trx.fn.now() });
      return ids;
    },

    /** The refresh token with this hash, locked until `trx` ends (rotation is one at a time). */
    lockRefreshToken: (trx: Knex, tokenHash: string): Promise<RefreshTokenRow | undefined> =>
      trx<RefreshTokenRow>('refresh_tokens').where({ token_hash: tokenHash }).forUpdate().first(),

    async markRefreshTokenUsed(trx: Knex, id: string): Promise<void> {
      await trx('refresh_tokens').where({ id }).update({ used_at: trx.fn.now() });
    },

    findRefreshToken: (tokenHash: string): Promise<RefreshTokenRow | undefined> =>
      db<RefreshTokenRow>('refresh_tokens').where({ token_hash: tokenHash }).first(),

    /** Sessions ended after `since` (the revocation sync republishes them). */
    endedSince: (since: Date): Promise<Array<{ id: string; ended_at: Date }>> =>
      db<{ id: string; ended_at: Date }>('sessions').select('id', 'ended_at').where('ended_at', '>', since),
  };
}

export type SessionsRepository = ReturnType<typeof createSessionsRepository>;
