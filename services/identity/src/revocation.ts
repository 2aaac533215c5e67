import { DISABLED_USERS_KEY, type Logger, type Redis } from '@shutter/kit';
import type { UsersRepository } from './users-repository';

/**
 * Redis holds only what can be rebuilt: this brings the set in line with Postgres, at start and
 * periodically, so a Redis restart that lost it is repaired within one interval. It never wipes
 * the set: members are read before Postgres, so an account disabled meanwhile (committed, then
 * added by setStatus) is either seen disabled or not yet a member, and is never removed here.
 */
export function startRevocationSync(users: UsersRepository, redis: Redis, log: Logger, intervalMs = 30_000) {
  const sync = async () => {
    const members = await redis.smembers(DISABLED_USERS_KEY);
    const disabled = new Set(await users.disabledIds());
    const enabledAgain = members.filter((id) => !disabled.has(id));
    const tx = redis.multi();
    if (disabled.size) tx.sadd(DISABLED_USERS_KEY, ...disabled);
    if (enabledAgain.length) tx.srem(DISABLED_USERS_KEY, ...enabledAgain);
    await tx.exec();
  };
  const run = () => sync().catch((err: unknown) => log.warn({ err }, 'revocation sync failed'));
  const timer = setInterval(run, intervalMs);
  timer.unref();
  return { ready: run(), stop: () => clearInterval(timer) };
}
