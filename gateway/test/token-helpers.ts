import * as fs from 'node:fs';
import { createPrivateKey } from 'node:crypto';
import { SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';

/** The claims of an access token (no verification: tests read their own tokens). */
export const claimsOf = (token: string) => decodeJwt(token) as { sub: string; sid?: string; role: string; exp: number };

/**
 * An access token signed with the test stack's own key (JWT_KEY_FILE), as identity would sign it,
 * with `claims` changed: a short lifetime, or no session id.
 */
export async function signLike(env: NodeJS.ProcessEnv, token: string, claims: { sid?: string | null; ttlSeconds?: number }): Promise<string> {
  const key = createPrivateKey(fs.readFileSync(env.JWT_KEY_FILE!, 'utf8'));
  const { kid } = decodeProtectedHeader(token);
  const base = claimsOf(token);
  const payload: Record<string, unknown> = { role: base.role };
  const sid = claims.sid === undefined ? base.sid : claims.sid;
  if (sid !== null) payload.sid = sid;
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'JWT' })
    .setSubject(base.sub)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (claims.ttlSeconds ?? 900))
    .sign(key);
}
