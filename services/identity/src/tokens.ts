import { createHash, randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { newId, unauthenticated, type Knex } from '@shutter/kit';
import type { SigningKey } from './signing-key';
import type { UserRow } from './users-repository';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const INVALID_REFRESH = 'Invalid or expired refresh token.';

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
}

/**
 * Access tokens: EdDSA JWTs holding only ids and fixed words. Refresh tokens: opaque, stored as a
 * SHA-256 hash, rotated on each use; presenting a used one revokes its whole family.
 */
export function createTokenService(db: Knex, key: SigningKey, ttl: { access: number; refresh: number }) {
  async function accessToken(user: Pick<UserRow, 'id' | 'role'>): Promise<string> {
    return new SignJWT({ role: user.role })
      .setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: 'JWT' })
      .setSubject(user.id)
      .setIssuedAt()
      .setExpirationTime(`${ttl.access}s`)
      .sign(key.privateKey);
  }

  async function storeRefresh(userId: string, familyId: string, trx: Knex): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    await trx('refresh_tokens').insert({
      id: newId(),
      family_id: familyId,
      user_id: userId,
      token_hash: sha256(token),
      expires_at: new Date(Date.now() + ttl.refresh * 1000),
    });
    return token;
  }

  return {
    accessToken,
    jwks: () => ({ keys: [key.publicJwk] }),

    /** A new session: a new refresh-token family. */
    async issue(user: Pick<UserRow, 'id' | 'role'>, trx: Knex = db): Promise<TokenPair> {
      const refreshToken = await storeRefresh(user.id, newId(), trx);
      return { accessToken: await accessToken(user), refreshToken, expiresIn: ttl.access };
    },

    /** Rotates a refresh token. `loadUser` answers the owner if it may still sign in. */
    async rotate(token: string, loadUser: (id: string, trx: Knex) => Promise<UserRow | undefined>): Promise<TokenPair> {
      const result = await db.transaction(async (trx) => {
        const row = await trx('refresh_tokens').where({ token_hash: sha256(token) }).forUpdate().first();
        if (!row || row.revoked_at || row.expires_at < new Date()) throw unauthenticated(INVALID_REFRESH, 'invalid_refresh_token');
        if (row.used_at) {
          // Reuse of a rotated token: someone else may hold the family. Revoke all of it (committed).
          await trx('refresh_tokens').where({ family_id: row.family_id }).whereNull('revoked_at').update({ revoked_at: trx.fn.now() });
          return 'reused' as const;
        }
        const user = await loadUser(row.user_id, trx);
        if (!user || user.status !== 'enabled') throw unauthenticated(INVALID_REFRESH, 'invalid_refresh_token');
        await trx('refresh_tokens').where({ id: row.id }).update({ used_at: trx.fn.now() });
        const refreshToken = await storeRefresh(user.id, row.family_id, trx);
        return { accessToken: await accessToken(user), refreshToken, expiresIn: ttl.access };
      });
      if (result === 'reused') throw unauthenticated('Refresh token was already used; the session has been revoked.', 'refresh_token_reused');
      return result;
    },

    /** Logout: revokes the token's family. Unknown tokens are ignored (logout is idempotent). */
    async revokeFamilyOf(token: string): Promise<void> {
      const row = await db('refresh_tokens').where({ token_hash: sha256(token) }).first();
      if (row) await db('refresh_tokens').where({ family_id: row.family_id }).whereNull('revoked_at').update({ revoked_at: db.fn.now() });
    },

    async revokeAllOf(userId: string, trx: Knex): Promise<void> {
      await trx('refresh_tokens').where({ user_id: userId }).whereNull('revoked_at').update({ revoked_at: trx.fn.now() });
    },
  };
}

export type TokenService = ReturnType<typeof createTokenService>;
