import Redis from 'ioredis';

export type { Redis };

/** ioredis with auto-pipelining (hot paths batch for free) and a key prefix per deployment or test run. */
export function createRedis(url: string, keyPrefix = ''): Redis {
  return new Redis(url, { keyPrefix, enableAutoPipelining: true, maxRetriesPerRequest: 2, lazyConnect: false });
}
