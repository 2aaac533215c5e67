import type { Redis } from '@shutter/kit';

/** A slot is held this long unless renewed: a gateway that dies frees its users' slots by then. */
export const SLOT_LEASE_MS = 60_000;
export const SLOT_RENEW_MS = 20_000;

const keyOf = (userId: string) => `live:streams:${userId}`;

/**
 * The per-user cap on open event streams, across every gateway process: a sorted set per user
 * in Redis, member = stream id, score = the lease's end. Opening adds the stream and counts in one
 * MULTI; over the cap, it takes itself out again (two streams racing for the last slot may both
 * be refused: the cap is never exceeded). Open streams renew their leases every SLOT_RENEW_MS.
 */
export function createStreamSlots(redis: Redis, maxPerUser: number) {
  return {
    maxPerUser,

    /** Takes a slot for `streamId`; false when the user already has `maxPerUser` open. */
    async acquire(userId: string, streamId: string): Promise<boolean> {
      const key = keyOf(userId);
      const now = Date.now();
      const res = await redis
        .multi()
        .zremrangebyscore(key, '-inf', now)
        .zadd(key, now + SLOT_LEASE_MS, streamId)
        .zcard(key)
        .pexpire(key, SLOT_LEASE_MS)
        .exec();
      const [err, count] = res?.[2] ?? [new Error('no reply'), 0];
      if (err) throw err;
      if (Number(count) <= maxPerUser) return true;
      await redis.zrem(key, streamId).catch(() => undefined);
      return false;
    },

    async renew(slots: Iterable<{ userId: string; streamId: string }>): Promise<void> {
      const list = [...slots];
      if (list.length === 0) return;
      const tx = redis.pipeline();
      const until = Date.now() + SLOT_LEASE_MS;
      for (const s of list) tx.zadd(keyOf(s.userId), 'XX', until, s.streamId).pexpire(keyOf(s.userId), SLOT_LEASE_MS);
      await tx.exec();
    },

    release(userId: string, streamId: string): void {
      redis.zrem(keyOf(userId), streamId).catch(() => undefined); // the lease ends it anyway
    },
  };
}

export type StreamSlots = ReturnType<typeof createStreamSlots>;
