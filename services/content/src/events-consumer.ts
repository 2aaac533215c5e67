import { decodeEvent, type EventType } from '@shutter/contracts';
import type { events } from '@shutter/proto';
import type { Logger, Metrics, Redis } from '@shutter/kit';
import { createEventConsumer, type AfterCommit, type Knex } from '@shutter/kit/db';
import type { Feed } from './feed/feed';
import { objectKeysOf, type MediaRepository } from './media/media-repository';
import type { Authors } from './read-models/authors';
import type { Edge, FollowGraph } from './read-models/follow-graph';
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
 * How changes of replicated subjects land in content, whether they came as events (one at a time)
 * or as a backfilled snapshot page (read-models/backfill.ts, many at once, set-wise): one way, so
 * both converge. A user's state goes to the authors replica (and a replaced avatar content stored
 * is deleted); an edge's to the edges replica and `follows`.
 *
 * Timelines differ by path. An event's pair that became agree fans the followee's recent posts into
 * the follower's timeline (one pair, a few posts); one that stopped removes them (reads check the
 * edge anyway). A backfilled page instead drops the timelines of the followers whose pairs changed,
 * before and again after its commit: the next read rebuilds each from Postgres (feed.ts), which
 * holds the whole agree set — fanning in posts pair by pair would cost a statement and a Redis
 * write per edge, most of it for viewers who may never read. The second drop covers a rebuild made
 * by another, ready, content process between the first drop and the commit (a re-run backfill).
 */
export function createReplicaAppliers(deps: Pick<EventsConsumerDeps, 'authors' | 'follows' | 'media' | 'storage' | 'feed'>) {
  const { authors, follows, media, storage, feed } = deps;

  async function users(trx: Knex, states: events.UserState[]): Promise<void> {
    for (const { userId, replaced } of await authors.applyStates(trx, states)) {
      // Only an avatar content stored for this user is ours to delete.
      const row = await media.profileImageByKey(trx, replaced);
      if (row && row.owner_id === userId) {
        await storage.deleteMany(objectKeysOf(row));
        await media.deleteRows(trx, [row.id]);
      }
    }
  }

  return {
    user: (trx: Knex, state: events.UserState) => users(trx, [state]),
    users,

    async edge(trx: Knex, e: Edge): Promise<void> {
      for (const c of await follows.applyEdges(trx, [e])) {
        if (c.present) await feed.followed(trx, c.followerId, c.followeeId);
        else await feed.unfollowed(trx, c.followerId, c.followeeId);
      }
    },

    /** Answers the drop to repeat once `trx` has committed (kit createReplicaBackfill runs it). */
    async edges(trx: Knex, edges: Edge[]): Promise<AfterCommit | undefined> {
      const followers = [...new Set((await follows.applyEdges(trx, edges)).map((c) => c.followerId))];
      if (followers.length === 0) return undefined;
      await feed.forget(followers);
      return () => feed.forget(followers);
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
