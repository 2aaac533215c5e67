import { defineReplica, type Knex } from '@shutter/kit/db';
import type { PostReads } from '../posts/read-path';

/** An edge's status only moves forward, so its rank is its version (kit defineReplica). */
export const RANK = { pending: 1, agree: 2, removed: 3 } as const;
export type EdgeStatus = keyof typeof RANK;
export const edgesReplica = defineReplica({ table: 'follow_edges', key: ['follows_id'], fields: ['follower_id', 'followee_id', 'status'] });

/**
 * Content's replica of social-graph's edges (`follow_edges`) and its projection `follows`, the
 * pairs whose newest edge is agree: who may see a private author's posts, whose posts make a
 * home feed, whom fan-out reaches. Complete: backfilled from social-graph's edge snapshot once
 * (read-models/backfill.ts), then kept current by follow.* events (events-consumer.ts); no read
 * and no fan-out asks social-graph.
 */
export function createFollowGraph(deps: { db: Knex; reads: PostReads }) {
  const { db, reads } = deps;

  const lockFollower = (trx: Knex, followerId: string) => trx.raw("SELECT pg_advisory_xact_lock(hashtextextended('content.follows:' || ?, 0))", [followerId]);

  return {
    async isFollowing(followerId: string, followeeId: string): Promise<boolean> {
      return Boolean(await db('follows').where({ follower_id: followerId, followee_id: followeeId }).first('followee_id'));
    },

    /**
     * follow.requested / created / accepted / removed: the edge's state is applied to the edge
     * replica (only forward), then the pair is present in `follows` iff its newest edge is agree.
     * Duplicated, reordered, retried or replayed events therefore converge, and an old "agree"
     * arriving after a removal cannot give access back. Answers whether the pair's presence changed.
     */
    async applyEdge(trx: Knex, e: { followsId: string; followerId: string; followeeId: string; status: EdgeStatus }): Promise<{ present: boolean; changed: boolean }> {
      const { followerId, followeeId } = e;
      await lockFollower(trx, followerId);
      await edgesReplica.apply(trx, { follows_id: e.followsId, follower_id: followerId, followee_id: followeeId, status: e.status }, RANK[e.status]);
      const newest = await trx('follow_edges').where({ follower_id: followerId, followee_id: followeeId }).orderBy('follows_id', 'desc').first('status');
      const present = newest?.status === 'agree';
      const changed = present
        ? await trx('follows').insert({ follower_id: followerId, followee_id: followeeId }).onConflict(['follower_id', 'followee_id']).ignore().returning('followee_id')
        : await trx('follows').where({ follower_id: followerId, followee_id: followeeId }).delete().returning('followee_id');
      if (changed.length) await reads.followeesChanged(trx, followerId);
      return { present, changed: changed.length > 0 };
    },
  };
}

export type FollowGraph = ReturnType<typeof createFollowGraph>;
