import type { Logger, Redis } from '@shutter/kit';
import type { Peers } from '../peers';

type Profile = Record<string, unknown>;

const keyOf = (userId: string) => `content:profile:${userId}`;

/**
 * Users' `profile` JSON (comment authors' metadata), which identity publishes no event for:
 * cached in Redis for a few minutes, filled from identity in one batch call per miss set, and
 * dropped at once when user.updated arrives. If identity cannot answer, `{}` is shown rather
 * than failing the read.
 */
export function createProfiles(deps: { redis: Redis; peers: Peers; ttlSeconds: number; log: Logger }) {
  const { redis, peers, log } = deps;

  return {
    async get(userIds: string[], requestId?: string): Promise<Map<string, Profile>> {
      const ids = [...new Set(userIds)];
      const out = new Map<string, Profile>();
      if (ids.length === 0) return out;
      const cached = await redis.mget(...ids.map(keyOf)).catch(() => ids.map(() => null));
      const missing: string[] = [];
      ids.forEach((id, i) => {
        const hit = cached[i];
        if (hit) out.set(id, JSON.parse(hit) as Profile);
        else missing.push(id);
      });
      if (missing.length === 0) return out;
      try {
        const res = await peers.identity.batchGetUsers({ userIds: missing }, { requestId });
        const tx = redis.multi();
        for (const u of res.users) {
          const profile = (u.profile ?? {}) as Profile;
          out.set(u.userId, profile);
          tx.set(keyOf(u.userId), JSON.stringify(profile), 'EX', deps.ttlSeconds);
        }
        await tx.exec();
      } catch (err) {
        log.warn({ err }, 'profiles unavailable from identity; showing empty ones');
      }
      for (const id of missing) if (!out.has(id)) out.set(id, {});
      return out;
    },

    async forget(userId: string): Promise<void> {
      await redis.del(keyOf(userId));
    },
  };
}

export type Profiles = ReturnType<typeof createProfiles>;
