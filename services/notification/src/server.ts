import { identity, notification, type events } from '@shutter/proto';
import { SNAPSHOT_DEADLINE_MS, createClient, createGrpcServer, createRedis, internalAuth, snapshotSource, type Logger, type Metrics } from '@shutter/kit';
import { createDb, type EventConsumerOptions, backendsReady, startBackfills } from '@shutter/kit/db';
import type { NotificationConfig } from './config';
import { actorsReplica, createActors } from './actors';
import { createNotificationConsumer } from './consumer';
import { createLivePublisher } from './live';
import { schema } from './migrations';
import { createNotificationHandlers } from './notification-handlers';
import { createNotificationsRepository } from './notifications-repository';
import { createUnreadCounter } from './unread-counter';

export { schema, migrations } from './migrations';

export interface NotificationServiceOptions {
  /** Kit consumer timings (tests shorten them). */
  consumerTuning?: Partial<Pick<EventConsumerOptions, 'blockMs' | 'claimIdleMs' | 'claimEveryMs' | 'maxBackoffMs' | 'maxDeliveries'>>;
}

/**
 * Builds the notification service: its pools, the event consumer, the gRPC server and the actors
 * replica's backfill from identity (not ready until it is complete). Nothing runs until `start`;
 * `stop` closes what was opened, in order.
 */
export function createNotificationService(config: NotificationConfig, logger: Logger, metrics: Metrics, opts: NotificationServiceOptions = {}) {
  const db = createDb({ url: config.DATABASE_URL, schema, poolMax: config.DATABASE_POOL_MAX });
  const redis = createRedis(config.REDIS_URL, config.REDIS_KEY_PREFIX);
  const auth = internalAuth('notification', config);
  // Notification's only call to another service: identity's user snapshot, once in the actors replica's life.
  const identityClient = createClient(identity.IdentityServiceService, config.IDENTITY_ADDR, {
    service: 'identity',
    deadlineMs: SNAPSHOT_DEADLINE_MS,
    metrics,
    auth: auth.signer,
  });
  const repo = createNotificationsRepository(db);
  const actors = createActors(db);
  const backfill = actorsReplica.backfillFrom<events.UserState>({
    db,
    log: logger,
    snapshot: snapshotSource(identityClient, 'streamUserSnapshot', (page) => page.users),
    applyMany: (trx, users) => actors.applyStates(trx, users),
  });
  let backfilled = () => false;
  const unread = createUnreadCounter({ redis, repo, ttlSeconds: config.UNREAD_CACHE_TTL_SECONDS, log: logger, metrics });
  const live = createLivePublisher(redis, logger);
  const grpc = createGrpcServer({ logger, metrics, auth: auth.keys });
  // Every method reads or changes one user's notifications: none runs without that user.
  grpc.add(notification.NotificationServiceService, createNotificationHandlers({ db, repo, actors, unread, log: logger }), { withoutUser: [] });
  const consumer = createNotificationConsumer({
    db,
    redis,
    log: logger,
    repo,
    actors,
    unread,
    live,
    stream: config.EVENTS_STREAM,
    tuning: opts.consumerTuning,
    metrics,
  });

  return {
    db,
    redis,
    repo,
    unread,
    /** Starts consuming events and serving gRPC; answers the bound port. */
    async start(addr: string): Promise<number> {
      consumer.start();
      const port = await grpc.listen(addr);
      backfilled = startBackfills([backfill], grpc.health);
      return port;
    },
    /** Resolves when the actors replica is complete (tests). */
    replicasBackfilled: () => backfill.completed,
    ready: async () => backfilled() && (await backendsReady(db, redis, consumer)()),
    async stop(timeoutMs: number): Promise<void> {
      await backfill.stop();
      await grpc.shutdown(timeoutMs);
      await consumer.stop();
      unread.stop();
      identityClient.close();
      await redis.quit();
      await db.destroy();
    },
  };
}

export type NotificationService = ReturnType<typeof createNotificationService>;
