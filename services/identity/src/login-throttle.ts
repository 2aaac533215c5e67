import { createHash } from 'node:crypto';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Redis } from '@shutter/kit';
import { resourceExhausted } from '@shutter/kit';

export interface LoginThrottleOptions {
  /** Password checks per (account, address) within `windowSeconds`. */
  maxAttempts: number;
  windowSeconds: number;
  /** Failed password checks per address, whatever the account, within `addressWindowSeconds`. */
  addressMaxAttempts: number;
  addressWindowSeconds: number;
}

/**
 * Password-check throttling: rate-limiter-flexible's login-protection recipe (RateLimiterRedis,
 * one Lua script per key: the count and its window are set in one atomic step), with two
 * changes that make it hold:
 *
 * - An attempt is counted *before* the password is checked (`attempt`), not after a failure, so
 *   N concurrent guesses cannot all pass a check that has not counted them yet. A correct
 *   password gives the attempt back (`succeeded`).
 * - Keys are (account, address) first and address second; there is no account-wide lock, so
 *   nobody can lock someone out of their account from another address. `account` is the key the
 *   account lookup itself compares (Postgres's `lower(email)`, see `findForLogin`), for login and
 *   for the password check of `PATCH /api/users/password` alike: one account, one counter.
 *
 * Redis down: the limiter's error propagates (identity answers 503): guesses are never let
 * through unthrottled. Keys hold a hash of the account, never the address in clear with it.
 */
export function createLoginThrottle(redis: Redis, opts: LoginThrottleOptions) {
  const pair = new RateLimiterRedis({ storeClient: redis, keyPrefix: 'login:pair', points: opts.maxAttempts, duration: opts.windowSeconds });
  const address = new RateLimiterRedis({ storeClient: redis, keyPrefix: 'login:addr', points: opts.addressMaxAttempts, duration: opts.addressWindowSeconds });
  const pairKey = (account: string, ip: string) =>
    createHash('sha256')
      .update(`${account}\u0000${ip || 'unknown'}`)
      .digest('base64url');
  const addressKey = (ip: string) => ip || 'unknown';

  const refuse = (res: RateLimiterRes) =>
    resourceExhausted('Too many failed login attempts. Try again later.', Math.max(1, Math.ceil(res.msBeforeNext / 1000)), 'login_throttled');

  return {
    /**
     * Counts one password check for (account, address) and for the address; throws
     * RESOURCE_EXHAUSTED (429 + Retry-After) when either is over its limit.
     */
    async attempt(account: string, ip: string): Promise<void> {
      const results = await Promise.allSettled([pair.consume(pairKey(account, ip)), address.consume(addressKey(ip))]);
      let refused: RateLimiterRes | undefined;
      for (const r of results) {
        if (r.status === 'fulfilled') continue;
        if (!(r.reason instanceof RateLimiterRes)) throw r.reason; // Redis itself failed
        if (!refused || r.reason.msBeforeNext > refused.msBeforeNext) refused = r.reason;
      }
      if (refused) throw refuse(refused);
    },

    /** A correct password: the pair starts afresh and the address gets its attempt back. */
    async succeeded(account: string, ip: string): Promise<void> {
      await Promise.all([pair.delete(pairKey(account, ip)), address.reward(addressKey(ip), 1)]);
    },
  };
}

export type LoginThrottle = ReturnType<typeof createLoginThrottle>;
