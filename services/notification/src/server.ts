import { identity, notification } from '@shutter/proto';
import { createClient, createGrpcServer, createRedis, internalAuth, type Logger, type Metrics } from '@shutter/kit';
import { createDb, type EventConsumerOptions, backendsReady } from '@shutter/kit/db';
import type { NotificationConfig } from './config';
import { createActorDirectory } from './actors';
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
 * Builds the notification service: its pools, the identity client, the event consumer and the
 * gRPC server. Nothing runs until `start`; `stop` closes what was opened, in order.
 */
export function createNotificationService(config: NotificationConfig, logger: Logger, metrics: Metrics, opts: NotificationServiceOptions = {}) {
  const db = createDb({ url: config.DATABASE_URL, schema, poolMax: config.DATABASE_POOL_MAX });
  const redis = createRedis(config.REDIS_URL, config.REDIS_KEY_PREFIX);
  const auth = internalAuth('notification', config);
  const identityClient = createClient(identity.IdentityServiceService, config.IDENTITY_ADDR, {
    service: 'identity',
    auth: auth.signer,
    deadlineMs: config.GRPC_DEADLINE_MS,
    metrics,
  });
  const repo = createNotificationsRepository(db);
  const actors = createActorDirectory(identityClient, { ttlMs: config.ACTOR_CACHE_MS, deadlineMs: Math.min(config.GRPC_DEADLINE_MS, 2000), metrics });
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
      return grpc.listen(addr);
    },
    ready: backendsReady(db, redis, consumer),
    async stop(timeoutMs: number): Promise<void> {
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
