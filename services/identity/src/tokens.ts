import { createHash, randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { newId, unauthenticated } from '@shutter/kit';
import type { Knex } from '@shutter/kit/db';
import type { SessionsRepository } from './sessions-repository';
import type { SigningKey } from './signing-key';
import type { UserRow } from './users-repository';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const INVALID_REFRESH = 'Invalid or expired refresh token.';

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
}

export type EndReason = 'logout' | 'logout_all' | 'password_change' | 'refresh_reuse' | 'disabled';

/**
 * Sessions: a sign-in starts one (a row in `sessions`, whose id is the access tokens' `sid` and
 * the refresh-token family). Access tokens: EdDSA JWTs holding only ids and fixed words. Refresh
 * tokens: opaque, stored as a SHA-256 hash, rotated on each use; presenting a used one ends the
 * session. Ending a session revokes its refresh tokens here; its access tokens are refused by the
 * gateway once the caller publishes the ended ids (RevocationPublisher.sessionsEnded, after commit).
 */
export function createTokenService(db: Knex, sessions: SessionsRepository, key: SigningKey, ttl: { access: number; refresh: number }) {
  async function accessToken(user: Pick<UserRow, 'id' | 'role'>, sessionId: string): Promise<string> {
    return new SignJWT({ role: user.role, sid: sessionId })
      .setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: 'JWT' })
      .setSubject(user.id)
      .setIssuedAt()
      .setExpirationTime(`${ttl.access}s`)
      .sign(key.privateKey);
  }

  async function storeRefresh(userId: string, sessionId: string, trx: Knex): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    await sessions.insertRefreshToken(trx, { familyId: sessionId, userId, tokenHash: sha256(token), expiresAt: new Date(Date.now() + ttl.refresh * 1000) });
    return token;
  }

  const endWhere = (trx: Knex, where: { id?: string; user_id?: string }, reason: EndReason) => sessions.endSessions(trx, where, reason);

  return {
    jwks: () => ({ keys: [key.publicJwk] }),

    /** A new session: its row, a refresh-token family and an access token naming it. */
    async issue(user: Pick<UserRow, 'id' | 'role'>, trx: Knex = db): Promise<TokenPair & { sessionId: string }> {
      const sessionId = newId();
      await sessions.insertSession(trx, sessionId, user.id);
      const refreshToken = await storeRefresh(user.id, sessionId, trx);
      return { accessToken: await accessToken(user, sessionId), refreshToken, expiresIn: ttl.access, sessionId };
    },

    /**
     * Rotates a refresh token. `loadUser` answers the owner if it may still sign in. A reused
     * token ends its session (committed) and answers `{ reused: sessionId }` instead of tokens.
     */
    async rotate(token: string, loadUser: (id: string, trx: Knex) => Promise<UserRow | undefined>): Promise<TokenPair | { reused: string }> {
      return db.transaction(async (trx) => {
        const row = await sessions.lockRefreshToken(trx, sha256(token));
        if (!row || row.revoked_at || row.expires_at < new Date()) throw unauthenticated(INVALID_REFRESH, 'invalid_refresh_token');
        if (row.used_at) {
          // Reuse of a rotated token: someone else may hold the session. End all of it.
          await endWhere(trx, { id: row.family_id }, 'refresh_reuse');
          return { reused: row.family_id };
        }
        const user = await loadUser(row.user_id, trx);
        if (!user || user.status !== 'enabled') throw unauthenticated(INVALID_REFRESH, 'invalid_refresh_token');
        await sessions.markRefreshTokenUsed(trx, row.id);
        const refreshToken = await storeRefresh(user.id, row.family_id, trx);
        return { accessToken: await accessToken(user, row.family_id), refreshToken, expiresIn: ttl.access };
      });
    },

    /** The session a refresh token belongs to, if that token is known. */
    async sessionOf(token: string): Promise<{ id: string; userId: string } | undefined> {
      const row = await sessions.findRefreshToken(sha256(token));
      return row ? { id: row.family_id, userId: row.user_id } : undefined;
    },

    endSession: (sessionId: string, reason: EndReason, trx: Knex = db) => endWhere(trx, { id: sessionId }, reason),
    endAllOf: (userId: string, reason: EndReason, trx: Knex = db) => endWhere(trx, { user_id: userId }, reason),
  };
}

export type TokenService = ReturnType<typeof createTokenService>;
