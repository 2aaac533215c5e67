import { socialgraph } from '@shutter/proto';
import { createGrpcServer, createRedis, internalAuth, type Logger, type Metrics } from '@shutter/kit';
import { createDb, createOutboxRelay, backendsReady } from '@shutter/kit/db';
import type { SocialGraphConfig } from './config';
import { createFollowsRepository } from './follows-repository';
import { createFollowsService } from './follows-service';
import { createIdentityEventsConsumer } from './identity-events';
import { schema } from './migrations';
import { createSocialGraphHandlers } from './social-graph-handlers';
import { createIdentityClient, createUserDirectory } from './user-directory';

export { schema, migrations } from './migrations';

/**
 * Builds the social-graph service: its pool, Redis, identity client, gRPC server, outbox relay
 * and identity-events consumer. Nothing listens until `start`; `stop` closes in order.
 */
export function createSocialGraphService(config: SocialGraphConfig, logger: Logger, metrics: Metrics) {
  const db = createDb({ url: config.DATABASE_URL, schema, poolMax: config.DATABASE_POOL_MAX });
  const redis = createRedis(config.REDIS_URL, config.REDIS_KEY_PREFIX);
  const auth = internalAuth('social-graph', config);
  const identity = createIdentityClient(config.IDENTITY_ADDR, config.IDENTITY_DEADLINE_MS, metrics, auth.signer);
  const users = createUserDirectory({ identity, redis, ttlSeconds: config.USER_CACHE_TTL_SECONDS, log: logger });
  const follows = createFollowsRepository(db);
  const service = createFollowsService({ db, follows, users });
  const grpc = createGrpcServer({ logger, metrics, auth: auth.keys });
  grpc.add(socialgraph.SocialGraphServiceService, createSocialGraphHandlers({ service, follows }), {
    // Counts are public facts; BatchRelationships names its viewer in the request; the edge
    // snapshot backfills content's and identity's replicas (peers only: the handler refuses the gateway).
    withoutUser: ['batchCounts', 'batchRelationships', 'streamFollowers', 'streamFollowing', 'streamEdgeSnapshot'],
    // StreamFollowers/StreamFollowing: no peer reads them since content's replica is complete.
    peers: { content: ['streamEdgeSnapshot'], identity: ['streamEdgeSnapshot'] },
  });
  const relay = createOutboxRelay({ db, schema, redis, log: logger, metrics });
  const consumer = createIdentityEventsConsumer({ db, redis, log: logger, metrics, users, follows, service });

  return {
    db,
    redis,
    async start(addr: string): Promise<number> {
      relay.start();
      consumer.start();
      return grpc.listen(addr);
    },
    ready: backendsReady(db, redis, consumer),
    async stop(timeoutMs: number): Promise<void> {
      await grpc.shutdown(timeoutMs);
      await consumer.stop();
      await relay.stop();
      identity.close();
      await redis.quit();
      await db.destroy();
    },
  };
}
