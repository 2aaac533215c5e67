/**
 * Measures the replica backfills (docs/operations.md *Replicas and their backfill*): N users and
 * M edges backfilled into an EMPTY content (`authors`, `follow_edges`, `follows`) and M edges into
 * an empty identity edge replica (`follow_edges`, `follow_counts`), through the services' own
 * backfill code (kit createReplicaBackfill, the same appliers as production). The owners' snapshot
 * pages (1000 rows, as the owners stream them) are generated in memory, so the figure is the
 * replica side's rate: gRPC transfer from identity / social-graph is not included.
 *
 *   npx tsx bench/replica-backfill.ts [users=5001] [edges=50000]
 *
 * Works in a database of its own (`shutter_bench_backfill`, dropped and made again; DATABASE_URL's
 * server, default postgres://postgres@127.0.0.1:5432) and a Redis prefix of its own; not part of jest.
 */
import { createLogger, createRedis } from '@shutter/kit';
import { createDb, migrate, type Knex } from '@shutter/kit/db';
import { createDatabase, dropDatabase, withDatabase } from '@shutter/testing/src/backends';
import { createReplicaAppliers } from '../services/content/src/events-consumer';
import { createFeed } from '../services/content/src/feed/feed';
import { createMediaRepository } from '../services/content/src/media/media-repository';
import * as contentMigrations from '../services/content/src/migrations';
import { createPostsRepository } from '../services/content/src/posts/posts-repository';
import { createPostReads } from '../services/content/src/posts/read-path';
import { createAuthors } from '../services/content/src/read-models/authors';
import { createReplicaBackfills } from '../services/content/src/read-models/backfill';
import { createFollowGraph } from '../services/content/src/read-models/follow-graph';
import type { MediaStorage } from '../services/content/src/storage/media-storage';
import * as identityMigrations from '../services/identity/src/migrations';
import { createEdgeBackfill, createProfileReplicas } from '../services/identity/src/profile-replicas';
import { uuidv7 } from './dataset/generate';
import { prng } from '@shutter/testing/src/random';

const USERS = Number(process.argv[2] ?? 5001);
const EDGES = Number(process.argv[3] ?? 50_000);
const PAGE = 1000;
const DB_NAME = 'shutter_bench_backfill';

/** The owners' data: users at version 1..3, distinct pairs (8 in 10 agree), by id as the snapshots page them. */
function generate() {
  const rand = prng(42);
  const t0 = Date.UTC(2026, 0, 1);
  const users = Array.from({ length: USERS }, (_, i) => ({
    userId: uuidv7(t0 + i, rand),
    username: `u${i}`,
    name: `User ${i}`,
    isPublic: rand() < 0.7,
    status: 'enabled',
    profileImageKey: '',
    profileJson: '{}',
    version: 1 + Math.floor(rand() * 3),
  }));
  if (EDGES > USERS * (USERS - 1)) throw new Error('more edges than pairs');
  const seen = new Set<string>();
  const edges: Array<{ followsId: string; followerId: string; followeeId: string; status: string; version: number }> = [];
  while (edges.length < EDGES) {
    const a = Math.floor(rand() * USERS);
    // A heavy tail of followees, as real graphs have.
    const b = Math.floor(USERS * Math.pow(rand(), 2));
    if (a === b || seen.has(`${a}>${b}`)) continue;
    seen.add(`${a}>${b}`);
    const agree = rand() < 0.8;
    // An edge's version is its status's rank (pending 1, agree 2), as social-graph streams it.
    edges.push({
      followsId: uuidv7(t0 + 10_000_000 + edges.length, rand),
      followerId: users[a]!.userId,
      followeeId: users[b]!.userId,
      status: agree ? 'agree' : 'pending',
      version: agree ? 2 : 1,
    });
  }
  return { users, edges };
}

async function* pages<T>(rows: T[]): AsyncIterable<T[]> {
  for (let i = 0; i < rows.length; i += PAGE) yield rows.slice(i, i + PAGE);
}

async function timed(what: string, rows: number, run: () => Promise<void>): Promise<void> {
  const t = process.hrtime.bigint();
  await run();
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  console.log(`${what}: ${rows} rows in ${s.toFixed(1)} s = ${Math.round(rows / s)} rows/s`);
}

async function main(): Promise<void> {
  const url = withDatabase(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres', DB_NAME);
  const admin = withDatabase(url, 'postgres');
  await dropDatabase(admin, DB_NAME);
  await createDatabase(admin, DB_NAME);
  const log = createLogger('bench', 'warn');
  const prefix = `bench-backfill:${process.pid}:`;
  const redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', prefix);
  const dbs: Knex[] = [];
  try {
    const { users, edges } = generate();
    console.log(
      `load ${(await import('node:os'))
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')} (1/5/15 min), ${(await import('node:os')).cpus().length} cores`,
    );

    // content, as its server builds it (no S3: an empty replica replaces no avatar).
    const content = createDb({ url, schema: contentMigrations.schema, poolMax: 10 });
    dbs.push(content);
    await migrate(content, contentMigrations.schema, contentMigrations.migrations);
    const reads = createPostReads({ db: content, redis, log, ttlSeconds: 60 });
    const feed = createFeed({
      redis,
      posts: createPostsRepository(content),
      reads,
      log,
      config: { maxItems: 800, fanoutMaxFollowers: 10_000, ttlSeconds: 3600 },
    });
    const apply = createReplicaAppliers({
      authors: createAuthors({ db: content, reads }),
      follows: createFollowGraph({ db: content, reads }),
      media: createMediaRepository(content),
      storage: {} as MediaStorage,
      feed,
    });
    const peers = { userSnapshot: () => pages(users), edgeSnapshot: () => pages(edges) };
    const [authorsBackfill, edgesBackfill] = createReplicaBackfills({ db: content, log, peers, apply });
    for (const [name, b, n] of [
      ['content authors', authorsBackfill!, users.length],
      ['content follow_edges', edgesBackfill!, edges.length],
    ] as const) {
      await timed(name, n, async () => {
        b.start();
        await b.completed;
        await b.stop();
      });
    }
    const follows = Number((await content('follows').count<{ count: string }[]>('* as count'))[0]!.count);
    console.log(`content follows: ${follows} agree pairs (expected ${edges.filter((e) => e.status === 'agree').length})`);

    // identity's edge replica and its counts.
    const identity = createDb({ url, schema: identityMigrations.schema, poolMax: 10 });
    dbs.push(identity);
    await migrate(identity, identityMigrations.schema, identityMigrations.migrations);
    async function* edgePages() {
      for await (const page of pages(edges)) yield { edges: page };
    }
    const graph = { serverStream: edgePages };
    const edgeBackfill = createEdgeBackfill({ db: identity, log, replicas: createProfileReplicas({ db: identity }), graph: graph as never });
    await timed('identity follow_edges', edges.length, async () => {
      edgeBackfill.start();
      await edgeBackfill.completed;
      await edgeBackfill.stop();
    });
    const counted = await identity('follow_counts').sum<{ s: string }[]>('follower_count as s');
    console.log(`identity follow_counts: ${counted[0]!.s} followers counted`);
  } finally {
    for (const db of dbs) await db.destroy();
    // KEYS takes the pattern unprefixed and answers whole names; DEL prefixes again.
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys.map((k) => k.slice(prefix.length)));
    await redis.quit();
    await dropDatabase(admin, DB_NAME);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
