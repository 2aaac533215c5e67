import { DISABLED_USERS_KEY, type Logger, type Redis } from '@shutter/kit';
import type { UsersRepository } from './users-repository';

/**
 * Redis holds only what can be rebuilt: this rewrites the set from Postgres, at start and
 * periodically, so a Redis restart that lost it is repaired within one interval.
 */
export function startRevocationSync(users: UsersRepository, redis: Redis, log: Logger, intervalMs = 30_000) {
  const sync = async () => {
    const ids = await users.disabledIds();
    const tx = redis.multi().del(DISABLED_USERS_KEY);
    if (ids.length) tx.sadd(DISABLED_USERS_KEY, ...ids);
    await tx.exec();
  };
  const run = () => sync().catch((err: unknown) => log.warn({ err }, 'revocation sync failed'));
  const timer = setInterval(run, intervalMs);
  timer.unref();
  return { ready: run(), stop: () => clearInterval(timer) };
}
