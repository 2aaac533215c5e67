import { createLogger, createMetrics } from '@shutter/kit';
import type { Knex } from '@shutter/kit/db';
import { accounts, apiClient, startStack, testDb, waitFor, type ApiClient, type Stack } from '@shutter/testing';
import { loadIdentityConfig } from '../src/config';
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
  await waitFor(converged, 15_000);
  await identity.transaction(async (trx) => {
    for (const t of ['follow_edges', 'follow_counts', 'replica_state']) await trx(t).delete();
  });

  const s = await startIdentity();
  // Changes racing the backfill: their events reach whichever identity process takes them.
  const gone = await acct.follow(b, c);
  await api.delete(`/api/follows/${gone}`, { token: b.token });
  await acct.follow(a, c);
  await s.edgesBackfilled();
  await waitFor(converged, 15_000);
  const profile = await api.get(`/api/users/${a.id}`, { token: b.token });
  expect(profile.body.data).toMatchObject({ follower_count: 2, following_count: 2, follow_status: 'agree' });

  const stamped = await identity('replica_state').select('name', 'backfilled_at');
  expect(stamped.map((r) => r.name)).toEqual(['follow_edges']);
  const again = await startIdentity();
  await again.edgesBackfilled();
  expect(await identity('replica_state').select('name', 'backfilled_at')).toEqual(stamped);
});
