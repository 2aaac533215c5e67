import { cacheCounter, type Client, type Metrics } from '@shutter/kit';
import { identity } from '@shutter/proto';
import type { ActorSnapshot } from './notifications-repository';

export type IdentityClient = Client<typeof identity.IdentityServiceService>;

const MAX_ENTRIES = 10_000;

/**
 * Actors (username, name, profile, avatar key) from identity: one BatchGetUsers for whatever a
 * page or an event needs that is not cached; entries are reused for `ttlMs`.
 */
export function createActorDirectory(client: IdentityClient, opts: { ttlMs: number; deadlineMs: number; metrics?: Metrics }) {
  const cache = new Map<string, { actor: ActorSnapshot; until: number }>();
  const count = cacheCounter(opts.metrics, 'actor');

  return {
    /** The known actors among `ids` (unknown ids are left out). Throws when identity fails. */
    async get(ids: string[], requestId?: string): Promise<Map<string, ActorSnapshot>> {
      const now = Date.now();
      const found = new Map<string, ActorSnapshot>();
      const missing: string[] = [];
      for (const id of new Set(ids)) {
        const hit = cache.get(id);
        if (hit && hit.until > now) found.set(id, hit.actor);
        else missing.push(id);
      }
      count('hit', found.size);
      count('miss', missing.length);
      if (missing.length === 0) return found;
      const res = await client.batchGetUsers({ userIds: missing }, { requestId, deadlineMs: opts.deadlineMs });
      for (const u of res.users) {
        const actor: ActorSnapshot = { user_id: u.userId, username: u.username, name: u.name, profile: u.profile ?? {}, profile_image_key: u.profileImageKey };
        found.set(u.userId, actor);
        // Oldest first out: a Map iterates in insertion order.
        if (cache.size >= MAX_ENTRIES) cache.delete(cache.keys().next().value as string);
        cache.set(u.userId, { actor, until: now + opts.ttlMs });
      }
      return found;
    },
  };
}

export type ActorDirectory = ReturnType<typeof createActorDirectory>;

/** The stand-in when identity cannot say who acted: the id only (reads fill the rest in later). */
export const unknownActor = (userId: string): ActorSnapshot => ({ user_id: userId, username: '', name: '', profile: {}, profile_image_key: '' });
