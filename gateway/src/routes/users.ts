import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { MAX_NAME_CHARS, SEARCH_MAX_RESULTS } from '@shutter/contracts';
import type { identity } from '@shutter/proto';
import { callerOf } from '../plugins/auth';
import { grpcOpts, type RouteDeps } from './deps';
import { forbidden, validation } from '../errors';

import { Ok, PageQuery, Pagination, Uuid, errorResponses, ok, pageParams, pagination } from '../schemas/common';
import { Email, Password, Tokens, User, Username } from '../schemas/users';
import { presentUser } from '../presenters/users';
import { readProfileForm } from './profile-form';

const AuthData = Type.Object({ ...Tokens, user: Type.Ref('User') });
const Profile = Type.Object({
  user: Type.Ref('User'),
  is_following: Type.Boolean(),
  follow_status: Type.String({ enum: ['none', 'pending', 'agree'] }),
  follows_id: Type.Union([Uuid, Type.Null()]),
  follower_count: Type.Integer(),
  following_count: Type.Integer(),
  post_count: Type.Integer(),
});

export const ProfileUpdate = Type.Object({
  name: Type.Optional(Type.String({ maxLength: MAX_NAME_CHARS })),
  username: Type.Optional(Username),
  is_public: Type.Optional(Type.Boolean()),
  profile: Type.Optional(Type.Object({}, { additionalProperties: true, description: 'JSON object, at most 4 KiB' })),
  profile_image_media_id: Type.Optional(Uuid),
});

const tokensJson = (t: identity.TokenPair | undefined) => ({
  token: t?.accessToken ?? '',
  refresh_token: t?.refreshToken ?? '',
  expires_in: t?.expiresIn ?? 0,
});

/** Users and auth (docs/api.md). */
const usersRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { clients, media }) => {
  app.addSchema(User);

  app.post('/api/users/register', {
    config: { public: true },
    schema: {
      tags: ['users'],
      summary: 'Create an account (private by default)',
      body: Type.Object({ email: Email, username: Username, password: Password }),
      response: { 201: Ok(AuthData), ...errorResponses(409, 422) },
    },
    handler: async (req, reply) => {
      const res = await clients.identity.register(req.body, grpcOpts(req));
      const user = await presentUser(res.user!, res.user!.userId, media);
      return reply.code(201).send(ok({ ...tokensJson(res.tokens), user }));
    },
  });

  app.post('/api/users/login', {
    config: { public: true },
    schema: {
      tags: ['users'],
      summary: 'Sign in with email and password',
      body: Type.Object({ email: Type.String({ minLength: 1, maxLength: 254 }), password: Type.String({ minLength: 1, maxLength: 1024 }) }),
      response: { 200: Ok(AuthData), ...errorResponses(400, 403, 422, 429) },
    },
    handler: async (req) => {
      const res = await clients.identity.login({ ...req.body, clientIp: req.ip }, grpcOpts(req));
      return ok({ ...tokensJson(res.tokens), user: await presentUser(res.user!, res.user!.userId, media) });
    },
  });

  app.post('/api/users/refresh', {
    config: { public: true },
    schema: {
      tags: ['users'],
      summary: 'Rotate a refresh token',
      body: Type.Object({ refresh_token: Type.String({ minLength: 1, maxLength: 512 }) }),
      response: { 200: Ok(Type.Object(Tokens)), ...errorResponses(401, 422) },
    },
    handler: async (req) => ok(tokensJson(await clients.identity.refresh({ refreshToken: req.body.refresh_token }, grpcOpts(req)))),
  });

  app.post('/api/users/logout', {
    schema: {
      tags: ['users'],
      summary: "Revoke a refresh token's session",
      security: [{ bearer: [] }],
      body: Type.Object({ refresh_token: Type.String({ minLength: 1, maxLength: 512 }) }),
      response: { 200: Ok(Type.Object({})), ...errorResponses(401, 422) },
    },
    handler: async (req) => {
      await clients.identity.logout({ refreshToken: req.body.refresh_token }, grpcOpts(req));
      return ok({});
    },
  });

  app.post('/api/users/logout-all', {
    schema: {
      tags: ['users'],
      summary: 'Sign out everywhere: end every session of the caller',
      description: 'Every access token of every session stops working within 10 s; open event streams close.',
      security: [{ bearer: [] }],
      response: { 200: Ok(Type.Object({})), ...errorResponses(401) },
    },
    handler: async (req) => {
      await clients.identity.logoutAll({}, grpcOpts(req));
      return ok({});
    },
  });

  app.patch('/api/users/password', {
    schema: {
      tags: ['users'],
      summary: 'Change your password (ends every other session)',
      description: 'Answers new tokens for this device; every session before it (this one included) ends within 10 s.',
      security: [{ bearer: [] }],
      body: Type.Object({ current_password: Type.String({ minLength: 1, maxLength: 1024 }), new_password: Password }),
      response: { 200: Ok(Type.Object(Tokens)), ...errorResponses(400, 401, 422, 429) },
    },
    handler: async (req) => {
      const { current_password: currentPassword, new_password: newPassword } = req.body;
      return ok(tokensJson(await clients.identity.changePassword({ currentPassword, newPassword, clientIp: req.ip }, grpcOpts(req))));
    },
  });

  app.get('/api/users/me', {
    schema: {
      tags: ['users'],
      summary: 'The caller',
      security: [{ bearer: [] }],
      response: { 200: Ok(Type.Object({ user: Type.Ref('User') })), ...errorResponses(401) },
    },
    handler: async (req) => {
      const { userId } = callerOf(req);
      const user = await clients.identity.getUser({ userId }, grpcOpts(req));
      return ok({ user: await presentUser(user, userId, media) });
    },
  });

  app.get('/api/users/:user_id', {
    schema: {
      tags: ['users'],
      summary: 'A profile with the relationship and counts',
      security: [{ bearer: [] }],
      params: Type.Object({ user_id: Uuid }),
      response: { 200: Ok(Profile), ...errorResponses(401, 404, 422) },
    },
    // One call: identity answers from its own tables and replicas, and decides who may see a
    // disabled account (admins only); the gateway only shapes the JSON.
    handler: async (req) => {
      const p = await clients.identity.getProfile({ userId: req.params.user_id }, grpcOpts(req));
      const followStatus = p.followStatus === 'pending' || p.followStatus === 'agree' ? p.followStatus : 'none';
      return ok({
        user: await presentUser(p.user!, callerOf(req).userId, media),
        is_following: followStatus === 'agree',
        follow_status: followStatus,
        follows_id: p.followsId || null,
        follower_count: p.followerCount,
        following_count: p.followingCount,
        post_count: p.postCount,
      });
    },
  });

  app.get('/api/users', {
    schema: {
      tags: ['users'],
      summary: 'Search users (exact, then prefix, then substring matches)',
      description:
        `Enabled users whose username or name matches \`search\` (case-insensitive; \`%\` and \`_\` are literal): exact matches first, then prefixes, then substrings (a substring needs 3 letters or digits in a row; shorter queries match exact names and prefixes). ` +
        `Bounded cost: a search answers at most its first ${SEARCH_MAX_RESULTS} matches, so \`pagination.total_items\` is the number of matches **capped at ${SEARCH_MAX_RESULTS}** (not an exact count), and a page that starts past them → 422.`,
      security: [{ bearer: [] }],
      querystring: Type.Object({ search: Type.Optional(Type.String({ maxLength: 100 })), ...PageQuery }),
      response: { 200: Ok(Type.Object({ users: Type.Array(Type.Ref('User')), pagination: Pagination })), ...errorResponses(401, 422, 429) },
    },
    handler: async (req) => {
      const { page, limit, offset } = pageParams(req.query);
      if (offset >= SEARCH_MAX_RESULTS) {
        throw validation(
          'query.page',
          `page must be at most ${Math.ceil(SEARCH_MAX_RESULTS / limit)} with limit ${limit} (a search answers its first ${SEARCH_MAX_RESULTS} matches)`,
        );
      }
      const res = await clients.identity.searchUsers({ query: req.query.search ?? '', page, limit }, grpcOpts(req));
      const viewer = callerOf(req).userId;
      return ok({ users: await Promise.all(res.users.map((u) => presentUser(u, viewer, media))), pagination: pagination(page, limit, res.totalItems) });
    },
  });

  app.patch('/api/users', {
    // JSON or multipart (seed 000's client): multipart is turned into the same object first.
    preValidation: async (req) => {
      if (req.isMultipart()) req.body = (await readProfileForm(req, media)) as typeof req.body;
    },
    schema: {
      tags: ['users'],
      summary: 'Update your own profile (JSON, or multipart with a profile_image file)',
      security: [{ bearer: [] }],
      body: ProfileUpdate,
      response: { 200: Ok(Type.Object({ user: Type.Ref('User') })), ...errorResponses(401, 409, 413, 415, 422) },
    },
    handler: async (req) => {
      const { userId } = callerOf(req);
      const b = req.body;
      const opts = grpcOpts(req);
      const profileImageKey = b.profile_image_media_id ? await media.claimProfileImage(b.profile_image_media_id, opts) : undefined;
      const user = await clients.identity.updateProfile(
        { name: b.name, username: b.username, isPublic: b.is_public, profile: b.profile, profileImageKey },
        opts,
      );
      return ok({ user: await presentUser(user, userId, media) });
    },
  });

  app.patch('/api/users/:user_id', {
    schema: {
      tags: ['admin'],
      summary: 'Enable or disable an account (admins only)',
      security: [{ bearer: [] }],
      params: Type.Object({ user_id: Uuid }),
      body: Type.Object({ status: Type.String({ enum: ['enabled', 'disabled'] }) }),
      response: { 200: Ok(Type.Object({ user: Type.Ref('User') })), ...errorResponses(401, 403, 404, 422) },
    },
    handler: async (req) => {
      const caller = callerOf(req);
      if (caller.role !== 'admin') throw forbidden('Admin privileges required.');
      const user = await clients.identity.setStatus({ userId: req.params.user_id, status: req.body.status }, grpcOpts(req));
      return ok({ user: await presentUser(user, caller.userId, media) });
    },
  });
};

export default usersRoutes;
