import { EDGE_STATUS_VERSION, type EdgeStatus } from '@shutter/contracts';
import { defineReplica, type Knex } from '@shutter/kit/db';
import type { PostReads } from '../posts/read-path';

export type { EdgeStatus };
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

  return {
    async isFollowing(followerId: string, followeeId: string): Promise<boolean> {
      return Boolean(await db('follows').where({ follower_id: followerId, followee_id: followeeId }).first('followee_id'));
    },

    /**
     * follow.requested / created / accepted / removed, or a page of backfilled edges: each edge's
     * state is applied to the edge replica (only forward), then each pair touched is present in
     * `follows` iff its newest edge is agree. Duplicated, reordered, retried or replayed events and
     * snapshot rows therefore converge, and an old "agree" arriving after a removal cannot give
     * access back. A few statements whatever the number of edges: the followers' locks, the replica
     * (kit applyMany), `follows`, the followers' set versions. Answers the pairs whose presence changed.
     */
    async applyEdges(trx: Knex, edges: Edge[]): Promise<PairChange[]> {
      if (edges.length === 0) return [];
      // A follower's pairs are decided under its lock (taken in id order: batches never deadlock),
      // so two transactions never decide one pair from states that miss each other's edges.
      const followers = [...new Set(edges.map((e) => e.followerId))].sort();
      await trx.raw("SELECT pg_advisory_xact_lock(hashtextextended('content.follows:' || f, 0)) FROM (SELECT unnest(?::text[]) AS f ORDER BY 1) s", [
        followers,
      ]);
      await edgesReplica.applyMany(
        trx,
        edges.map((e) => ({
          follows_id: e.followsId,
          follower_id: e.followerId,
          followee_id: e.followeeId,
          status: e.status,
          version: EDGE_STATUS_VERSION[e.status],
        })),
      );
      const pairs = JSON.stringify(edges.map((e) => ({ follower_id: e.followerId, followee_id: e.followeeId })));
      const res = await trx.raw(
        `WITH pairs AS (SELECT DISTINCT follower_id, followee_id FROM json_to_recordset(?::json) AS p(follower_id uuid, followee_id uuid)),
              newest AS (SELECT p.follower_id, p.followee_id,
                                (SELECT e.status FROM follow_edges e WHERE e.follower_id = p.follower_id AND e.followee_id = p.followee_id
                                  ORDER BY e.follows_id DESC LIMIT 1) = 'agree' AS agree
                           FROM pairs p),
              added AS (INSERT INTO follows (follower_id, followee_id) SELECT follower_id, followee_id FROM newest WHERE agree
                          ORDER BY 1, 2 ON CONFLICT (follower_id, followee_id) DO NOTHING RETURNING follower_id, followee_id),
              removed AS (DELETE FROM follows f USING newest n
                           WHERE f.follower_id = n.follower_id AND f.followee_id = n.followee_id AND n.agree IS NOT TRUE
                           RETURNING f.follower_id, f.followee_id)
         SELECT follower_id, followee_id, true AS present FROM added UNION ALL SELECT follower_id, followee_id, false FROM removed`,
        [pairs],
      );
      const changed = (res.rows as Array<{ follower_id: string; followee_id: string; present: boolean }>).map((r) => ({
        followerId: r.follower_id,
        followeeId: r.followee_id,
        present: r.present,
      }));
      if (changed.length) await reads.followeesChanged(trx, [...new Set(changed.map((c) => c.followerId))]);
      return changed;
    },
  };
}

export interface Edge {
  followsId: string;
  followerId: string;
  followeeId: string;
  status: EdgeStatus;
}

/** A pair that entered (`present`) or left `follows`. */
export interface PairChange {
  followerId: string;
  followeeId: string;
  present: boolean;
}

export type FollowGraph = ReturnType<typeof createFollowGraph>;
