import { content } from '@shutter/proto';
import { createGrpcServer, createRedis, internalAuth, type Logger, type Metrics } from '@shutter/kit';
import { createDb, createOutboxRelay, backendsReady, startBackfills } from '@shutter/kit/db';
import type { ContentConfig } from './config';
import { createCommentsRepository } from './comments/comments-repository';
import { createCommentsService } from './comments/comments-service';
import { createContentHandlers } from './content-handlers';
import { createMarkReplay } from './cache/pending-marks';
import { createContentEventsConsumer, createReplicaAppliers } from './events-consumer';
import { createPhotoBackfill } from './media/backfill';
import { createImageProcessor } from './media/image-processor';
import { createMediaRepository } from './media/media-repository';
import { createMediaService } from './media/media-service';
import { createPhotoStore } from './media/photo-store';
import { createSweeper } from './media/sweeper';
import { schema } from './migrations';
import { createFeed } from './feed/feed';
import { createPeers } from './peers';
import { createIdempotencyKeys } from './posts/idempotency-keys-repository';
import { createPostsRepository } from './posts/posts-repository';
import { createPostReads } from './posts/read-path';
import { createPostsService } from './posts/posts-service';
import { createPresenter } from './presenter';
import { createAuthors } from './read-models/authors';
import { createReplicaBackfills } from './read-models/backfill';
import { createFollowGraph } from './read-models/follow-graph';
import { createMediaStorage } from './storage/media-storage';

export { schema, migrations } from './migrations';

/**
 * Builds the content service: pools, S3, peers, gRPC server, outbox relay, event consumer,
 * replica backfills, media sweeper and the replay of cache markers deferred while Redis was down.
 * Nothing listens until `start`; `stop` closes what was opened, in order.
 */
export function createContentService(config: ContentConfig, logger: Logger, metrics: Metrics) {
  const db = createDb({ url: config.DATABASE_URL, schema, poolMax: config.DATABASE_POOL_MAX });
  const redis = createRedis(config.REDIS_URL, config.REDIS_KEY_PREFIX);
  const storage = createMediaStorage(config);
  const auth = internalAuth('content', config);
  const peers = createPeers(config, metrics, auth.signer);

  const reads = createPostReads({ db, redis, log: logger, ttlSeconds: config.POST_CACHE_TTL_SECONDS, metrics });
  const marks = createMarkReplay({ db, redis, log: logger, caches: reads.deferrable, metrics });
  const authors = createAuthors({ db, reads });
  const follows = createFollowGraph({ db, reads });
  const media = createMediaRepository(db);
  const presenter = createPresenter({ urls: storage.urls, authors: reads.authors, servedKeys: (keys) => media.processedKeysOf(keys) });
  const idempotency = createIdempotencyKeys(db);
  const processor = createImageProcessor({ concurrency: config.IMAGE_CONCURRENCY, metrics });
  const photos = createPhotoStore({ processor, storage, tmpDir: config.MEDIA_TMP_DIR, log: logger });
  const mediaService = createMediaService({
    db,
    media,
    storage,
    photos,
    unusedTtlSeconds: config.MEDIA_UNUSED_TTL_SECONDS,
    keepOriginals: config.MEDIA_KEEP_ORIGINALS,
    log: logger,
  });
  const posts = createPostsRepository(db);
  const comments = createCommentsRepository(db);
  const feed = createFeed({
    redis,
    posts,
    reads,
    log: logger,
    config: { maxItems: config.FEED_MAX_ITEMS, fanoutMaxFollowers: config.FEED_FANOUT_MAX_FOLLOWERS, ttlSeconds: config.FEED_TTL_SECONDS },
    metrics,
  });
  const postsService = createPostsService({ db, posts, reads, feed, comments, media, mediaService, idempotency, authors, presenter, log: logger });
  const commentsService = createCommentsService({ db, comments, posts, reads, postsService, authors, presenter });

  const grpc = createGrpcServer({ logger, metrics, auth: auth.keys });
  const handlers = createContentHandlers({ posts: postsService, postsRepository: posts, comments: commentsService, media: mediaService, urls: storage.urls });
  grpc.add(content.ContentServiceService, handlers, {
    // The gateway signs image URLs in batches across users (a URL only reaches who may see the post);
    // the post snapshot backfills identity's replica (peers only: the handler refuses the gateway).
    withoutUser: ['signMediaUrls', 'streamPostSnapshot'],
    peers: { identity: ['streamPostSnapshot'] },
  });
  const relay = createOutboxRelay({ db, schema, redis, log: logger, metrics });
  const consumer = createContentEventsConsumer({ db, redis, log: logger, metrics, authors, follows, media, storage, feed, reads });
  const replicaBackfills = createReplicaBackfills({ db, log: logger, peers, apply: createReplicaAppliers({ authors, follows, media, storage, feed }) });
  let replicasComplete = () => false;
  const backfill = createPhotoBackfill({ db, media, storage, photos, reads, keepOriginals: config.MEDIA_KEEP_ORIGINALS, log: logger });
  const sweeper = createSweeper({
    db,
    media,
    storage,
    idempotency,
    log: logger,
    intervalMs: config.SWEEP_INTERVAL_MS,
    keepOriginals: config.MEDIA_KEEP_ORIGINALS,
    photos,
  });

  return {
    db,
    redis,
    storage,
    photos,
    backfill,
    sweeper,
    feed,
    async start(addr: string): Promise<number> {
      relay.start();
      consumer.start();
      sweeper.start();
      marks.start();
      const port = await grpc.listen(addr);
      replicasComplete = startBackfills(replicaBackfills, grpc.health);
      return port;
    },
    /** Resolves when the replicas are complete (tests). */
    replicasBackfilled: () => Promise.all(replicaBackfills.map((b) => b.completed)),
    ready: async () => replicasComplete() && (await backendsReady(db, redis, consumer)()),
    async stop(timeoutMs: number): Promise<void> {
      await Promise.all(replicaBackfills.map((b) => b.stop()));
      await grpc.shutdown(timeoutMs);
      await sweeper.stop();
      await marks.stop();
      await consumer.stop();
      await relay.stop();
      peers.close();
      storage.destroy();
      await redis.quit();
      await db.destroy();
    },
  };
}

export type ContentService = ReturnType<typeof createContentService>;
