import { content } from '@shutter/proto';
import { createClient, createLogger, createMetrics, GrpcStatus, newId } from '@shutter/kit';
import { migrate, type Knex } from '@shutter/kit/db';
import {
  apiClient,
  type ApiClient,
  applyInRacingRounds,
  faultyDeliveries,
  postsHelpers,
  prng,
  type Stack,
  startStack,
  testDb,
  testSigner,
  unique,
  waitFor,
  streamStatus,
} from '@shutter/testing';
import { loadIdentityConfig } from '../src/config';
import { migrations } from '../src/migrations';
import { type AuthorPost, createProfileReplicas } from '../src/profile-replicas';
import { createIdentityService } from '../src/server';

/**
 * identity's replica of content's posts (`author_posts`, `post_counts`: a profile's post count)
 * started EMPTY against a content that already holds posts, some deleted: it backfills from
 * content's post snapshot over real gRPC while the events of changes made meanwhile (and
 * duplicated, reordered ones) apply too, and converges to the owner's posts and counts; a restart
 * does not backfill again; the snapshot is refused to the gateway.
 */

let stack: Stack;
let api: ApiClient;
let identity: Knex;
let contentDb: Knex;
let posts: ReturnType<typeof postsHelpers>;
const started: Array<Awaited<ReturnType<typeof createIdentityService>>> = [];

beforeAll(async () => {
  stack = await startStack({ only: ['identity', 'social-graph', 'content'] });
  api = apiClient(stack.url);
  posts = postsHelpers(api, () => stack);
  identity = testDb('identity');
  contentDb = testDb('content');
});
afterAll(async () => {
  for (const s of started) await s.stop(1000);
  await stack?.stop();
  await identity?.destroy();
  await contentDb?.destroy();
});

/** An identity process of its own, pointed at the stack's content (the stack's identity is pointed at nothing). */
async function startIdentity() {
  const s = await createIdentityService(loadIdentityConfig(stack.env), createLogger('test', 'silent'), createMetrics('identity'));
  started.push(s);
  await s.start('127.0.0.1:0');
  return s;
}

async function converged(): Promise<boolean> {
  const owner = await contentDb('posts').orderBy('id').select('id', 'author_id');
  const copy = await identity('author_posts').where({ deleted: false }).orderBy('post_id').select('post_id as id', 'author_id');
  const ownerCounts = await contentDb('posts').groupBy('author_id').orderBy('author_id').select('author_id as user_id').count<unknown[]>('* as n');
  const copyCounts = await identity('post_counts').where('post_count', '>', 0).orderBy('user_id').select('user_id', 'post_count as n');
  const norm = (rows: unknown[]) => JSON.stringify((rows as Array<{ user_id: string; n: unknown }>).map((r) => [r.user_id, Number(r.n)]));
  return JSON.stringify(copy) === JSON.stringify(owner) && norm(copyCounts) === norm(ownerCounts);
}

const deletePost = async (user: { token: string }, postId: string) => {
  const res = await api.delete(`/api/posts/${postId}`, { token: user.token });
  expect(res.status).toBeLessThan(300);
};

it('an empty post replica backfills from content, with the events made meanwhile (duplicated, reordered), and converges; a restart does not backfill again', async () => {
  const [a, b] = [await posts.register({ public: true }), await posts.register({ public: true })];
  const aPosts = [await posts.createPost(a), await posts.createPost(a), await posts.createPost(a)];
  const bPosts = [await posts.createPost(b), await posts.createPost(b)];
  await deletePost(a, aPosts[0]!);
  // The stack's identity consumed those events; wiping its copy leaves only the snapshot to bring them back.
  await waitFor(converged);
  await identity.transaction(async (trx) => {
    await trx('author_posts').delete();
    await trx('post_counts').delete();
    await trx('replica_state').where({ name: 'author_posts' }).delete();
  });
  expect(await converged()).toBe(false);

  const s = await startIdentity();
  // Changes racing the backfill: their events reach whichever identity process takes them.
  const fresh = await posts.createPost(b);
  await deletePost(b, bPosts[0]!);
  // Redelivered and reordered events racing it too: a deletion before its creation, creations twice.
  const replicas = createProfileReplicas({ db: identity });
  const late: AuthorPost[] = [
    { postId: aPosts[0]!, authorId: a.id, deleted: true },
    { postId: aPosts[0]!, authorId: a.id, deleted: false },
    { postId: aPosts[1]!, authorId: a.id, deleted: false },
    { postId: aPosts[1]!, authorId: a.id, deleted: false },
    { postId: fresh, authorId: b.id, deleted: false },
  ];
  await Promise.all(late.map((p) => identity.transaction((trx) => replicas.applyPost(trx, p))));
  await s.postsBackfilled();
  await waitFor(converged);
  expect((await api.get(`/api/users/${a.id}`, { token: b.token })).body.data).toMatchObject({ post_count: 2 });
  expect((await api.get(`/api/users/${b.id}`, { token: a.token })).body.data).toMatchObject({ post_count: 2 });

  const stamped = await identity('replica_state').where({ name: 'author_posts' }).select('name', 'backfilled_at', 'rows');
  expect(stamped).toHaveLength(1);
  const again = await startIdentity();
  await again.postsBackfilled();
  expect(await identity('replica_state').where({ name: 'author_posts' }).select('name', 'backfilled_at', 'rows')).toEqual(stamped);
});

it('the post snapshot is refused to the gateway and to a peer not named for it, and pages every live post to identity', async () => {
  for (const as of ['gateway', 'notification'] as const) {
    const c = createClient(content.ContentServiceService, stack.env.CONTENT_ADDR!, { service: 'content', auth: testSigner(as) });
    expect(await streamStatus(c.serverStream('streamPostSnapshot', { pageSize: 1 }))).toBe(GrpcStatus.PERMISSION_DENIED);
    c.close();
  }
  const c = createClient(content.ContentServiceService, stack.env.CONTENT_ADDR!, { service: 'content', auth: testSigner('identity') });
  const pages: Array<Array<{ postId: string; authorId: string; deleted: boolean; version: number }>> = [];
  for await (const page of c.serverStream('streamPostSnapshot', { pageSize: 2 })) pages.push(page.posts);
  c.close();
  const owner = await contentDb('posts').orderBy('id').select('id', 'author_id');
  expect(owner.length).toBeGreaterThan(2);
  expect(pages.every((p) => p.length <= 2)).toBe(true);
  expect(pages.flat()).toEqual(owner.map((p) => ({ postId: p.id, authorId: p.author_id, deleted: false, version: 1 })));
});

/**
 * The counts under concurrency, on a schema of its own: random post histories (created, some
 * deleted), their states delivered one by one (events) and in chunks (snapshot pages), duplicated,
 * reordered, several transactions racing. After every round the counts equal the live posts of the
 * replica's own rows (no change counted twice or lost), and at the end they equal the owner's.
 */
describe('post counts with posts applied in chunks and one by one, racing', () => {
  const schema = unique('identity_posts_');
  let db: Knex;
  beforeAll(async () => {
    db = testDb(schema);
    await migrate(db, schema, migrations);
  });
  afterAll(async () => {
    await db?.raw('DROP SCHEMA IF EXISTS ?? CASCADE', [schema]);
    await db?.destroy();
  });

  const countsFromRows = async () =>
    (await db.raw('SELECT author_id::text AS user_id, count(*)::int AS post_count FROM author_posts WHERE NOT deleted GROUP BY 1 ORDER BY 1')).rows;
  const held = async () => db('post_counts').where('post_count', '!=', 0).orderBy('user_id').select(db.raw('user_id::text'), 'post_count');

  it.each(Array.from({ length: 8 }, (_, i) => i + 1))('seed %i', async (seed) => {
    const rand = prng(500 + seed);
    await db('author_posts').delete();
    await db('post_counts').delete();
    const replicas = createProfileReplicas({ db });
    const users = Array.from({ length: 3 }, () => newId());
    const events: AuthorPost[] = [];
    const live = new Map<string, AuthorPost>(); // the owner's posts
    for (let i = 0; i < 60; i++) {
      const ids = [...live.keys()];
      if (ids.length > 0 && rand() < 0.35) {
        const p = live.get(ids[Math.floor(rand() * ids.length)]!)!;
        live.delete(p.postId);
        events.push({ ...p, deleted: true });
      } else {
        const p = { postId: newId(), authorId: users[Math.floor(rand() * users.length)]!, deleted: false };
        live.set(p.postId, p);
        events.push(p);
      }
    }
    await applyInRacingRounds(
      rand,
      faultyDeliveries(rand, events, { redeliver: 0.25, deadLetter: 0 }),
      (u) => db.transaction((trx) => (u.length === 1 ? replicas.applyPost(trx, u[0]!) : replicas.applyPosts(trx, u))),
      { afterRound: async () => expect(await held()).toEqual(await countsFromRows()) },
    );
    const owner = new Map<string, number>();
    for (const p of live.values()) owner.set(p.authorId, (owner.get(p.authorId) ?? 0) + 1);
    expect(await held()).toEqual([...owner].sort(([x], [y]) => (x < y ? -1 : 1)).map(([user_id, post_count]) => ({ user_id, post_count })));
  });
});
