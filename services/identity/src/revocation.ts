import { DISABLED_USERS_KEY, REVOCATIONS_VERSION_KEY, REVOKED_SESSIONS_KEY, revocationsChannel, type RevocationMessage } from '@shutter/contracts';
import type { Logger, Redis } from '@shutter/kit';
import type { SessionsRepository } from './sessions-repository';
import type { UsersRepository } from './users-repository';

/** Allowance for clocks that disagree between identity (which sets `exp`) and the gateway. */
const CLOCK_SKEW_MS = 60_000;

/**
 * Tells the gateways that sessions ended or an account's status changed: the Redis keys of
 * @shutter/contracts and a message on their channel, in one MULTI, after the Postgres commit. A failure
 * here is logged, not thrown: Postgres holds the truth and the sync below repairs Redis.
 */
export function createRevocationPublisher(redis: Redis, log: Logger, accessTtlSeconds: number) {
  const channel = revocationsChannel(redis.options.keyPrefix ?? '');
  const message = (m: RevocationMessage) => JSON.stringify(m);
  /** Until when an access token issued in a session that ends at `endedAt` may still be valid. */
  const untilOf = (endedAt: number) => endedAt + accessTtlSeconds * 1000 + CLOCK_SKEW_MS;

  return {
    untilOf,

    async sessionsEnded(ids: string[]): Promise<void> {
      if (ids.length === 0) return;
      const until = untilOf(Date.now());
      const members = ids.flatMap((id) => [until, id]);
      await redis
        .multi()
        .zadd(REVOKED_SESSIONS_KEY, ...members)
        .incr(REVOCATIONS_VERSION_KEY)
        .publish(channel, message({ type: 'sessions', ids, until }))
        .exec()
        .catch((err: unknown) => log.warn({ err, sessions: ids.length }, 'session revocation not published; the periodic sync will'));
    },

    async statusChanged(userId: string, disabled: boolean): Promise<void> {
      const tx = redis.multi();
      if (disabled) tx.sadd(DISABLED_USERS_KEY, userId);
      else tx.srem(DISABLED_USERS_KEY, userId);
      await tx
        .incr(REVOCATIONS_VERSION_KEY)
        .publish(channel, message({ type: 'user', id: userId, disabled }))
        .exec()
        .catch((err: unknown) => log.warn({ err, user_id: userId }, 'status change not published; the periodic sync will'));
    },

    async resynced(): Promise<void> {
      await redis.publish(channel, message({ type: 'resync' }));
    },
  };
}

export type RevocationPublisher = ReturnType<typeof createRevocationPublisher>;

/**
 * Redis holds only what can be rebuilt: this brings the revocation keys in line with Postgres at
 * start, every `intervalMs`, and within `checkMs` of Redis losing them (the version key is gone).
 * It never wipes a set: members are read before Postgres, so an account disabled meanwhile
 * (committed, then added by the publisher) is either seen disabled or not yet a member, and is
 * never removed here; ended sessions are only ever added, and dropped once their tokens expired.
 */
export function startRevocationSync(
  deps: { sessions: SessionsRepository; users: UsersRepository; redis: Redis; log: Logger; publisher: RevocationPublisher; accessTtlSeconds: number },
  opts: { intervalMs: number; checkMs: number },
) {
  const { sessions, users, redis, log, publisher } = deps;
  const windowMs = deps.accessTtlSeconds * 1000 + CLOCK_SKEW_MS;

  const sync = async () => {
    const [members, hadVersion] = await Promise.all([redis.smembers(DISABLED_USERS_KEY), redis.exists(REVOCATIONS_VERSION_KEY)]);
    const disabled = new Set(await users.disabledIds());
    const ended = await sessions.endedSince(new Date(Date.now() - windowMs));
    const enabledAgain = members.filter((id) => !disabled.has(id));
    const tx = redis.multi();
    if (disabled.size) tx.sadd(DISABLED_USERS_KEY, ...disabled);
    if (enabledAgain.length) tx.srem(DISABLED_USERS_KEY, ...enabledAgain);
    if (ended.length) tx.zadd(REVOKED_SESSIONS_KEY, ...ended.flatMap((s) => [publisher.untilOf(s.ended_at.getTime()), s.id]));
    tx.zremrangebyscore(REVOKED_SESSIONS_KEY, '-inf', Date.now());
    tx.incr(REVOCATIONS_VERSION_KEY);
    const results = (await tx.exec()) ?? [];
    // Anything added or removed (or the whole state was missing): gateways reread it now.
    const changed = !hadVersion || results.slice(0, -2).some(([, n]) => typeof n === 'number' && n > 0) || enabledAgain.length > 0;
    if (changed) await publisher.resynced();
  };

  let running: Promise<void> | null = null;
  const run = () => {
    running ??= sync()
      .catch((err: unknown) => log.warn({ err }, 'revocation sync failed'))
      .finally(() => {
        running = null;
      });
    return running;
  };
  const check = async () => {
    if (!(await redis.exists(REVOCATIONS_VERSION_KEY))) await run();
  };
  // run() never rejects (a failed sync is logged above).
  const timer = setInterval(() => void run(), opts.intervalMs);
  const checkTimer = setInterval(() => void check().catch(() => undefined), opts.checkMs);
  timer.unref();
  checkTimer.unref();
  return {
    ready: run(),
    stop: () => {
      clearInterval(timer);
      clearInterval(checkTimer);
    },
  };
}
