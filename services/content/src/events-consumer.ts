import { decodeEvent, type EventType } from '@shutter/contracts';
import type { events } from '@shutter/proto';
import type { Logger, Metrics, Redis } from '@shutter/kit';
import { createEventConsumer, type Knex } from '@shutter/kit/db';
import type { Feed } from './feed/feed';
import { objectKeysOf, type MediaRepository } from './media/media-repository';
import type { Authors } from './read-models/authors';
import type { EdgeStatus, FollowGraph } from './read-models/follow-graph';
import type { PostReads } from './posts/read-path';
import type { MediaStorage } from './storage/media-storage';

/** Consumer group of content on the "events" stream (also its idempotency namespace). */
export const CONSUMER_GROUP = 'content';

export const CONSUMED_TYPES = [
  'user.created',
  'user.updated',
  'user.disabled',
  'user.enabled',
  'follow.requested',
  'follow.created',
  'follow.accepted',
  'follow.removed',
  'post.created',
  'post.deleted',
] as const satisfies readonly EventType[];

export interface EventsConsumerDeps {
  db: Knex;
  redis: Redis;
  log: Logger;
  metrics?: Metrics;
  authors: Authors;
  follows: FollowGraph;
  media: MediaRepository;
  storage: MediaStorage;
  feed: Feed;
  reads: PostReads;
}

/**
 * How one change of a replicated subject lands in content, whether it came as an event or as a
 * backfilled snapshot row (read-models/backfill.ts): one way, so both converge. A user's state goes
 * to the authors replica (and a replaced avatar content stored is deleted); an edge's to the
 * edges replica, and a pair that became (or stopped being) agree updates the follower's timeline.
 */
export function createReplicaAppliers(deps: Pick<EventsConsumerDeps, 'authors' | 'follows' | 'media' | 'storage' | 'feed'>) {
  const { authors, follows, media, storage, feed } = deps;
  return {
    async user(trx: Knex, state: events.UserState): Promise<void> {
      const replaced = await authors.applyState(trx, state);
      if (!replaced) return;
      // Only an avatar content stored for this user is ours to delete.
      const row = await media.profileImageByKey(trx, replaced);
      if (row && row.owner_id === state.userId) {
        await storage.deleteMany(objectKeysOf(row));
        await media.deleteRows(trx, [row.id]);
      }
    },

    async edge(trx: Knex, e: { followsId: string; followerId: string; followeeId: string; status: EdgeStatus }): Promise<void> {
      const edge = await follows.applyEdge(trx, e);
      // Reads check the edge too, so a timeline that still holds an unfollowed author's posts never shows them.
      if (edge.changed && edge.present) await feed.followed(trx, e.followerId, e.followeeId);
      else if (edge.changed) await feed.unfollowed(trx, e.followerId, e.followeeId);
    },
  };
}

export type ReplicaAppliers = ReturnType<typeof createReplicaAppliers>;

/**
 * Keeps content's read models current (authors from identity, edges from social-graph), fans new
 * posts out to home timelines (feed/feed.ts) and deletes S3 objects after the fact: a deleted
 * post's images, a replaced avatar. Deleting an object twice or adding a post id to a timeline
 * twice is harmless, so those effects outside the transaction are safe to repeat. A user event
 * without a version comes from a producer before versions: the backfill covered what it said.
 */
export function createContentEventsConsumer(deps: EventsConsumerDeps) {
  const { media, storage, feed, reads } = deps;
  const apply = createReplicaAppliers(deps);

  return createEventConsumer({
    db: deps.db,
    redis: deps.redis,
    log: deps.log,
    metrics: deps.metrics,
    group: CONSUMER_GROUP,
    types: CONSUMED_TYPES,
    handle: async (event, trx) => {
      switch (event.type) {
        case 'user.created': {
          const { state } = decodeEvent(event.type, event.payload);
          if (state?.version) await apply.user(trx, state);
          return;
        }
        case 'user.updated': {
          const { state } = decodeEvent(event.type, event.payload);
          if (state?.version) await apply.user(trx, state);
          return;
        }
        case 'user.disabled':
        case 'user.enabled': {
          const { state } = decodeEvent(event.type, event.payload);
          if (state?.version) await apply.user(trx, state);
          return;
        }
        case 'follow.requested':
        case 'follow.created':
        case 'follow.accepted':
        case 'follow.removed': {
          const msg = decodeEvent(event.type, event.payload);
          const status = event.type === 'follow.removed' ? 'removed' : msg.status === 'agree' ? 'agree' : 'pending';
          await apply.edge(trx, { followsId: msg.followsId, followerId: msg.followerId, followeeId: msg.followeeId, status });
          return;
        }
        case 'post.created': {
          const msg = decodeEvent(event.type, event.payload);
          await feed.postCreated(trx, msg.postId, msg.authorId);
          return;
        }
        case 'post.deleted': {
          const msg = decodeEvent(event.type, event.payload);
          await reads.postDeleted(msg.postId);
          if (msg.mediaKeys.length) {
            await storage.deleteMany(msg.mediaKeys);
            await media.deleteByKeys(trx, msg.mediaKeys);
          }
          return;
        }
        default:
          return;
      }
    },
  });
}
