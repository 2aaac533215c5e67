import type { events } from '@shutter/proto';
import { awaitReplicated, defineReplica, type Knex } from '@shutter/kit/db';

/** What social-graph needs to know about a user to apply the follow rules. */
export interface GraphUser {
  id: string;
  is_public: boolean;
  status: 'enabled' | 'disabled';
}

/** identity's users as a versioned replica (kit defineReplica): an event applies only if newer. */
export const usersReplica = defineReplica({ table: 'users', key: ['id'], fields: ['is_public', 'status'] });

/**
 * How long a look-up waits for a user it does not hold: a sign-up's event may be in flight for
 * milliseconds after identity answered the client. An id never signed up costs the caller this.
 */
const MISS_WAIT_MS = 1000;

/**
 * Social-graph's read model of identity's users: privacy and status, which the follow rules and
 * the lists' filter of disabled accounts read. Complete: backfilled from identity's snapshot once,
 * then kept current by identity's events (identity-events.ts). A user not held here does not exist
 * for social-graph; no look-up calls identity.
 */
export function createUsers(db: Knex) {
  return {
    /** The user, or null when identity never told of the id (after waiting briefly for its sign-up's event). */
    async get(userId: string, trx: Knex = db): Promise<GraphUser | null> {
      const row = await awaitReplicated(() => trx<GraphUser>('users').where({ id: userId }).first('id', 'is_public', 'status'), MISS_WAIT_MS);
      return row ?? null;
    },

    /**
     * Applies users' whole states at identity's versions (events, or a snapshot page) set-wise;
     * an older or repeated state changes nothing. Answers the users now public, and private (or
     * unknown) before, who have pending requests: the caller accepts those in `trx`. Unknown
     * before too, so a switch applied before the backfill brought the user still accepts.
     */
    async applyStates(trx: Knex, states: events.UserState[]): Promise<string[]> {
      const rows = states.map((u) => ({
        id: u.userId,
        is_public: u.isPublic,
        status: u.status === 'disabled' ? 'disabled' : 'enabled',
        version: Number(u.version),
      }));
      const applied = (await usersReplica.applyMany(trx, rows)) as unknown as Array<{ row: GraphUser; before?: GraphUser }>;
      const wentPublic = applied.filter(({ row, before }) => row.is_public && !before?.is_public).map(({ row }) => row.id);
      if (wentPublic.length === 0) return [];
      const pending = await trx('follows').distinct('followee_id').whereIn('followee_id', wentPublic).andWhere({ status: 'pending' });
      return pending.map((r: { followee_id: string }) => r.followee_id);
    },
  };
}

export type Users = ReturnType<typeof createUsers>;
