import { EDGE_STATUS_VERSION, MAX_BATCH_IDS } from '@shutter/contracts';
import { socialgraph } from '@shutter/proto';
import { offsetPage, requireUser, requireUuid, validationFailed, type Handlers } from '@shutter/kit';
import { requirePeerCaller, snapshotPages } from '@shutter/kit/db';
import type { CountsRow, FollowRow, FollowStatus, FollowsRepository } from './follows-repository';
import type { FollowsService, RespondAction } from './follows-service';
import { streamNeighbours } from './neighbour-stream';

/** An edge's version is its status's rank: a status only moves forward (follow.removed carries 3). */

function oneOf<T extends string>(field: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw validationFailed(field, `${field} must be one of: ${allowed.join(', ')}`);
  return value as T;
}

/** Distinct ids in request order, each a UUID, at most MAX_BATCH_IDS. */
function batchIds(ids: string[]): string[] {
  const distinct = [...new Set(ids)];
  if (distinct.length > MAX_BATCH_IDS) throw validationFailed('user_ids', `user_ids must name at most ${MAX_BATCH_IDS} users`);
  for (const id of distinct) requireUuid('user_ids', id);
  return distinct;
}

export const toProtoFollow = (r: FollowRow): socialgraph.Follow => ({
  followsId: r.id,
  followerId: r.follower_id,
  followeeId: r.followee_id,
  status: r.status,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** The viewer's relationship to each user, in the order asked. */
function relationshipsOf(viewerId: string, userIds: string[], edges: FollowRow[]): socialgraph.Relationship[] {
  const byUser = new Map<string, socialgraph.Relationship>(
    userIds.map((id) => [id, { userId: id, outgoingStatus: '', outgoingFollowsId: '', incomingStatus: '', incomingFollowsId: '' }]),
  );
  for (const e of edges) {
    if (e.follower_id === viewerId) {
      const r = byUser.get(e.followee_id);
      if (r) Object.assign(r, { outgoingStatus: e.status, outgoingFollowsId: e.id });
    } else {
      const r = byUser.get(e.follower_id);
      if (r) Object.assign(r, { incomingStatus: e.status, incomingFollowsId: e.id });
    }
  }
  return [...byUser.values()];
}

function countsOf(userIds: string[], rows: CountsRow[]): socialgraph.Counts[] {
  const byUser = new Map(rows.map((r) => [r.user_id, r]));
  return userIds.map((id) => ({ userId: id, followerCount: byUser.get(id)?.follower_count ?? 0, followingCount: byUser.get(id)?.following_count ?? 0 }));
}

export function createSocialGraphHandlers(deps: {
  service: FollowsService;
  follows: FollowsRepository;
}): Handlers<typeof socialgraph.SocialGraphServiceService> {
  const { service, follows } = deps;

  async function relationships(viewerId: string, userIds: string[]): Promise<socialgraph.Relationship[]> {
    return relationshipsOf(viewerId, userIds, await follows.between(viewerId, userIds));
  }

  return {
    async requestFollow(req, ctx) {
      const caller = requireUser(ctx);
      const { edge, created } = await service.request(caller, requireUuid('user_id', req.userId));
      return { follow: toProtoFollow(edge), created };
    },

    async respondFollow(req, ctx) {
      const caller = requireUser(ctx);
      const action = oneOf<RespondAction>('status', req.action, ['agree', 'reject', 'delete']);
      const status = await service.respond(caller, requireUuid('follows_id', req.followsId), action);
      return { followsId: req.followsId, status: status ?? '' };
    },

    async removeFollow(req, ctx) {
      const caller = requireUser(ctx);
      await service.remove(caller, requireUuid('follows_id', req.followsId));
      return { followsId: req.followsId, status: '' };
    },

    async listFollows(req, ctx) {
      const caller = requireUser(ctx);
      const userId = req.userId === '' ? caller : requireUuid('user_id', req.userId);
      const direction = oneOf('type', req.type, ['follower', 'following'] as const);
      const status = oneOf<FollowStatus>('status', req.status || 'agree', ['pending', 'agree']);
      const { offset, limit } = offsetPage(req);
      const { rows, total } = await service.list(caller, { userId, direction, status, offset, limit });
      return { follows: rows.map(toProtoFollow), totalItems: total };
    },

    async batchRelationships(req, ctx) {
      const viewerId = req.viewerId === '' ? requireUser(ctx) : requireUuid('viewer_id', req.viewerId);
      return { relationships: await relationships(viewerId, batchIds(req.userIds)) };
    },

    async batchCounts(req) {
      const ids = batchIds(req.userIds);
      return { counts: countsOf(ids, await follows.counts(ids)) };
    },

    async getProfileGraph(req, ctx) {
      const viewerId = requireUser(ctx);
      const userId = requireUuid('user_id', req.userId);
      const [rels, counts] = await Promise.all([relationships(viewerId, [userId]), follows.counts([userId])]);
      return { relationship: rels[0], counts: countsOf([userId], counts)[0] };
    },

    streamFollowers: (req) => streamNeighbours(req, follows, 'follower'),

    streamFollowing: (req) => streamNeighbours(req, follows, 'following'),

    async *streamEdgeSnapshot(req, ctx) {
      requirePeerCaller(ctx);
      for await (const rows of snapshotPages(
        req.pageSize,
        (after, limit) => follows.edgesAfter(after, limit),
        (e) => e.id,
      )) {
        yield {
          edges: rows.map((e) => ({
            followsId: e.id,
            followerId: e.follower_id,
            followeeId: e.followee_id,
            status: e.status,
            version: EDGE_STATUS_VERSION[e.status],
          })),
        };
      }
    },
  };
}
