import { identity, socialgraph, type events } from '@shutter/proto';
import { SNAPSHOT_DEADLINE_MS, createClient, createGrpcServer, createRedis, internalAuth, snapshotSource, type Logger, type Metrics } from '@shutter/kit';
import { createDb, createOutboxRelay, backendsReady, startBackfills } from '@shutter/kit/db';
import type { SocialGraphConfig } from './config';
import { createFollowsRepository } from './follows-repository';
import { createFollowsService } from './follows-service';
import { createIdentityEventsConsumer, createUsersApplier } from './identity-events';
import { schema } from './migrations';
import { createSocialGraphHandlers } from './social-graph-handlers';
import { createUsers, usersReplica } from './users';

export { schema, migrations } from './migrations';

/**
 * Builds the social-graph service: its pool, Redis, gRPC server, outbox relay, identity-events
 * consumer and the users replica's backfill from identity (not ready until it is complete).
 * Nothing listens until `start`; `stop` closes in order.
 */
export function createSocialGraphService(config: SocialGraphConfig, logger: Logger, metrics: Metrics) {
  const db = createDb({ url: config.DATABASE_URL, schema, poolMax: config.DATABASE_POOL_MAX });
  const redis = createRedis(config.REDIS_URL, config.REDIS_KEY_PREFIX);
  const auth = internalAuth('social-graph', config);
  // Social-graph's only call to another service: identity's user snapshot, once in the users replica's life.
  const identityClient = createClient(identity.IdentityServiceService, config.IDENTITY_ADDR, {
    service: 'identity',
    deadlineMs: SNAPSHOT_DEADLINE_MS,
    metrics,
    auth: auth.signer,
  });
  const users = createUsers(db);
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
  const applyUsers = createUsersApplier({ users, service, log: logger });
  const consumer = createIdentityEventsConsumer({ db, redis, log: logger, metrics, applyUsers });
  const backfill = usersReplica.backfillFrom<events.UserState>({
    db,
    log: logger,
    snapshot: snapshotSource(identityClient, 'streamUserSnapshot', (page) => page.users),
    applyMany: applyUsers,
  });
  let backfilled = () => false;

  return {
    db,
    redis,
    async start(addr: string): Promise<number> {
      relay.start();
      consumer.start();
      const port = await grpc.listen(addr);
      backfilled = startBackfills([backfill], grpc.health);
      return port;
    },
    /** Resolves when the users replica is complete (tests). */
    replicasBackfilled: () => backfill.completed,
    ready: async () => backfilled() && (await backendsReady(db, redis, consumer)()),
    async stop(timeoutMs: number): Promise<void> {
      await backfill.stop();
      await grpc.shutdown(timeoutMs);
      await consumer.stop();
      await relay.stop();
      identityClient.close();
      await redis.quit();
      await db.destroy();
    },
  };
}
