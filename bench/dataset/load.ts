/**
 * Loads the data set (generate.ts) into a database of its own (`shutter_bench_template` on the
 * local Postgres by default), never the dev or test one; each run then works on a fresh copy
 * (`CREATE DATABASE … TEMPLATE`, a file copy: seconds), so the writes of one run never reach the
 * next. Each service's schema is made
 * by that service's own migrations; the rows go in with multi-row `INSERT … SELECT FROM unnest()`
 * (20 000 rows a statement), respecting each schema's invariants: posts' like/comment counts equal
 * their rows, graph.follow_counts equals the agree edges, media rows exist for every image key.
 *
 * content's replicas of identity's users (`content.authors`) and of social-graph's edges
 * (`content.follow_edges`, `content.follows`) are loaded as their backfill would leave them, with
 * `content.replica_state` saying so: content would otherwise backfill them on its first start
 * while the run already measures (its readiness says so, but the bench waits on the gateway's).
 * What is NOT loaded is filled the production way once the stack runs: Redis timelines and post
 * caches (rebuilt from Postgres on a miss), notification's unread counts, social-graph's and
 * notification's user caches (from identity on a miss).
 *
 * A row in `bench.dataset` records version, scale, seed and the services' migration names; a later
 * run with the same ones reuses the data (seconds), BENCH_REBUILD=1 or any change loads it again.
 */
import * as argon2 from 'argon2';
import { Client } from 'pg';
import { createDb, migrate, type Migration } from '@shutter/kit/db';
import { createDatabase, dropDatabase, withDatabase } from '@shutter/testing/src/backends';
import { ARGON2_OPTIONS } from '../../services/identity/src/identity-handlers';
import * as identityMigrations from '../../services/identity/src/migrations';
import * as graphMigrations from '../../services/social-graph/src/migrations';
import * as contentMigrations from '../../services/content/src/migrations';
import * as notificationMigrations from '../../services/notification/src/migrations';
import { DATASET_VERSION, OBJECTS, PASSWORD, generate, uuidv7, type Dataset } from './generate';

export const SEED = 98;
const CHUNK = 20_000;

export interface DatasetCounts {
  users: number;
  follows: number;
  posts: number;
  images: number;
  likes: number;
  comments: number;
}

/** The S3 keys the image rows point at (the runner uploads these objects). */
export const objectKey = (i: number) => `bench/object-${i}.png`;
/** The photo pipeline's variants of a 1080×1350 photo (widths below its own: 320 and 640). */
export const variantsOf = (i: number) => [
  { key: `bench/object-${i}-320.webp`, width: 320, height: 400 },
  { key: `bench/object-${i}-640.webp`, width: 640, height: 800 },
];
/** Every object the image rows name. */
export const objectKeys = (objects: number) => Array.from({ length: objects }, (_, i) => [objectKey(i), ...variantsOf(i).map((v) => v.key)]).flat();
const BLURHASH = 'LEHV6nWB2yk8pyo0adR*.7kCMdnj';

const SERVICES: Array<{ schema: string; migrations: Migration[] }> = [identityMigrations, graphMigrations, contentMigrations, notificationMigrations];
/** The services' migrations by name: a template made under other schemas is loaded again. */
const SCHEMAS = SERVICES.map((s) => `${s.schema}:${s.migrations.map((m) => m.name).join(',')}`).join(';');

/** Makes sure the data set of this scale is in `url`'s database; answers it and how it got there. */
export async function ensureDataset(
  url: string,
  scale: number,
  opts: { rebuild: boolean; log: (m: string) => void },
): Promise<{ data: Dataset; counts: DatasetCounts; loadedS: number | null }> {
  const t0 = Date.now();
  const data = generate(scale, SEED);
  const dbName = new URL(url).pathname.slice(1);
  const adminUrl = withDatabase(url, 'postgres');
  const marker = opts.rebuild ? null : await readMarker(url);
  if (marker && marker.version === DATASET_VERSION && marker.scale === scale && marker.seed === SEED && marker.schemas === SCHEMAS) {
    opts.log(
      `data set: reusing ${dbName} (version ${DATASET_VERSION}, scale ${scale}, loaded ${marker.loaded_at.toISOString()}); BENCH_REBUILD=1 loads it again`,
    );
    return { data, counts: marker.counts, loadedS: null };
  }
  opts.log(`data set: loading scale ${scale} into ${dbName}${marker ? ' (replacing the one there)' : ''}`);
  await dropDatabase(adminUrl, dbName);
  await createDatabase(adminUrl, dbName);
  const admin = new Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query('CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public');
    for (const s of SERVICES) {
      const db = createDb({ url, schema: s.schema, poolMax: 1 });
      try {
        await migrate(db, s.schema, s.migrations);
      } finally {
        await db.destroy();
      }
    }
    const counts = await insertAll(admin, data, opts.log);
    await admin.query('ANALYZE');
    await admin.query('CREATE SCHEMA IF NOT EXISTS bench');
    await admin.query(
      'CREATE TABLE bench.dataset (version int NOT NULL, scale real NOT NULL, seed int NOT NULL, schemas text NOT NULL, counts jsonb NOT NULL, loaded_at timestamptz NOT NULL DEFAULT now())',
    );
    await admin.query('INSERT INTO bench.dataset (version, scale, seed, schemas, counts) VALUES ($1, $2, $3, $4, $5)', [
      DATASET_VERSION,
      scale,
      SEED,
      SCHEMAS,
      JSON.stringify(counts),
    ]);
    const loadedS = (Date.now() - t0) / 1000;
    opts.log(`data set: loaded in ${loadedS.toFixed(1)} s: ${JSON.stringify(counts)}`);
    return { data, counts, loadedS };
  } finally {
    await admin.end();
  }
}

/** A fresh copy of the loaded template as database `name` (dropped first if it exists). */
export async function copyDataset(templateUrl: string, name: string): Promise<string> {
  const adminUrl = withDatabase(templateUrl, 'postgres');
  await dropDatabase(adminUrl, name);
  await createDatabase(adminUrl, name, new URL(templateUrl).pathname.slice(1));
  return withDatabase(templateUrl, name);
}

async function readMarker(
  url: string,
): Promise<{ version: number; scale: number; seed: number; schemas: string; counts: DatasetCounts; loaded_at: Date } | null> {
  const c = new Client({ connectionString: url });
  try {
    await c.connect();
  } catch {
    return null; // no such database yet
  }
  try {
    const res = await c.query('SELECT version, scale, seed, schemas, counts, loaded_at FROM bench.dataset LIMIT 1');
    return res.rows[0] ?? null;
  } catch {
    return null;
  } finally {
    await c.end();
  }
}

/** `INSERT INTO table (cols) SELECT * FROM unnest($1::t1[], …)`, CHUNK rows a statement. */
async function insert(c: Client, table: string, columns: Array<[string, string]>, rows: unknown[][]): Promise<void> {
  const cols = columns.map(([n]) => n).join(', ');
  const params = columns.map(([, t], i) => `$${i + 1}::${t}[]`).join(', ');
  for (let i = 0; i < rows.length; i += CHUNK) {
    const chunk = rows.slice(i, i + CHUNK);
    const arrays = columns.map((_, j) => chunk.map((r) => r[j]));
    await c.query(`INSERT INTO ${table} (${cols}) SELECT * FROM unnest(${params})`, arrays);
  }
}

async function insertAll(c: Client, d: Dataset, log: (m: string) => void): Promise<DatasetCounts> {
  const step = async (what: string, fn: () => Promise<void>) => {
    const t = Date.now();
    await fn();
    log(`  ${what}: ${((Date.now() - t) / 1000).toFixed(1)} s`);
  };
  // One argon2id hash (identity's own parameters) for every account: each hash carries its salt.
  const hash = await argon2.hash(PASSWORD, ARGON2_OPTIONS);
  const uid = (i: number) => d.users[i]!.id;

  await step(`identity.users (${d.users.length})`, () =>
    insert(
      c,
      'identity.users',
      [
        ['id', 'uuid'],
        ['email', 'text'],
        ['username', 'text'],
        ['name', 'text'],
        ['password_hash', 'text'],
        ['is_public', 'boolean'],
        ['created_at', 'timestamptz'],
        ['updated_at', 'timestamptz'],
      ],
      d.users.map((u) => [u.id, u.email, u.username, `Bench ${u.username}`, hash, u.isPublic, u.createdAt, u.createdAt]),
    ),
  );

  await step(`content.authors (${d.users.length}, the replica of identity's users)`, () =>
    insert(
      c,
      'content.authors',
      [
        ['id', 'uuid'],
        ['username', 'text'],
        ['name', 'text'],
        ['is_public', 'boolean'],
        ['updated_at', 'timestamptz'],
      ],
      d.users.map((u) => [u.id, u.username, `Bench ${u.username}`, u.isPublic, u.createdAt]),
    ),
  );

  const followers = new Map<number, number>();
  const following = new Map<number, number>();
  for (const [f, t] of d.follows) {
    following.set(f, (following.get(f) ?? 0) + 1);
    followers.set(t, (followers.get(t) ?? 0) + 1);
  }
  const edgeTime = (i: number) => new Date(Date.parse('2026-06-01T00:00:00.000Z') + i * 1000);
  let n = 0;
  const rand = () => (n = (n * 1103515245 + 12345) >>> 0) / 4294967296;
  const edgeIds = d.follows.map((_, i) => uuidv7(edgeTime(i).getTime(), rand));
  await step(`graph.follows (${d.follows.length})`, async () => {
    await insert(
      c,
      'graph.follows',
      [
        ['id', 'uuid'],
        ['follower_id', 'uuid'],
        ['followee_id', 'uuid'],
        ['status', 'text'],
        ['created_at', 'timestamptz'],
        ['updated_at', 'timestamptz'],
      ],
      d.follows.map(([f, t], i) => [edgeIds[i], uid(f), uid(t), 'agree', edgeTime(i), edgeTime(i)]),
    );
    const ids = new Set([...followers.keys(), ...following.keys()]);
    await insert(
      c,
      'graph.follow_counts',
      [
        ['user_id', 'uuid'],
        ['follower_count', 'int'],
        ['following_count', 'int'],
      ],
      [...ids].map((i) => [uid(i), followers.get(i) ?? 0, following.get(i) ?? 0]),
    );
  });

  await step(`content.follow_edges and follows (${d.follows.length}, the replica of social-graph's edges)`, async () => {
    await insert(
      c,
      'content.follow_edges',
      [
        ['follows_id', 'uuid'],
        ['follower_id', 'uuid'],
        ['followee_id', 'uuid'],
        ['status', 'text'],
        ['version', 'bigint'],
      ],
      d.follows.map(([f, t], i) => [edgeIds[i], uid(f), uid(t), 'agree', 2]),
    );
    await insert(
      c,
      'content.follows',
      [
        ['follower_id', 'uuid'],
        ['followee_id', 'uuid'],
      ],
      d.follows.map(([f, t]) => [uid(f), uid(t)]),
    );
    await c.query("INSERT INTO content.replica_state (name, backfilled_at, rows) VALUES ('authors', now(), $1), ('follow_edges', now(), $2)", [
      d.users.length,
      d.follows.length,
    ]);
  });

  // A handful of media rows, processed (as the photo pipeline leaves them: served object, variants,
  // BlurHash, original deleted) and used, owned by the first user: every image row points at one.
  const mediaIds = Array.from({ length: OBJECTS }, (_, i) => `00000000-0000-7000-8000-${String(i).padStart(12, '0')}`);
  const likeCount = new Array<number>(d.posts.length).fill(0);
  const commentCount = new Array<number>(d.posts.length).fill(0);
  for (const l of d.likes) likeCount[l.post]! += 1;
  for (const cm of d.comments) commentCount[cm.post]! += 1;
  await step(`content.posts (${d.posts.length}) and images (${d.images.length})`, async () => {
    await insert(
      c,
      'content.media',
      [
        ['id', 'uuid'],
        ['owner_id', 'uuid'],
        ['key', 'text'],
        ['source', 'text'],
        ['declared_type', 'text'],
        ['max_bytes', 'bigint'],
        ['content_type', 'text'],
        ['size_bytes', 'bigint'],
        ['width', 'int'],
        ['height', 'int'],
        ['verified_at', 'timestamptz'],
        ['used_for', 'text'],
        ['used_at', 'timestamptz'],
        ['expires_at', 'timestamptz'],
        ['processed_key', 'text'],
        ['processed_type', 'text'],
        ['processed_long_side', 'int'],
        ['blurhash', 'text'],
        ['variants', 'jsonb'],
        ['processed_at', 'timestamptz'],
        ['original_deleted_at', 'timestamptz'],
      ],
      mediaIds.map((id, i) => [
        id,
        uid(0),
        `bench/original-${i}.jpg`,
        'stream',
        'image/jpeg',
        20 << 20,
        'image/jpeg',
        400_000,
        1080,
        1350,
        new Date(),
        'post',
        new Date(),
        new Date('2100-01-01T00:00:00Z'),
        objectKey(i),
        'image/png',
        1350,
        BLURHASH,
        JSON.stringify(variantsOf(i)),
        new Date(),
        new Date(),
      ]),
    );
    await insert(
      c,
      'content.posts',
      [
        ['id', 'uuid'],
        ['author_id', 'uuid'],
        ['content', 'text'],
        ['like_count', 'int'],
        ['comment_count', 'int'],
        ['created_at', 'timestamptz'],
        ['updated_at', 'timestamptz'],
      ],
      d.posts.map((p, i) => [p.id, uid(p.author), p.content, likeCount[i], commentCount[i], p.createdAt, p.createdAt]),
    );
    await insert(
      c,
      'content.post_images',
      [
        ['post_id', 'uuid'],
        ['position', 'smallint'],
        ['media_id', 'uuid'],
        ['key', 'text'],
        ['width', 'int'],
        ['height', 'int'],
        ['blurhash', 'text'],
        ['variants', 'jsonb'],
      ],
      d.images.map((im) => [
        d.posts[im.post]!.id,
        im.position,
        mediaIds[im.object],
        objectKey(im.object),
        im.width,
        im.height,
        BLURHASH,
        JSON.stringify(variantsOf(im.object)),
      ]),
    );
  });
  await step(`content.likes (${d.likes.length})`, () =>
    insert(
      c,
      'content.likes',
      [
        ['post_id', 'uuid'],
        ['user_id', 'uuid'],
        ['created_at', 'timestamptz'],
      ],
      d.likes.map((l) => [d.posts[l.post]!.id, uid(l.user), l.createdAt]),
    ),
  );
  await step(`content.comments (${d.comments.length})`, () =>
    insert(
      c,
      'content.comments',
      [
        ['id', 'uuid'],
        ['post_id', 'uuid'],
        ['author_id', 'uuid'],
        ['content', 'text'],
        ['created_at', 'timestamptz'],
        ['updated_at', 'timestamptz'],
      ],
      d.comments.map((cm) => [cm.id, d.posts[cm.post]!.id, uid(cm.author), cm.content, cm.createdAt, cm.createdAt]),
    ),
  );
  return {
    users: d.users.length,
    follows: d.follows.length,
    posts: d.posts.length,
    images: d.images.length,
    likes: d.likes.length,
    comments: d.comments.length,
  };
}

/** The bytes of every bench object: a 1×1 PNG (nothing downloads them; the rows describe a photo). */
export const OBJECT_PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
