import { invalidArgument, notFound, permissionDenied } from '@shutter/kit';
import type { Knex } from '@shutter/kit/db';
import { emitFollowChanged } from './follow-events';
import type { Direction, FollowRow, FollowStatus, FollowsRepository } from './follows-repository';
import type { GraphUser, Users } from './users';

export type RespondAction = 'agree' | 'reject' | 'delete';

const EDGE_NOT_FOUND = 'Follow request not found.';
const USER_NOT_FOUND = 'User not found.';

/** +1/-1 on both ends of an agree edge. */
const countsOf = (edge: FollowRow, sign: 1 | -1) =>
  new Map([
    [edge.followee_id, { followers: sign, following: 0 }],
    [edge.follower_id, { followers: 0, following: sign }],
  ]);

const isVisible = (u: GraphUser | null): u is GraphUser => u !== null && u.status === 'enabled';

/**
 * The follow state machine and its permission rules (docs/api.md *Follows*). Every change commits
 * with its outbox event and its count changes in one transaction.
 */
export function createFollowsService(deps: { db: Knex; follows: FollowsRepository; users: Users }) {
  const { db, follows, users } = deps;

  async function removeEdge(trx: Knex.Transaction, edge: FollowRow, actorId: string): Promise<void> {
    await follows.remove(trx, edge.id);
    if (edge.status === 'agree') await follows.addToCounts(trx, countsOf(edge, -1));
    await emitFollowChanged(trx, 'follow.removed', edge, actorId);
  }

  return {
    /** Public target: agree at once; private: pending. A repeat answers the existing edge. */
    async request(callerId: string, targetId: string): Promise<{ edge: FollowRow; created: boolean }> {
      if (targetId === callerId) throw invalidArgument('You cannot follow yourself.', 'cannot_follow_self');
      if (!isVisible(await users.get(targetId))) throw notFound(USER_NOT_FOUND);
      const existing = await follows.findPair(callerId, targetId);
      if (existing) return { edge: existing, created: false };
      return db.transaction(async (trx) => {
        // Under the followee's lock, privacy is read after any switch to public that got there
        // first, and a switch that comes later finds this request and accepts it.
        await follows.lockFollowee(trx, targetId);
        const target = await users.get(targetId, trx);
        if (!isVisible(target)) throw notFound(USER_NOT_FOUND);
        const status: FollowStatus = target.is_public ? 'agree' : 'pending';
        const edge = await follows.insertIfAbsent(trx, callerId, targetId, status);
        if (!edge) {
          const other = await follows.findPair(callerId, targetId, trx);
          if (!other) throw notFound(USER_NOT_FOUND); // inserted and removed meanwhile: nothing to show
          return { edge: other, created: false };
        }
        if (status === 'agree') await follows.addToCounts(trx, countsOf(edge, 1));
        await emitFollowChanged(trx, status === 'agree' ? 'follow.created' : 'follow.requested', edge, callerId);
        return { edge, created: true };
      });
    },

    /** agree/reject: the followee only; delete: the follower only. Answers the status after (null: removed). */
    async respond(callerId: string, followsId: string, action: RespondAction): Promise<FollowStatus | null> {
      return db.transaction(async (trx) => {
        const edge = await follows.lockById(trx, followsId);
        if (!edge || (edge.follower_id !== callerId && edge.followee_id !== callerId)) throw notFound(EDGE_NOT_FOUND);
        if (action === 'delete') {
          if (edge.follower_id !== callerId) throw permissionDenied('Only the follower can delete this follow; use reject to refuse a follower.');
          await removeEdge(trx, edge, callerId);
          return null;
        }
        if (edge.followee_id !== callerId) throw permissionDenied('Only the followed user can agree to or reject this request.');
        if (action === 'reject') {
          await removeEdge(trx, edge, callerId);
          return null;
        }
        if (edge.status === 'agree') return 'agree';
        const accepted = await follows.accept(trx, edge.id);
        await follows.addToCounts(trx, countsOf(accepted, 1));
        await emitFollowChanged(trx, 'follow.accepted', accepted, callerId);
        return 'agree';
      });
    },

    /** Either party removes the edge (unfollow, cancel a request, remove a follower). */
    async remove(callerId: string, followsId: string): Promise<void> {
      await db.transaction(async (trx) => {
        const edge = await follows.lockById(trx, followsId);
        if (!edge || (edge.follower_id !== callerId && edge.followee_id !== callerId)) throw notFound(EDGE_NOT_FOUND);
        await removeEdge(trx, edge, callerId);
      });
    },

    /**
     * A user's followers or followees. Own lists: any status. Another user's: agree only, and
     * only when that account is public or the caller follows it.
     */
    async list(
      callerId: string,
      q: { userId: string; direction: Direction; status: FollowStatus; offset: number; limit: number },
    ): Promise<{ rows: FollowRow[]; total: number }> {
      if (q.userId !== callerId) {
        const target = await users.get(q.userId);
        if (!isVisible(target)) throw notFound(USER_NOT_FOUND);
        if (q.status === 'pending') throw permissionDenied("Only the account's owner can see its pending requests.");
        if (!target.is_public) {
          const edge = await follows.findPair(callerId, q.userId);
          if (edge?.status !== 'agree') throw permissionDenied('This account is private.', 'account_private');
        }
      }
      return follows.list(q.userId, q.direction, q.status, q.offset, q.limit);
    },

    /** A switch to public accepts every pending request to the user (Instagram's behaviour). */
    async acceptAllPending(trx: Knex.Transaction, userId: string): Promise<number> {
      await follows.lockFollowee(trx, userId);
      const accepted = await follows.acceptAllPending(trx, userId);
      if (accepted.length === 0) return 0;
      const deltas = new Map<string, { followers: number; following: number }>([[userId, { followers: accepted.length, following: 0 }]]);
      for (const e of accepted) deltas.set(e.follower_id, { followers: 0, following: 1 });
      await follows.addToCounts(trx, deltas);
      for (const e of accepted) await emitFollowChanged(trx, 'follow.accepted', e, userId);
      return accepted.length;
    },
  };
}

export type FollowsService = ReturnType<typeof createFollowsService>;
