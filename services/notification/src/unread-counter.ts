import { cacheCounter, type Logger, type Metrics, type Redis } from '@shutter/kit';
import type { NotificationsRepository, UnreadState } from './notifications-repository';

/** Redis key of a user's unread count: a hash {c: count, v: version}. */
export const unreadKey = (userId: string) => `notif:unread:${userId}`;

/*
 * Writes (count, version) unless Redis already holds a newer version. Postgres orders the writes
 * (the version is bumped under the row lock of the count), so whichever order the writers' SETs
 * reach Redis in, the newest count wins. KEYS: the key. ARGV: count, version, ttl seconds.
 */
const SET_IF_NEWER = `
local v = redis.call('HGET', KEYS[1], 'v')
if v and tonumber(v) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'c', ARGV[1], 'v', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1`;

type WithScript = Redis & { notifSetUnread(key: string, count: number, version: number, ttl: number): Promise<number> };

/**
 * The unread count served from Redis. Postgres holds the exact count (changed in the same
 * transaction as the notifications); after each commit the new (count, version) is written here,
 * and a miss (expired, evicted, Redis restarted) is rebuilt from Postgres.
 */
export function createUnreadCounter(opts: {
  redis: Redis;
  repo: NotificationsRepository;
  ttlSeconds: number;
  log: Logger;
  retryEveryMs?: number;
  metrics?: Metrics;
}) {
  const { repo, ttlSeconds, log } = opts;
  const count = cacheCounter(opts.metrics, 'unread_count');
  const redis = opts.redis as WithScript;
  if (!redis.notifSetUnread) redis.defineCommand('notifSetUnread', { numberOfKeys: 1, lua: SET_IF_NEWER });
  // Users whose write to Redis failed: retried from Postgres until it lands.
  const failed = new Set<string>();
  const timer = setInterval(() => void retryFailed(), opts.retryEveryMs ?? 1000);
  timer.unref();

  async function write(userId: string, state: UnreadState): Promise<void> {
    await redis.notifSetUnread(unreadKey(userId), state.count, state.version, ttlSeconds);
  }

  async function retryFailed(): Promise<void> {
    for (const userId of [...failed]) {
      try {
        await write(userId, await repo.unreadState(userId));
        failed.delete(userId);
      } catch {
        return; // Redis (or Postgres) still down: next tick
      }
    }
  }

  return {
    /** After a commit that changed a user's count: publish it (never throws). */
    async committed(userId: string, state: UnreadState): Promise<void> {
      try {
        await write(userId, state);
      } catch (err) {
        failed.add(userId);
        log.warn({ err, userId }, 'unread count not written to redis; will retry');
      }
    },

    /** The count: one HGET; on a miss, Postgres's count (and Redis gets it back). */
    async get(userId: string): Promise<number> {
      let unavailable = false;
      const cached = await redis.hget(unreadKey(userId), 'c').catch((err: unknown) => {
        log.warn({ err }, 'unread count: redis unavailable, reading postgres');
        unavailable = true;
        return null;
      });
      count(unavailable ? 'unavailable' : cached !== null ? 'hit' : 'miss');
      if (cached !== null) return Number(cached);
      const state = await repo.unreadState(userId);
      await write(userId, state).catch(() => failed.add(userId));
      return state.count;
    },

    stop(): void {
      clearInterval(timer);
    },
  };
}

export type UnreadCounter = ReturnType<typeof createUnreadCounter>;
