import * as argon2 from 'argon2';
import {
  MAX_EMAIL_CHARS,
  MAX_NAME_CHARS,
  MAX_PASSWORD_CHARS,
  MAX_PROFILE_BYTES,
  MIN_PASSWORD_CHARS,
  USERNAME,
  USERNAME_RULE,
  domainEvent,
} from '@shutter/contracts';
import type { events, identity } from '@shutter/proto';
import {
  invalidArgument,
  notFound,
  offsetPage,
  permissionDenied,
  requireUser,
  requireUuid,
  unauthenticated,
  validationFailed,
  type Handlers,
} from '@shutter/kit';
import { enqueueEvent, requirePeerCaller, snapshotPages, type Knex } from '@shutter/kit/db';
import type { IdentityConfig } from './config';
import type { LoginThrottle } from './login-throttle';
import type { ProfileReplicas } from './profile-replicas';
import type { RevocationPublisher } from './revocation';
import type { TokenService } from './tokens';
import type { UserRow, UsersRepository } from './users-repository';

/** OWASP's argon2id parameters: m = 19 MiB, t = 2, p = 1. */
export const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19 * 1024, timeCost: 2, parallelism: 1 } as const;

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const INVALID_LOGIN = 'Invalid email or password.';
const INVALID_PASSWORD = 'Invalid password.';

export function toProtoUser(u: UserRow): identity.User {
  return {
    userId: u.id,
    email: u.email,
    username: u.username,
    name: u.name,
    isPublic: u.is_public,
    role: u.role,
    status: u.status,
    profile: u.profile,
    profileImageKey: u.profile_image_key ?? '',
    createdAt: u.created_at,
    version: Number(u.version),
  };
}

/** The user's whole replicated state (events.UserState), at the row's version. */
export const userState = (u: UserRow): events.UserState => ({
  userId: u.id,
  username: u.username,
  name: u.name,
  isPublic: u.is_public,
  status: u.status,
  profileImageKey: u.profile_image_key ?? '',
  profileJson: JSON.stringify(u.profile ?? {}),
  version: Number(u.version),
});

const userUpdated = (u: UserRow, wasPublic: boolean) =>
  domainEvent('user.updated', u.id, {
    userId: u.id,
    username: u.username,
    name: u.name,
    isPublic: u.is_public,
    profileImageKey: u.profile_image_key ?? '',
    wasPublic,
    profileJson: JSON.stringify(u.profile ?? {}),
    state: userState(u),
  });

export interface IdentityDeps {
  db: Knex;
  revocations: RevocationPublisher;
  users: UsersRepository;
  tokens: TokenService;
  throttle: LoginThrottle;
  config: IdentityConfig;
  replicas: ProfileReplicas;
}

function checkPassword(field: string, password: string): void {
  const n = [...password].length;
  if (n < MIN_PASSWORD_CHARS) throw validationFailed(field, `${field} must be at least ${MIN_PASSWORD_CHARS} characters`);
  if (n > MAX_PASSWORD_CHARS) throw validationFailed(field, `${field} must be at most ${MAX_PASSWORD_CHARS} characters`);
}

function checkRegistration(r: identity.RegisterRequest) {
  const email = r.email.trim();
  const username = r.username.trim().toLowerCase();
  if (email.length > MAX_EMAIL_CHARS || !EMAIL.test(email)) throw validationFailed('email', 'email must be a valid email address');
  if (!USERNAME.test(username)) throw validationFailed('username', USERNAME_RULE);
  checkPassword('password', r.password);
  return { email, username };
}

// A real hash to verify against when the email is unknown, so both failures take similar time.
let dummyHash: Promise<string> | undefined;

export function createIdentityHandlers(deps: IdentityDeps): Handlers<typeof identity.IdentityServiceService> {
  const { db, revocations, users, tokens, throttle } = deps;
  dummyHash ??= argon2.hash('not-a-real-password', ARGON2_OPTIONS);

  return {
    async register(req) {
      const { email, username } = checkRegistration(req);
      const passwordHash = await argon2.hash(req.password, ARGON2_OPTIONS);
      return db.transaction(async (trx) => {
        const user = await users.insert({ email, username, passwordHash }, trx);
        await enqueueEvent(
          trx,
          domainEvent('user.created', user.id, { userId: user.id, username: user.username, isPublic: user.is_public, state: userState(user) }),
        );
        return { tokens: await tokens.issue(user, trx), user: toProtoUser(user) };
      });
    },

    async login(req) {
      // One normalisation for lookup and throttle: Postgres's lower(), in the same statement.
      const { loginKey, user } = await users.findForLogin(req.email.trim());
      // Counted before the password is checked: concurrent guesses cannot overtake the count.
      await throttle.attempt(`email:${loginKey}`, req.clientIp);
      const ok = await argon2.verify(user?.password_hash ?? (await dummyHash!), req.password);
      if (!user || !ok) throw invalidArgument(INVALID_LOGIN, 'invalid_credentials');
      await throttle.succeeded(`email:${loginKey}`, req.clientIp);
      if (user.status !== 'enabled') throw permissionDenied('Account is disabled.', 'account_disabled');
      return { tokens: await tokens.issue(user), user: toProtoUser(user) };
    },

    async refresh(req) {
      if (!req.refreshToken) throw unauthenticated('Invalid or expired refresh token.', 'invalid_refresh_token');
      const result = await tokens.rotate(req.refreshToken, (id, trx) => users.findById(id, trx));
      if ('reused' in result) {
        await revocations.sessionsEnded([result.reused]);
        throw unauthenticated('Refresh token was already used; the session has been revoked.', 'refresh_token_reused');
      }
      return result;
    },

    /** Ends the refresh token's session if it is the caller's; anything else is a no-op (idempotent). */
    async logout(req, ctx) {
      const callerId = requireUser(ctx);
      const session = req.refreshToken ? await tokens.sessionOf(req.refreshToken) : undefined;
      if (session?.userId === callerId) await revocations.sessionsEnded(await tokens.endSession(session.id, 'logout'));
      return {};
    },

    async logoutAll(_req, ctx) {
      const callerId = requireUser(ctx);
      await revocations.sessionsEnded(await tokens.endAllOf(callerId, 'logout_all'));
      return {};
    },

    /** Needs the current password (throttled like login); every session ends, a new one starts. */
    async changePassword(req, ctx) {
      const callerId = requireUser(ctx);
      checkPassword('new_password', req.newPassword);
      const user = await users.findById(callerId);
      if (!user || user.status !== 'enabled') throw unauthenticated('Could not validate credentials');
      // The login throttle's own counter for this account (same key, same budget), counted first.
      const { loginKey } = await users.findForLogin(user.email);
      await throttle.attempt(`email:${loginKey}`, req.clientIp);
      if (!(await argon2.verify(user.password_hash, req.currentPassword))) throw invalidArgument(INVALID_PASSWORD, 'invalid_password');
      await throttle.succeeded(`email:${loginKey}`, req.clientIp);
      const passwordHash = await argon2.hash(req.newPassword, ARGON2_OPTIONS);
      const { ended, pair } = await db.transaction(async (trx) => {
        await users.setPasswordHash(callerId, passwordHash, trx);
        const ended = await tokens.endAllOf(callerId, 'password_change', trx);
        return { ended, pair: await tokens.issue(user, trx) };
      });
      await revocations.sessionsEnded(ended);
      return { accessToken: pair.accessToken, refreshToken: pair.refreshToken, expiresIn: pair.expiresIn };
    },

    async getUser(req) {
      const user = await users.findById(req.userId);
      if (!user) throw notFound('User not found.');
      return toProtoUser(user);
    },

    async getProfile(req, ctx) {
      const viewerId = requireUser(ctx);
      requireUuid('user_id', req.userId);
      const found = await deps.replicas.profile(viewerId, req.userId);
      // A disabled account vanishes for everyone but admins (decided here, not by the gateway).
      if (!found || (found.user.status !== 'enabled' && ctx.role !== 'admin')) throw notFound('User not found.');
      const u = toProtoUser(found.user);
      return { user: viewerId === found.user.id ? u : { ...u, email: '' }, ...found.facts };
    },

    async batchGetUsers(req) {
      const rows = await users.findMany([...new Set(req.userIds)]);
      return { users: rows.map(toProtoUser) };
    },

    async searchUsers(req) {
      const { offset, limit } = offsetPage(req);
      const { rows, total } = await users.search(req.query, offset, limit);
      return { users: rows.map(toProtoUser), totalItems: total };
    },

    async updateProfile(req, ctx) {
      const id = requireUser(ctx);
      const changes: Parameters<UsersRepository['update']>[1] = {};
      if (req.name !== undefined) {
        const name = req.name.trim();
        if ([...name].length > MAX_NAME_CHARS) throw validationFailed('name', `name must be at most ${MAX_NAME_CHARS} characters`);
        changes.name = name;
      }
      if (req.username !== undefined) {
        const username = req.username.trim().toLowerCase();
        if (!USERNAME.test(username)) throw validationFailed('username', USERNAME_RULE);
        changes.username = username;
      }
      if (req.isPublic !== undefined) changes.is_public = req.isPublic;
      if (req.profile !== undefined) {
        if (Buffer.byteLength(JSON.stringify(req.profile)) > MAX_PROFILE_BYTES) throw validationFailed('profile', 'profile must be at most 4 KiB of JSON');
        changes.profile = req.profile;
      }
      if (req.profileImageKey !== undefined) changes.profile_image_key = req.profileImageKey || null;
      return db.transaction(async (trx) => {
        const before = await users.lockById(trx, id);
        if (!before || before.status !== 'enabled') throw notFound('User not found.');
        if (Object.keys(changes).length === 0) return toProtoUser(before);
        const after = await users.update(id, changes, trx);
        const visible =
          (['username', 'name', 'is_public', 'profile_image_key'] as const).some((k) => before[k] !== after[k]) ||
          JSON.stringify(before.profile) !== JSON.stringify(after.profile);
        if (visible) await enqueueEvent(trx, userUpdated(after, before.is_public));
        return toProtoUser(after);
      });
    },

    async setStatus(req, ctx) {
      const callerId = requireUser(ctx);
      if (req.status !== 'enabled' && req.status !== 'disabled') throw validationFailed('status', 'status must be "enabled" or "disabled"');
      // The token's role claim is not trusted alone: the caller must still be an enabled admin.
      const caller = await users.findById(callerId);
      if (!caller || caller.role !== 'admin' || caller.status !== 'enabled') throw permissionDenied('Admin privileges required.');
      if (req.userId === callerId) throw permissionDenied('Admins cannot change their own status.');
      const status = req.status;
      let ended: string[] = [];
      const updated = await db.transaction(async (trx) => {
        const target = await users.lockById(trx, req.userId);
        if (!target) throw notFound('User not found.');
        if (target.role === 'admin') throw permissionDenied("Another admin's status cannot be changed.");
        if (target.status === status) return target;
        const row = await users.setStatus(target.id, status, trx);
        if (status === 'disabled') ended = await tokens.endAllOf(target.id, 'disabled', trx);
        await enqueueEvent(
          trx,
          domainEvent(status === 'disabled' ? 'user.disabled' : 'user.enabled', target.id, { userId: target.id, status, state: userState(row) }),
        );
        return row;
      });
      // After commit: the gateways refuse the account's tokens (and close its streams) at once.
      await revocations.statusChanged(updated.id, updated.status === 'disabled');
      await revocations.sessionsEnded(ended);
      return toProtoUser(updated);
    },

    async getPublicKeys() {
      return { jwksJson: JSON.stringify(tokens.jwks()) };
    },

    async *streamUserSnapshot(req, ctx) {
      requirePeerCaller(ctx);
      for await (const rows of snapshotPages(
        req.pageSize,
        (after, limit) => users.pageAfter(after, limit),
        (u) => u.id,
      ))
        yield { users: rows.map(userState) };
    },
  };
}
