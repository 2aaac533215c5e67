import { content, identity, socialgraph } from '@shutter/proto';
import { SNAPSHOT_DEADLINE_MS, createClient, createGrpcServer, createRedis, internalAuth, type Logger, type Metrics } from '@shutter/kit';
import { createDb, createOutboxRelay, backendsReady } from '@shutter/kit/db';
import type { IdentityConfig } from './config';
import { ensureAdmin } from './admin-bootstrap';
import { createIdentityHandlers } from './identity-handlers';
import { createLoginThrottle } from './login-throttle';
import { createEdgeBackfill, createPostBackfill, createProfileReplicaConsumer, createProfileReplicas } from './profile-replicas';
import { schema } from './migrations';
import { createRevocationPublisher, startRevocationSync } from './revocation';
import { loadSigningKey } from './signing-key';
import { createSessionsRepository } from './sessions-repository';
import { createTokenService } from './tokens';
import { createUsersRepository } from './users-repository';

export { schema, migrations } from './migrations';

/**
 * Builds the identity service: its pools, gRPC server, outbox relay and revocation sync. Nothing
 * listens until `start`; `stop` closes what was opened, in order. main.ts and the tests use this.
 */
export async function createIdentityService(config: IdentityConfig, logger: Logger, metrics: Metrics, opts: { stream?: string } = {}) {
  const db = createDb({ url: config.DATABASE_URL, schema, poolMax: config.DATABASE_POOL_MAX });
  const redis = createRedis(config.REDIS_URL, config.REDIS_KEY_PREFIX);
  const key = await loadSigningKey(config.JWT_PRIVATE_KEY, config.JWT_KEY_FILE);
  const users = createUsersRepository(db);
  const sessions = createSessionsRepository(db);
  const tokens = createTokenService(db, sessions, key, { access: config.ACCESS_TOKEN_TTL, refresh: config.REFRESH_TOKEN_TTL });
  const throttle = createLoginThrottle(redis, {
    maxAttempts: config.LOGIN_MAX_ATTEMPTS,
    windowSeconds: config.LOGIN_WINDOW_SECONDS,
    addressMaxAttempts: config.LOGIN_ADDRESS_MAX_ATTEMPTS,
    addressWindowSeconds: config.LOGIN_ADDRESS_WINDOW_SECONDS,
  });
  const replicas = createProfileReplicas({ db });
  const revocations = createRevocationPublisher(redis, logger, config.ACCESS_TOKEN_TTL);
  const auth = internalAuth('identity', config);
  const grpc = createGrpcServer({ logger, metrics, auth: auth.keys });
  grpc.add(identity.IdentityServiceService, createIdentityHandlers({ db, revocations, users, tokens, throttle, config, replicas }), {
    // Sign-in and token endpoints act before there is a user; look-ups serve peers' read models;
    // the user snapshot backfills content's, social-graph's and notification's replicas (peers only: the handler refuses the gateway).
    withoutUser: ['register', 'login', 'refresh', 'logout', 'getUser', 'batchGetUsers', 'getPublicKeys', 'streamUserSnapshot'],
    peers: { 'social-graph': ['streamUserSnapshot'], content: ['streamUserSnapshot'], notification: ['streamUserSnapshot'] },
  });
  const consumer = createProfileReplicaConsumer({ db, redis, log: logger, replicas, stream: opts.stream, metrics });
  const relay = createOutboxRelay({ db, schema, redis, log: logger, stream: opts.stream, metrics });
  // identity's only calls to other services: the edge and post snapshots, each once in its
  // replica's life.
  const snapshotClient = { deadlineMs: SNAPSHOT_DEADLINE_MS, metrics, auth: auth.signer };
  const graph = createClient(socialgraph.SocialGraphServiceService, config.SOCIAL_GRAPH_ADDR, { service: 'social-graph', ...snapshotClient });
  const contentClient = createClient(content.ContentServiceService, config.CONTENT_ADDR, { service: 'content', ...snapshotClient });
  const edgeBackfill = createEdgeBackfill({ db, log: logger, replicas, graph });
  const postBackfill = createPostBackfill({ db, log: logger, replicas, content: contentClient });
  let revocation: ReturnType<typeof startRevocationSync> | undefined;

  return {
    db,
    redis,
    users,
    async start(addr: string): Promise<number> {
      await ensureAdmin(users, { email: config.ADMIN_EMAIL, password: config.ADMIN_PASSWORD, username: config.ADMIN_USERNAME }, logger);
      revocation = startRevocationSync(
        { sessions, users, redis, log: logger, publisher: revocations, accessTtlSeconds: config.ACCESS_TOKEN_TTL },
        { intervalMs: config.REVOCATION_SYNC_MS, checkMs: config.REVOCATION_CHECK_MS },
      );
      await revocation.ready;
      relay.start();
      consumer.start();
      // Not readiness conditions (unlike content's): social-graph and content need identity to
      // start, and until complete only profile counts and relationships older than the replicas can lag.
      edgeBackfill.start();
      postBackfill.start();
      return grpc.listen(addr);
    },
    /** Resolves when the edge replica is complete (tests). */
    edgesBackfilled: () => edgeBackfill.completed,
    /** Resolves when the post replica is complete (tests). */
    postsBackfilled: () => postBackfill.completed,
    ready: backendsReady(db, redis),
    async stop(timeoutMs: number): Promise<void> {
      await Promise.all([edgeBackfill.stop(), postBackfill.stop()]);
      graph.close();
      contentClient.close();
      await grpc.shutdown(timeoutMs);
      revocation?.stop();
      await consumer.stop();
      await relay.stop();
      await redis.quit();
      await db.destroy();
    },
  };
}
