import type { events } from '@shutter/proto';
import { defineReplica, type Knex } from '@shutter/kit/db';
import type { ActorSnapshot } from './notifications-repository';

/** identity's users as a versioned replica (kit defineReplica): an event applies only if newer. */
export const actorsReplica = defineReplica({ table: 'actors', key: ['id'], fields: ['username', 'name', 'profile', 'profile_image_key'] });

/**
 * Actors (username, name, profile, avatar key) from notification's replica of identity's users:
 * complete (backfilled once from identity's snapshot, then kept current by identity's `user.*`
 * events in consumer.ts), so a look-up is one query here, never a call to identity.
 */
export function createActors(db: Knex) {
  return {
    /** The known actors among `ids` (an id not held yet, its sign-up's event in flight, is left out). */
    async get(ids: string[], trx: Knex = db): Promise<Map<string, ActorSnapshot>> {
      const unique = [...new Set(ids)];
      if (unique.length === 0) return new Map();
      const rows = await trx('actors').whereIn('id', unique).select('id', 'username', 'name', 'profile', 'profile_image_key');
      return new Map(
        rows.map((r: { id: string; username: string; name: string; profile: Record<string, unknown>; profile_image_key: string }) => [
          r.id,
          { user_id: r.id, username: r.username, name: r.name, profile: r.profile, profile_image_key: r.profile_image_key },
        ]),
      );
    },

    /** Applies users' whole states at identity's versions (events, or a snapshot page) set-wise; an older or repeated state changes nothing. */
    async applyStates(trx: Knex, states: events.UserState[]): Promise<void> {
      await actorsReplica.applyMany(
        trx,
        states.map((u) => ({
          id: u.userId,
          username: u.username,
          name: u.name,
          profile: JSON.parse(u.profileJson || '{}') as unknown, // jsonb: given as its value (kit ReplicaSpec)
          profile_image_key: u.profileImageKey,
          version: Number(u.version),
        })),
      );
    },
  };
}

export type Actors = ReturnType<typeof createActors>;

/** The stand-in for an actor the replica does not hold yet: the id only (reads fill the rest in later). */
export const unknownActor = (userId: string): ActorSnapshot => ({ user_id: userId, username: '', name: '', profile: {}, profile_image_key: '' });
