import type { Redis } from '@shutter/kit';
import { resourceExhausted } from '@shutter/kit';

/**
 * Failed-login throttling in Redis: per account (email) and, more loosely, per client IP.
 * A fixed window per key; a success clears the account's counter.
 */
export function createLoginThrottle(redis: Redis, opts: { maxAttempts: number; windowSeconds: number }) {
  const keys = (email: string, ip: string) => [`login:fail:email:${email.toLowerCase()}`, ip ? `login:fail:ip:${ip}` : null];
  const limits = [opts.maxAttempts, opts.maxAttempts * 10];

  return {
    /** Throws RESOURCE_EXHAUSTED (429 + Retry-After) while either counter is over its limit. */
    async check(email: string, ip: string): Promise<void> {
      const ks = keys(email, ip);
      for (let i = 0; i < ks.length; i++) {
        const k = ks[i];
        if (!k) continue;
        const count = Number((await redis.get(k)) ?? 0);
        if (count >= (limits[i] ?? opts.maxAttempts)) {
          const ttl = await redis.ttl(k);
          throw resourceExhausted('Too many failed login attempts. Try again later.', ttl > 0 ? ttl : opts.windowSeconds, 'login_throttled');
        }
      }
    },
    async fail(email: string, ip: string): Promise<void> {
      for (const k of keys(email, ip)) {
        if (!k) continue;
        const n = await redis.incr(k);
        if (n === 1) await redis.expire(k, opts.windowSeconds);
      }
    },
    async succeed(email: string): Promise<void> {
      const [k] = keys(email, '');
      if (k) await redis.del(k);
    },
  };
}
