import Redis from 'ioredis';

export type { Redis };

/**
 * How long one command may take, queued or sent. Redis answers in microseconds: a second is an
 * outage (a host that drops packets would otherwise cost `connectTimeout`, 10 s, per attempt).
 * Blocking reads (XREADGROUP BLOCK) opt out: see `blockingConnection`.
 */
export const REDIS_COMMAND_TIMEOUT_MS = 1000;

/**
 * ioredis with auto-pipelining (hot paths batch for free) and a key prefix per deployment or test run.
 *
 * Commands are queued until the first connection (start-up order does not matter), but fail at
 * once while a lost connection is being re-established: by default ioredis queues them through
 * reconnect attempts whose delays grow to 2 s, so every request touching a dead Redis waited
 * seconds before its fail-open path (revocation check, rate limit, caches) ran. Every command is
 * also bounded by REDIS_COMMAND_TIMEOUT_MS.
 */
export function createRedis(url: string, keyPrefix = ''): Redis {
  const redis = new Redis(url, { keyPrefix, enableAutoPipelining: true, maxRetriesPerRequest: 2, lazyConnect: false, commandTimeout: REDIS_COMMAND_TIMEOUT_MS });
  failFastWhileDown(redis);
  return redis;
}

function failFastWhileDown(redis: Redis): void {
  redis.on('ready', () => {
    redis.options.enableOfflineQueue = true;
  });
  redis.on('close', () => {
    redis.options.enableOfflineQueue = false;
  });
}

/** A second connection for blocking commands, which legitimately wait longer than the command timeout. */
export function blockingConnection(redis: Redis): Redis {
  return redis.duplicate({ commandTimeout: undefined, enableOfflineQueue: true });
}
