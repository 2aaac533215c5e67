import type { events } from '@shutter/proto';
import { GrpcStatus, ServiceError } from '@shutter/kit';
import { awaitReplicated, defineReplica, type Knex } from '@shutter/kit/db';
import type { PostReads } from '../posts/read-path';

export interface AuthorRow {
  id: string;
  username: string;
  name: string;
  is_public: boolean;
  status: 'enabled' | 'disabled';
  profile_image_key: string | null;
}

/** identity's users as a versioned replica (kit defineReplica): an event applies only if newer. */
export const authorsReplica = defineReplica({
  table: 'authors',
  key: ['id'],
  fields: ['username', 'name', 'is_public', 'status', 'profile_image_key', 'profile'],
});

/** How long a write waits for its caller's own row to reach the replica (sign-up's event in flight). */
const OWN_ROW_WAIT_MS = 3000;

/**
 * Content's read model of identity's users: what posts and comments show (username, name,
 * avatar key) and what visibility needs (privacy, status). Complete: backfilled from identity's
 * snapshot once (read-models/backfill.ts), then kept current by identity's events
 * (events-consumer.ts). A miss is answered from here, never by calling identity.
 */
export function createAuthors(deps: { db: Knex; reads: PostReads }) {
  const { db, reads } = deps;

  return {
    /**
     * The caller's own row, for a write in their name. The gateway verified the account, so a
     * miss is only the replica behind by the sign-up's event: waited for (milliseconds), then
     * UNAVAILABLE (a retry succeeds) rather than a false "not found".
     */
    async own(userId: string): Promise<AuthorRow> {
      const row = await awaitReplicated(() => db<AuthorRow>('authors').where({ id: userId }).first(), OWN_ROW_WAIT_MS);
      if (!row) throw new ServiceError(GrpcStatus.UNAVAILABLE, 'This account is not known here yet; retry shortly.', 'unavailable');
      return row;
    },

    /**
     * user.created / updated / disabled / enabled carrying the whole state at identity's version:
     * applied only when newer than the row held, so no redelivery, reordering or replay moves the
     * author back (a private account can never read as public again). A status change moves the
     * author's comments out of (or back into) the counts in the same transaction. Answers the
     * avatar key the change replaced (null if none).
     */
    async applyState(trx: Knex, u: events.UserState): Promise<string | null> {
      return (await this.applyStates(trx, [u]))[0]?.replaced ?? null;
    },

    /**
     * `applyState` for many users at once (a backfilled snapshot page): the replica in two
     * statements (kit applyMany); a recount only for a user whose status changed. Answers the
     * users whose change replaced an avatar key, with that key.
     */
    async applyStates(trx: Knex, users: events.UserState[]): Promise<Array<{ userId: string; replaced: string }>> {
      const rows = users.map((u) => ({
        id: u.userId,
        username: u.username,
        name: u.name,
        is_public: u.isPublic,
        status: u.status === 'disabled' ? 'disabled' : 'enabled',
        profile_image_key: u.profileImageKey || null,
        profile: JSON.parse(u.profileJson || '{}') as unknown, // jsonb: given as its value (kit ReplicaSpec)
        version: Number(u.version),
      }));
      const applied = (await authorsReplica.applyMany(trx, rows)) as unknown as Array<{ row: AuthorRow & { version: string }; before?: AuthorRow }>;
      await Promise.all(applied.map(({ row }) => reads.authorChanged(row.id, row.version)));
      const replaced: Array<{ userId: string; replaced: string }> = [];
      for (const { row, before } of applied) {
        if (before && before.status !== row.status) await recount(trx, row.id, row.status);
        if (before?.profile_image_key && before.profile_image_key !== row.profile_image_key)
          replaced.push({ userId: row.id, replaced: before.profile_image_key });
      }
      return replaced;
    },
  };

  /** A disabled author's comments leave the counts (an enabled one's come back). */
  async function recount(trx: Knex, userId: string, status: 'enabled' | 'disabled'): Promise<void> {
    const sign = status === 'disabled' ? '-' : '+';
    const res = await trx.raw(
      `UPDATE posts p SET comment_count = p.comment_count ${sign} c.n
           FROM (SELECT post_id, count(*)::int AS n FROM comments WHERE author_id = ? GROUP BY post_id) c
          WHERE p.id = c.post_id RETURNING p.id, p.version`,
      [userId],
    );
    // Their counts and newest comments changed.
    await reads.postsChanged(res.rows as Array<{ id: string; version: string }>);
  }
}

export type Authors = ReturnType<typeof createAuthors>;
