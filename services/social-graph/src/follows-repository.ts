import { pageWithTotal, type Knex } from '@shutter/kit/db';
import { newId } from '@shutter/kit';

export type FollowStatus = 'pending' | 'agree';

export interface FollowRow {
  id: string;
  follower_id: string;
  followee_id: string;
  status: FollowStatus;
  created_at: Date;
  updated_at: Date;
}

export interface CountsRow {
  user_id: string;
  follower_count: number;
  following_count: number;
}

/** Which side of the edges a list or stream walks: followers of a user, or whom the user follows. */
export type Direction = 'follower' | 'following';

// For `follower` lists the user is the followee and the listed users are followers; and back.
const SIDES = {
  follower: { self: 'followee_id', other: 'follower_id' },
  following: { self: 'follower_id', other: 'followee_id' },
} as const;

/** Key class of the per-followee advisory lock (two-int4 key space: apart from the relay's bigint lock). */
const FOLLOWEE_LOCK_CLASS = 0x67726170;

export function createFollowsRepository(db: Knex) {
  return {
    async findById(id: string, trx: Knex = db): Promise<FollowRow | undefined> {
      return trx<FollowRow>('follows').where({ id }).first();
    },

    async findPair(followerId: string, followeeId: string, trx: Knex = db): Promise<FollowRow | undefined> {
      return trx<FollowRow>('follows').where({ follower_id: followerId, followee_id: followeeId }).first();
    },

    /** Locks the edge for the rest of the transaction; undefined when it is gone. */
    async lockById(trx: Knex.Transaction, id: string): Promise<FollowRow | undefined> {
      return trx<FollowRow>('follows').where({ id }).forUpdate().first();
    },

    /**
     * Serializes every decision that depends on the followee's privacy (new requests, the
     * accept-all on a switch to public) for one followee, until the transaction ends.
     */
    async lockFollowee(trx: Knex.Transaction, followeeId: string): Promise<void> {
      await trx.raw('SELECT pg_advisory_xact_lock(?, hashtext(?))', [FOLLOWEE_LOCK_CLASS, followeeId]);
    },

    /** Inserts the edge unless the pair exists (then undefined): concurrent requests make one edge. */
    async insertIfAbsent(trx: Knex.Transaction, followerId: string, followeeId: string, status: FollowStatus): Promise<FollowRow | undefined> {
      const rows = await trx<FollowRow>('follows')
        .insert({ id: newId(), follower_id: followerId, followee_id: followeeId, status })
        .onConflict(['follower_id', 'followee_id'])
        .ignore()
        .returning('*');
      return rows[0];
    },

    async accept(trx: Knex.Transaction, id: string): Promise<FollowRow> {
      const [row] = await trx<FollowRow>('follows')
        .where({ id })
        .update({ status: 'agree', updated_at: trx.fn.now() as never })
        .returning('*');
      return row as FollowRow;
    },

    async remove(trx: Knex.Transaction, id: string): Promise<void> {
      await trx('follows').where({ id }).delete();
    },

    /** Every pending request to the followee becomes agree; answers the edges changed. */
    async acceptAllPending(trx: Knex.Transaction, followeeId: string): Promise<FollowRow[]> {
      return trx<FollowRow>('follows')
        .where({ followee_id: followeeId, status: 'pending' })
        .update({ status: 'agree', updated_at: trx.fn.now() as never })
        .returning('*');
    },

    /**
     * Adds to the agree counts of several users. Rows are locked in user id order, so two
     * transactions touching the same users cannot deadlock.
     */
    async addToCounts(trx: Knex.Transaction, deltas: Map<string, { followers: number; following: number }>): Promise<void> {
      const ids = [...deltas.keys()].sort();
      if (ids.length === 0) return;
      const grows = ids.every((id) => deltas.get(id)!.followers >= 0 && deltas.get(id)!.following >= 0);
      if (grows) {
        const values = ids.map((id) => ({ user_id: id, follower_count: deltas.get(id)!.followers, following_count: deltas.get(id)!.following }));
        await trx('follow_counts')
          .insert(values)
          .onConflict('user_id')
          .merge({
            follower_count: trx.raw('follow_counts.follower_count + excluded.follower_count'),
            following_count: trx.raw('follow_counts.following_count + excluded.following_count'),
          });
        return;
      }
      // Shrinking only follows growing (the row exists); an INSERT of a negative row would fail its CHECK.
      for (const id of ids) {
        const d = deltas.get(id)!;
        await trx('follow_counts')
          .where({ user_id: id })
          .update({ follower_count: trx.raw('follower_count + ?', [d.followers]), following_count: trx.raw('following_count + ?', [d.following]) });
      }
    },

    /** One page of a user's followers or followees with the given status, newest first; disabled accounts left out. */
    async list(userId: string, direction: Direction, status: FollowStatus, offset: number, limit: number): Promise<{ rows: FollowRow[]; total: number }> {
      const side = SIDES[direction];
      const base = db<FollowRow>('follows as f')
        .where(`f.${side.self}`, userId)
        .andWhere('f.status', status)
        .whereNotExists((q) => {
          q.select(db.raw('1')).from('users as u').whereRaw(`u.id = f.${side.other}`).andWhere('u.status', 'disabled');
        });
      const ordered = base.orderBy([
        { column: 'f.created_at', order: 'desc' },
        { column: 'f.id', order: 'desc' },
      ]);
      return pageWithTotal<FollowRow>(db, ordered, ['f.*'], offset, limit);
    },

    /** Every edge between the viewer and any of the users, both directions: one query. */
    async between(viewerId: string, userIds: string[]): Promise<FollowRow[]> {
      if (userIds.length === 0) return [];
      return db<FollowRow>('follows')
        .where((q) => {
          q.where('follower_id', viewerId).whereIn('followee_id', userIds);
        })
        .orWhere((q) => {
          q.where('followee_id', viewerId).whereIn('follower_id', userIds);
        });
    },

    async counts(userIds: string[]): Promise<CountsRow[]> {
      if (userIds.length === 0) return [];
      return db<CountsRow>('follow_counts').whereIn('user_id', userIds);
    },

    /** Agree neighbours of a user by id, after `after` (keyset paging for streams). */
    async neighbourIds(userId: string, direction: Direction, after: string | undefined, limit: number): Promise<string[]> {
      const side = SIDES[direction];
      const q = db('follows').select(side.other).where(side.self, userId).andWhere('status', 'agree').orderBy(side.other).limit(limit);
      if (after !== undefined) q.andWhere(side.other, '>', after);
      const rows = (await q) as Array<Record<string, string>>;
      return rows.map((r) => r[side.other]!);
    },

    /** Every live edge after edge id `after`, by id (keyset paging for the snapshot stream). */
    async edgesAfter(after: string | undefined, limit: number): Promise<Array<Pick<FollowRow, 'id' | 'follower_id' | 'followee_id' | 'status'>>> {
      const q = db('follows').select('id', 'follower_id', 'followee_id', 'status').orderBy('id').limit(limit);
      if (after !== undefined) q.where('id', '>', after);
      return q;
    },
  };
}

export type FollowsRepository = ReturnType<typeof createFollowsRepository>;
