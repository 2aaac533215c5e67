import { identity } from '@shutter/proto';
import { GrpcStatus, createClient, type AssertionSigner, type Logger, type Metrics, type Redis } from '@shutter/kit';

/** What social-graph needs to know about a user to apply the follow rules. */
export interface DirectoryUser {
  userId: string;
  status: string;
  isPublic: boolean;
}

/** Written over a cached entry when identity announces a change: the next look-ups ask identity. */
const TOMBSTONE = '-';
const TOMBSTONE_TTL_SECONDS = 10;

export const userCacheKey = (userId: string) => `graph:user:${userId}`;

export type IdentityClient = ReturnType<typeof createIdentityClient>;

export function createIdentityClient(addr: string, deadlineMs: number, metrics: Metrics | undefined, auth: AssertionSigner) {
  return createClient(identity.IdentityServiceService, addr, { service: 'identity', deadlineMs, metrics, auth });
}

/**
 * Identity's users as social-graph sees them, behind a short Redis cache (`graph:user:<id>`).
 * Identity's events invalidate an entry by writing a short-lived tombstone, not by deleting it:
 * a look-up that read identity before the change cannot then cache the old answer, because
 * entries are only ever added with SET NX.
 */
export function createUserDirectory(opts: { identity: IdentityClient; redis: Redis; ttlSeconds: number; log: Logger }) {
  const { redis, log } = opts;

  return {
    /** The user, or null when identity does not know the id. */
    async get(userId: string, requestId?: string): Promise<DirectoryUser | null> {
      const key = userCacheKey(userId);
      // The cache is rebuildable: with Redis down, identity answers every look-up.
      const cached = await redis.get(key).catch((err: unknown) => {
        log.warn({ err }, 'user cache unavailable');
        return TOMBSTONE;
      });
      if (cached && cached !== TOMBSTONE) return JSON.parse(cached) as DirectoryUser;
      let user: identity.User;
      try {
        user = await opts.identity.getUser({ userId }, { requestId });
      } catch (err) {
        if ((err as { code?: number }).code === GrpcStatus.NOT_FOUND) return null;
        throw err;
      }
      const entry: DirectoryUser = { userId: user.userId, status: user.status, isPublic: user.isPublic };
      if (cached !== TOMBSTONE) {
        await redis.set(key, JSON.stringify(entry), 'EX', opts.ttlSeconds, 'NX').catch((err: unknown) => log.warn({ err }, 'user cache write failed'));
      }
      return entry;
    },

    /** Forgets what is cached about the user (identity's events call this). Idempotent. */
    async invalidate(userId: string): Promise<void> {
      await redis.set(userCacheKey(userId), TOMBSTONE, 'EX', TOMBSTONE_TTL_SECONDS);
    },
  };
}

export type UserDirectory = ReturnType<typeof createUserDirectory>;
