import type { Logger } from '@shutter/kit';
import { defineReplica, type Knex } from '@shutter/kit/db';
import type { Peers } from '../peers';
import type { PostReads } from '../posts/read-path';

/** An edge's status only moves forward, so its rank is its version (kit defineReplica). */
const RANK = { pending: 1, agree: 2, removed: 3 } as const;
export type EdgeStatus = keyof typeof RANK;
const edges = defineReplica({ table: 'follow_edges', key: ['follows_id'], fields: ['follower_id', 'followee_id', 'status'] });

/** Most viewers ever seen by this process as synced; a set that only grows, so bounded. */
const MAX_REMEMBERED = 200_000;

/**
 * Content's read model of social-graph's agree edges (`follows`): who may see a private author's
 * posts, and whose posts make a home feed. follow.* events keep it current (events-consumer.ts).
 * A viewer content has never seen is loaded once from social-graph (StreamFollowing) — edges made
 * before content consumed the stream. Loading and applying an event for the same follower hold
 * the same advisory lock, so an event is never overwritten by an older load.
 */
export function createFollowGraph(deps: { db: Knex; peers: Peers; reads: PostReads; log: Logger }) {
  const { db, peers, reads, log } = deps;
  const synced = new Set<string>();
  const inFlight = new Map<string, Promise<void>>();

  const lockFollower = (trx: Knex, followerId: string) => trx.raw("SELECT pg_advisory_xact_lock(hashtextextended('content.follows:' || ?, 0))", [followerId]);

  async function load(viewerId: string, requestId?: string): Promise<void> {
    if (await db('follow_sync').where({ user_id: viewerId }).first('user_id')) return;
    await db.transaction(async (trx) => {
      await lockFollower(trx, viewerId);
      if (await trx('follow_sync').where({ user_id: viewerId }).first('user_id')) return;
      const followees = await peers.followees(viewerId, requestId);
      for (let i = 0; i < followees.length; i += 1000) {
        const rows = followees.slice(i, i + 1000).map((followee_id) => ({ follower_id: viewerId, followee_id }));
        await trx('follows').insert(rows).onConflict(['follower_id', 'followee_id']).ignore();
      }
      await trx('follow_sync').insert({ user_id: viewerId });
      await reads.followeesChanged(trx, viewerId);
    });
  }

  return {
    /**
     * Makes sure the viewer's followees are known before a visibility decision. When
     * social-graph cannot answer, the events-fed edges are used and the load is retried later.
     */
    async ensureLoaded(viewerId: string, requestId?: string): Promise<void> {
      if (synced.has(viewerId)) return;
      let pending = inFlight.get(viewerId);
      if (!pending) {
        pending = load(viewerId, requestId).finally(() => inFlight.delete(viewerId));
        inFlight.set(viewerId, pending);
      }
      try {
        await pending;
        if (synced.size >= MAX_REMEMBERED) synced.clear();
        synced.add(viewerId);
      } catch (err) {
        log.warn({ err, viewerId }, 'could not load followees from social-graph; using the event-fed edges');
      }
    },

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
      await edges.apply(trx, { follows_id: e.followsId, follower_id: followerId, followee_id: followeeId, status: e.status }, RANK[e.status]);
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
