import { events } from '@shutter/proto';
import { createEventConsumer, type Knex, type Logger, type Metrics, type Redis } from '@shutter/kit';
import type { Feed } from './feed/feed';
import { objectKeysOf, type MediaRepository } from './media/media-repository';
import type { Authors } from './read-models/authors';
import type { FollowGraph } from './read-models/follow-graph';
import type { PostCache } from './posts/post-cache';
import type { Profiles } from './read-models/profiles';
import type { MediaStorage } from './storage/media-storage';

/** Consumer group of content on the "events" stream (also its idempotency namespace). */
export const CONSUMER_GROUP = 'content';

export const CONSUMED_TYPES = [
  'user.created',
  'user.updated',
  'user.disabled',
  'user.enabled',
  'follow.created',
  'follow.accepted',
  'follow.removed',
  'post.created',
  'post.deleted',
];

export interface EventsConsumerDeps {
  db: Knex;
  redis: Redis;
  log: Logger;
  metrics?: Metrics;
  authors: Authors;
  follows: FollowGraph;
  profiles: Profiles;
  media: MediaRepository;
  storage: MediaStorage;
  feed: Feed;
  postCache: PostCache;
}

/**
 * Keeps content's read models current (authors from identity, agree edges from social-graph),
 * fans new posts out to home timelines (feed/feed.ts) and deletes S3 objects after the fact: a
 * deleted post's images, a replaced avatar. Deleting an object twice or adding a post id to a
 * timeline twice is harmless, so those effects outside the transaction are safe to repeat.
 */
export function createContentEventsConsumer(deps: EventsConsumerDeps) {
  const { authors, follows, profiles, media, storage, feed, postCache } = deps;

  return createEventConsumer({
    db: deps.db,
    redis: deps.redis,
    log: deps.log,
    metrics: deps.metrics,
    group: CONSUMER_GROUP,
    types: CONSUMED_TYPES,
    handle: async (event, trx) => {
      switch (event.type) {
        case 'user.created':
          await authors.created(trx, events.UserCreated.decode(event.payload));
          return;
        case 'user.updated': {
          const msg = events.UserUpdated.decode(event.payload);
          const replaced = await authors.updated(trx, msg);
          await profiles.forget(msg.userId);
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
          const msg = events.UserStatusChanged.decode(event.payload);
          await authors.statusChanged(trx, msg.userId, event.type === 'user.disabled' ? 'disabled' : 'enabled');
          return;
        }
        case 'follow.created':
        case 'follow.accepted':
        case 'follow.removed': {
          const msg = events.FollowChanged.decode(event.payload);
          const present = event.type !== 'follow.removed' && msg.status === 'agree';
          await follows.applyEdge(trx, msg.followerId, msg.followeeId, present);
          // Reads check the edge too, so a timeline that still holds an unfollowed author's posts never shows them.
          if (present) await feed.followed(trx, msg.followerId, msg.followeeId);
          else if (event.type === 'follow.removed') await feed.unfollowed(trx, msg.followerId, msg.followeeId);
          return;
        }
        case 'post.created': {
          const msg = events.PostChanged.decode(event.payload);
          await feed.postCreated(trx, msg.postId, msg.authorId);
          return;
        }
        case 'post.deleted': {
          const msg = events.PostChanged.decode(event.payload);
          await postCache.drop(msg.postId);
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
