import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { callerOf } from '../plugins/auth';
import { grpcOpts, type RouteDeps } from './deps';
import { Ok, Pagination, Uuid, errorResponses, ok, pageParams, pagination } from '../schemas/common';
import { FollowListItem, FollowListQuery, FollowState } from '../schemas/follows';
import { listedUserIds, presentFollowList } from '../presenters/follows';

const state = (followsId: string, status: string) => ({ follows_id: followsId, status: status === 'pending' || status === 'agree' ? status : null });

/** Follows (docs/api.md *Follows*): requests, answers, unfollows and the follow lists. */
const followsRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { clients, media }) => {
  app.addSchema(FollowListItem);

  app.post('/api/follows/request/:user_id', {
    schema: {
      tags: ['follows'],
      summary: 'Follow a user: public → agree at once, private → pending. A repeat answers the existing edge (200).',
      security: [{ bearer: [] }],
      params: Type.Object({ user_id: Uuid }),
      response: { 200: Ok(FollowState), 201: Ok(FollowState), ...errorResponses(400, 401, 404, 422) },
    },
    handler: async (req, reply) => {
      const res = await clients.socialGraph.requestFollow({ userId: req.params.user_id }, grpcOpts(req));
      const f = res.follow!;
      return reply.code(res.created ? 201 : 200).send(ok(state(f.followsId, f.status)));
    },
  });

  app.post('/api/follows/:follows_id', {
    schema: {
      tags: ['follows'],
      summary: 'agree or reject (the followed user), or delete (the follower); status is null once removed',
      security: [{ bearer: [] }],
      params: Type.Object({ follows_id: Uuid }),
      body: Type.Object({ status: Type.String({ enum: ['agree', 'reject', 'delete'] }) }),
      response: { 200: Ok(FollowState), ...errorResponses(401, 403, 404, 422) },
    },
    handler: async (req) => {
      const res = await clients.socialGraph.respondFollow({ followsId: req.params.follows_id, action: req.body.status }, grpcOpts(req));
      return ok(state(res.followsId, res.status));
    },
  });

  app.delete('/api/follows/:follows_id', {
    schema: {
      tags: ['follows'],
      summary: 'Remove a follow: unfollow, cancel a request, or remove a follower (either party)',
      security: [{ bearer: [] }],
      params: Type.Object({ follows_id: Uuid }),
      response: { 200: Ok(FollowState), ...errorResponses(401, 404, 422) },
    },
    handler: async (req) => {
      const res = await clients.socialGraph.removeFollow({ followsId: req.params.follows_id }, grpcOpts(req));
      return ok(state(res.followsId, res.status));
    },
  });

  app.get('/api/follows', {
    schema: {
      tags: ['follows'],
      summary: "A user's followers or followings (default: the caller's), newest first",
      description:
        "`type` is required; `status` defaults to `agree`. Another user's agree lists need that account to be public or followed by the caller; another user's pending lists are private to them.",
      security: [{ bearer: [] }],
      querystring: FollowListQuery,
      response: { 200: Ok(Type.Object({ users: Type.Array(Type.Ref('FollowListItem')), pagination: Pagination })), ...errorResponses(401, 403, 404, 422) },
    },
    handler: async (req) => {
      const { page, limit } = pageParams(req.query);
      const type = req.query.type as 'follower' | 'following';
      const opts = grpcOpts(req);
      const res = await clients.socialGraph.listFollows(
        { userId: req.query.user_id ?? callerOf(req).userId, type, status: req.query.status ?? 'agree', page, limit },
        opts,
      );
      const ids = listedUserIds(res.follows, type);
      // One identity call for the whole page.
      const users = ids.length > 0 ? (await clients.identity.batchGetUsers({ userIds: ids }, opts)).users : [];
      return ok({ users: await presentFollowList(res.follows, type, users, media), pagination: pagination(page, limit, res.totalItems) });
    },
  });
};

export default followsRoutes;
