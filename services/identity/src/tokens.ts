import { createHash, randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { newId, unauthenticated } from '@shutter/kit';
import type { Knex } from '@shutter/kit/db';
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
export function createTokenService(db: Knex, key: SigningKey, ttl: { access: number; refresh: number }) {
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
    await trx('refresh_tokens').insert({
      id: newId(),
      family_id: sessionId,
      user_id: userId,
      token_hash: sha256(token),
      expires_at: new Date(Date.now() + ttl.refresh * 1000),
    });
    return token;
  }

  /** Ends the matching open sessions and revokes their refresh tokens; answers the ended ids. */
  async function endWhere(trx: Knex, where: { id?: string; user_id?: string }, reason: EndReason): Promise<string[]> {
    const rows = await trx('sessions').where(where).whereNull('ended_at').update({ ended_at: trx.fn.now(), end_reason: reason }).returning<{ id: string }[]>('id');
    const ids = rows.map((r) => r.id);
    if (ids.length) await trx('refresh_tokens').whereIn('family_id', ids).whereNull('revoked_at').update({ revoked_at: trx.fn.now() });
    return ids;
  }

  return {
    jwks: () => ({ keys: [key.publicJwk] }),

    /** A new session: its row, a refresh-token family and an access token naming it. */
    async issue(user: Pick<UserRow, 'id' | 'role'>, trx: Knex = db): Promise<TokenPair & { sessionId: string }> {
      const sessionId = newId();
      await trx('sessions').insert({ id: sessionId, user_id: user.id });
      const refreshToken = await storeRefresh(user.id, sessionId, trx);
      return { accessToken: await accessToken(user, sessionId), refreshToken, expiresIn: ttl.access, sessionId };
    },

    /**
     * Rotates a refresh token. `loadUser` answers the owner if it may still sign in. A reused
     * token ends its session (committed) and answers `{ reused: sessionId }` instead of tokens.
     */
    async rotate(token: string, loadUser: (id: string, trx: Knex) => Promise<UserRow | undefined>): Promise<TokenPair | { reused: string }> {
      return db.transaction(async (trx) => {
        const row = await trx('refresh_tokens').where({ token_hash: sha256(token) }).forUpdate().first();
        if (!row || row.revoked_at || row.expires_at < new Date()) throw unauthenticated(INVALID_REFRESH, 'invalid_refresh_token');
        if (row.used_at) {
          // Reuse of a rotated token: someone else may hold the session. End all of it.
          await endWhere(trx, { id: row.family_id }, 'refresh_reuse');
          return { reused: row.family_id as string };
        }
        const user = await loadUser(row.user_id, trx);
        if (!user || user.status !== 'enabled') throw unauthenticated(INVALID_REFRESH, 'invalid_refresh_token');
        await trx('refresh_tokens').where({ id: row.id }).update({ used_at: trx.fn.now() });
        const refreshToken = await storeRefresh(user.id, row.family_id, trx);
        return { accessToken: await accessToken(user, row.family_id), refreshToken, expiresIn: ttl.access };
      });
    },

    /** The session a refresh token belongs to, if that token is known. */
    async sessionOf(token: string): Promise<{ id: string; userId: string } | undefined> {
      const row = await db('refresh_tokens').where({ token_hash: sha256(token) }).first();
      return row ? { id: row.family_id, userId: row.user_id } : undefined;
    },

    endSession: (sessionId: string, reason: EndReason, trx: Knex = db) => endWhere(trx, { id: sessionId }, reason),
    endAllOf: (userId: string, reason: EndReason, trx: Knex = db) => endWhere(trx, { user_id: userId }, reason),
  };
}

export type TokenService = ReturnType<typeof createTokenService>;
