import { decodeEvent, type EventType } from '@shutter/contracts';
import type { Logger, Metrics, Redis } from '@shutter/kit';
import { createEventConsumer, type Knex } from '@shutter/kit/db';
import type { Feed } from './feed/feed';
import { objectKeysOf, type MediaRepository } from './media/media-repository';
import type { Authors } from './read-models/authors';
import type { FollowGraph } from './read-models/follow-graph';
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
 * Keeps content's read models current (authors from identity, agree edges from social-graph),
 * fans new posts out to home timelines (feed/feed.ts) and deletes S3 objects after the fact: a
 * deleted post's images, a replaced avatar. Deleting an object twice or adding a post id to a
 * timeline twice is harmless, so those effects outside the transaction are safe to repeat.
 */
export function createContentEventsConsumer(deps: EventsConsumerDeps) {
  const { authors, follows, media, storage, feed, reads } = deps;

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
          const msg = decodeEvent(event.type, event.payload);
          if (msg.state?.version) await authors.applyState(trx, msg.state);
          else await authors.created(trx, msg); // from a producer before versions
          return;
        }
        case 'user.updated': {
          const msg = decodeEvent(event.type, event.payload);
          const replaced = msg.state?.version ? await authors.applyState(trx, msg.state) : await authors.updated(trx, msg);
          if (replaced) {
            // Only an avatar content stored for this user is ours to delete.
            const row = await media.profileImageByKey(trx, replaced);
            if (row && row.owner_id === msg.userId) {
              await storage.deleteMany(objectKeysOf(row));
              await media.deleteRows(trx, [row.id]);
            }
          }
          return;
        }
        case 'user.disabled':
        case 'user.enabled': {
          const msg = decodeEvent(event.type, event.payload);
          if (msg.state?.version) await authors.applyState(trx, msg.state);
          else await authors.statusChanged(trx, msg.userId, event.type === 'user.disabled' ? 'disabled' : 'enabled');
          return;
        }
        case 'follow.requested':
        case 'follow.created':
        case 'follow.accepted':
        case 'follow.removed': {
          const msg = decodeEvent(event.type, event.payload);
          const status = event.type === 'follow.removed' ? 'removed' : msg.status === 'agree' ? 'agree' : 'pending';
          const edge = await follows.applyEdge(trx, { followsId: msg.followsId, followerId: msg.followerId, followeeId: msg.followeeId, status });
          // Reads check the edge too, so a timeline that still holds an unfollowed author's posts never shows them.
          if (edge.changed && edge.present) await feed.followed(trx, msg.followerId, msg.followeeId);
          else if (edge.changed) await feed.unfollowed(trx, msg.followerId, msg.followeeId);
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
