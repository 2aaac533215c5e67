import { createLogger, createMetrics, newId } from '@shutter/kit';
import { migrate, type Knex } from '@shutter/kit/db';
import {
  accounts,
  apiClient,
  type ApiClient,
  applyInRacingRounds,
  faultyDeliveries,
  prng,
  type Stack,
  startStack,
  testDb,
  unique,
  waitFor,
} from '@shutter/testing';
import { loadIdentityConfig } from '../src/config';
import { migrations } from '../src/migrations';
import { createProfileReplicas, type Edge } from '../src/profile-replicas';
import { createIdentityService } from '../src/server';

/**
 * identity's replica of social-graph's edges (`follow_edges`, `follow_counts`: what GetProfile
 * answers from) started EMPTY against a graph that already holds edges: it backfills from
 * social-graph's edge snapshot over real gRPC, the events of changes made meanwhile are consumed
 * too, and it converges to the owner's edges and counts; a restart does not backfill again.
 */

let stack: Stack;
let api: ApiClient;
let identity: Knex;
let graph: Knex;
let acct: ReturnType<typeof accounts>;
const started: Array<Awaited<ReturnType<typeof createIdentityService>>> = [];

beforeAll(async () => {
  stack = await startStack({ only: ['identity', 'social-graph'] });
  api = apiClient(stack.url);
  acct = accounts(api, () => stack.env);
  identity = testDb('identity');
  graph = testDb('graph');
});
afterAll(async () => {
  for (const s of started) await s.stop(1000);
  await stack?.stop();
  await identity?.destroy();
  await graph?.destroy();
});

/** An identity process of its own, pointed at the stack's social-graph. */
async function startIdentity() {
  const s = await createIdentityService(loadIdentityConfig(stack.env), createLogger('test', 'silent'), createMetrics('identity'));
  started.push(s);
  await s.start('127.0.0.1:0');
  return s;
}

async function converged(): Promise<boolean> {
  const owner = await graph('follows').orderBy('id').select('id', 'status');
  const copy = await identity('follow_edges').whereNot({ status: 'removed' }).orderBy('follows_id').select('follows_id as id', 'status');
  const ownerCounts = await graph('follow_counts')
    .where('follower_count', '>', 0)
    .orWhere('following_count', '>', 0)
    .orderBy('user_id')
    .select('user_id', 'follower_count', 'following_count');
  const copyCounts = await identity('follow_counts')
    .where('follower_count', '>', 0)
    .orWhere('following_count', '>', 0)
    .orderBy('user_id')
    .select('user_id', 'follower_count', 'following_count');
  return JSON.stringify(copy) === JSON.stringify(owner) && JSON.stringify(copyCounts) === JSON.stringify(ownerCounts);
}

it('an empty edge replica backfills from social-graph, with the events made meanwhile, and converges; a restart does not backfill again', async () => {
  const [a, b, c] = [await acct.register({ public: true }), await acct.register(), await acct.register({ public: true })];
  await acct.follow(b, a);
  await acct.follow(c, a);
  await acct.follow(a, b); // accepted
  await api.post(`/api/follows/request/${b.id}`, undefined, { token: c.token }); // pending
  // The stack's identity consumed those events; wiping its copy leaves only the snapshot to bring them back.
  await waitFor(converged);
  await identity.transaction(async (trx) => {
    for (const t of ['follow_edges', 'follow_counts', 'replica_state']) await trx(t).delete();
  });

  const s = await startIdentity();
  // Changes racing the backfill: their events reach whichever identity process takes them.
  const gone = await acct.follow(b, c);
  await api.delete(`/api/follows/${gone}`, { token: b.token });
  await acct.follow(a, c);
  await s.edgesBackfilled();
  await waitFor(converged);
  const profile = await api.get(`/api/users/${a.id}`, { token: b.token });
  expect(profile.body.data).toMatchObject({ follower_count: 2, following_count: 2, follow_status: 'agree' });

  const stamped = await identity('replica_state').select('name', 'backfilled_at');
  expect(stamped.map((r) => r.name)).toEqual(['follow_edges']);
  const again = await startIdentity();
  await again.edgesBackfilled();
  expect(await identity('replica_state').select('name', 'backfilled_at')).toEqual(stamped);
});

/**
 * The counts under concurrency, on a schema of its own: random follow histories, their edges
 * delivered one by one (events) and in chunks (backfilled snapshot pages), duplicated, reordered,
 * dead-lettered then replayed, several transactions racing. After every round the counts equal
 * the agree pairs of the replica's own edges (no change of a pair counted twice or lost), and at
 * the end they equal the owner's.
 */
describe('counts with edges applied in chunks and one by one, racing', () => {
  const schema = unique('identity_counts_');
  let db: Knex;
  beforeAll(async () => {
    db = testDb(schema);
    await migrate(db, schema, migrations);
  });
  afterAll(async () => {
    await db?.raw('DROP SCHEMA IF EXISTS ?? CASCADE', [schema]);
    await db?.destroy();
  });

  /** Counts as the replica's edges say: per user, pairs whose newest edge is agree. */
  const countsFromEdges = async () =>
    (
      await db.raw(
        `WITH newest AS (SELECT DISTINCT ON (follower_id, followee_id) follower_id, followee_id, status FROM follow_edges ORDER BY follower_id, followee_id, follows_id DESC),
              agree AS (SELECT * FROM newest WHERE status = 'agree')
         SELECT u.user_id::text, (SELECT count(*) FROM agree WHERE followee_id = u.user_id)::int AS follower_count,
                (SELECT count(*) FROM agree WHERE follower_id = u.user_id)::int AS following_count
           FROM (SELECT follower_id AS user_id FROM agree UNION SELECT followee_id FROM agree) u ORDER BY 1`,
      )
    ).rows;
  const held = async () =>
    db('follow_counts')
      .where('follower_count', '!=', 0)
      .orWhere('following_count', '!=', 0)
      .orderBy('user_id')
      .select(db.raw('user_id::text'), 'follower_count', 'following_count');

  it.each(Array.from({ length: 8 }, (_, i) => i + 1))('seed %i', async (seed) => {
    const rand = prng(300 + seed);
    await db('follow_edges').delete();
    await db('follow_counts').delete();
    const replicas = createProfileReplicas({ db });
    const users = Array.from({ length: 4 }, () => newId());
    const events: Edge[] = [];
    const live = new Map<string, Edge>(); // the owner: each pair's current edge
    for (let i = 0; i < 60; i++) {
      const [f, g] = [users[Math.floor(rand() * users.length)]!, users[Math.floor(rand() * users.length)]!];
      if (f === g) continue;
      const cur = live.get(`${f}>${g}`);
      const next: Edge = !cur
        ? { followsId: newId(), followerId: f, followeeId: g, status: rand() < 0.5 ? 'pending' : 'agree' }
        : { ...cur, status: cur.status === 'pending' && rand() < 0.6 ? 'agree' : 'removed' };
      events.push(next);
      if (next.status === 'removed') live.delete(`${f}>${g}`);
      else live.set(`${f}>${g}`, next);
    }
    await applyInRacingRounds(
      rand,
      faultyDeliveries(rand, events),
      (u) => db.transaction((trx) => (u.length === 1 ? replicas.applyEdge(trx, u[0]!) : replicas.applyEdges(trx, u))),
      { afterRound: async () => expect(await held()).toEqual(await countsFromEdges()) },
    );
    const owner = new Map<string, { follower_count: number; following_count: number }>();
    const bump = (u: string, k: 'follower_count' | 'following_count') =>
      owner.set(u, { follower_count: 0, following_count: 0, ...owner.get(u), [k]: (owner.get(u)?.[k] ?? 0) + 1 });
    for (const e of live.values()) {
      if (e.status !== 'agree') continue;
      bump(e.followeeId, 'follower_count');
      bump(e.followerId, 'following_count');
    }
    const expected = [...owner].sort(([a], [b]) => (a < b ? -1 : 1)).map(([user_id, c]) => ({ user_id, ...c }));
    expect(await held()).toEqual(expected);
  });
});
