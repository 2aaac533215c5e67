import { identity, socialgraph } from '@shutter/proto';
import { createClient, createLogger, createMetrics, GrpcStatus, type Metrics } from '@shutter/kit';
import type { Knex } from '@shutter/kit/db';
import { apiClient, postsHelpers, startStack, streamStatus, testDb, testSigner, waitFor, type ApiClient, type Stack, type TestUser } from '@shutter/testing';
import { loadContentConfig } from '../src/config';
import { createContentService, type ContentService } from '../src/server';

/**
 * Content's replicas of identity's users (`authors`) and social-graph's edges (`follow_edges`,
 * `follows`) started EMPTY against owners that already hold data: they backfill from the owners'
 * snapshots over real gRPC while the events of changes made meanwhile are consumed, and converge
 * to the owners' state; a restart after a completed backfill does not backfill again; several
 * processes starting at once backfill once.
 */

let stack: Stack;
let api: ApiClient;
let h: ReturnType<typeof postsHelpers>;
let content: Knex;
let graph: Knex;
let users: Knex;
const started: ContentService[] = [];

beforeAll(async () => {
  stack = await startStack();
  api = apiClient(stack.url);
  h = postsHelpers(api, () => stack);
  content = testDb('content');
  graph = testDb('graph');
  users = testDb('identity');
});
afterAll(async () => {
  for (const s of started) await s.stop(1000);
  await stack?.stop();
  for (const db of [content, graph, users]) await db?.destroy();
});

/** A content process of its own against the stack's identity and social-graph (real gRPC). */
async function startContent(): Promise<ContentService> {
  const s = createContentService(loadContentConfig(stack.env), createLogger('test', 'silent'), createMetrics('content'));
  started.push(s);
  await s.start('127.0.0.1:0');
  return s;
}

/** Empties content's replicas and their backfill record, as a new deployment of content has them. */
async function emptyReplicas(): Promise<void> {
  await content.transaction(async (trx) => {
    for (const t of ['authors', 'follow_edges', 'follows', 'replica_state']) await trx(t).delete();
  });
}

/** Server-side calls of a snapshot method so far (the owner's own per-method counter). */
async function served(m: Metrics | undefined, method: string): Promise<number> {
  const metric = (await m!.registry.getMetricsAsJSON()).find((x) => x.name === 'grpc_server_handled_total');
  return (metric?.values ?? []).filter((v) => v.labels.grpc_method === method).reduce((n, v) => n + v.value, 0);
}
const snapshotsServed = async () => ({
  users: await served(stack.services.identity?.metrics, 'streamUserSnapshot'),
  edges: await served(stack.services['social-graph']?.metrics, 'streamEdgeSnapshot'),
});

/** The owners' state and content's copy of it, in comparable form. */
async function converged(): Promise<boolean> {
  const ownerEdges = await graph('follows').orderBy('id').select('id', 'status');
  const copyEdges = await content('follow_edges').whereNot({ status: 'removed' }).orderBy('follows_id').select('follows_id as id', 'status');
  const ownerPairs = (await graph('follows').where({ status: 'agree' }).select('follower_id', 'followee_id'))
    .map((r) => `${r.follower_id}>${r.followee_id}`)
    .sort();
  const copyPairs = (await content('follows').select('follower_id', 'followee_id')).map((r) => `${r.follower_id}>${r.followee_id}`).sort();
  const ownerUsers = await users('users').orderBy('id').select('id', 'username', 'is_public', 'status', 'version');
  const copyUsers = await content('authors').orderBy('id').select('id', 'username', 'is_public', 'status', 'version');
  const norm = (rows: Array<Record<string, unknown>>) => rows.map((r) => ({ ...r, version: Number(r.version) }));
  return (
    JSON.stringify(copyEdges) === JSON.stringify(ownerEdges) &&
    JSON.stringify(copyPairs) === JSON.stringify(ownerPairs) &&
    JSON.stringify(norm(copyUsers)) === JSON.stringify(norm(ownerUsers))
  );
}

it('an empty replica backfills from owners with data, with the events of changes made meanwhile, and converges', async () => {
  // The owners' data, made before content's replica exists (its events are consumed and then the copy is wiped).
  const [a, b, c, d] = [await h.register({ public: true }), await h.register(), await h.register({ public: true }), await h.register()];
  await h.follow(c, a);
  await h.follow(c, b); // accepted
  await api.post(`/api/follows/request/${b.id}`, undefined, { token: d.token }); // pending
  const gone = await h.follow(d, a);
  await api.delete(`/api/follows/${gone}`, { token: d.token });
  const post = await h.createPost(b, 'private author');
  // Content consumed those events; wiping its copy now leaves only the snapshot to bring them back.
  await waitFor(converged);
  await stack.services.content!.stop();
  await emptyReplicas();

  // Changes whose events wait in the stream for content's consumer, racing the backfill.
  await api.patch('/api/users', { is_public: true }, { token: d.token });
  await api.patch('/api/users', { name: 'Renamed' }, { token: a.token });
  const late = await h.follow(a, d);
  await api.delete(`/api/follows/${late}`, { token: a.token });
  await h.follow(d, c);
  const fresh: TestUser = await h.register();
  await h.follow(fresh, b);

  const before = await snapshotsServed();
  const s = await startContent();
  await s.replicasBackfilled();
  expect(await s.ready()).toBe(true);
  expect(await snapshotsServed()).toEqual({ users: before.users + 1, edges: before.edges + 1 });
  await waitFor(converged);
  const state = await content('replica_state').orderBy('name').select('name');
  expect(state.map((r) => r.name)).toEqual(['authors', 'follow_edges']);

  // A private author's post reaches an accepted follower from the backfilled replicas alone.
  await stack.restartService('content');
  // (The gateway's channel redials the restarted process within a second or so.)
  const feed = await waitFor(async () => {
    const res = await api.get('/api/posts', { token: c.token });
    return res.status === 200 ? res : null;
  }, 10_000);
  expect(feed.body.data.posts.map((p: { post_id: string }) => p.post_id)).toContain(post);
});

it('a restart after a completed backfill does not backfill again', async () => {
  const before = await snapshotsServed();
  const stamped = await content('replica_state').orderBy('name').select('name', 'backfilled_at');
  const s = await startContent();
  await s.replicasBackfilled();
  expect(await s.ready()).toBe(true);
  expect(await snapshotsServed()).toEqual(before);
  expect(await content('replica_state').orderBy('name').select('name', 'backfilled_at')).toEqual(stamped);
});

it('several processes starting at once on an empty replica backfill it once', async () => {
  const u = await h.register();
  await h.follow(u, await h.register({ public: true }));
  await emptyReplicas();
  const before = await snapshotsServed();
  const both = await Promise.all([startContent(), startContent()]);
  await Promise.all(both.map((s) => s.replicasBackfilled()));
  expect(await snapshotsServed()).toEqual({ users: before.users + 1, edges: before.edges + 1 });
  await waitFor(converged);
});

it('the snapshots are refused to the gateway and to a peer not named for them', async () => {
  // Every service that keeps a users replica may read identity's snapshot; only content and
  // identity keep follow edges.
  const id = createClient(identity.IdentityServiceService, stack.env.IDENTITY_ADDR!, { service: 'identity', auth: testSigner('gateway') });
  expect(await streamStatus(id.serverStream('streamUserSnapshot', { pageSize: 0 }))).toBe(GrpcStatus.PERMISSION_DENIED);
  id.close();
  for (const as of ['gateway', 'notification'] as const) {
    const sg = createClient(socialgraph.SocialGraphServiceService, stack.env.SOCIAL_GRAPH_ADDR!, { service: 'social-graph', auth: testSigner(as) });
    expect(await streamStatus(sg.serverStream('streamEdgeSnapshot', { pageSize: 0 }))).toBe(GrpcStatus.PERMISSION_DENIED);
    sg.close();
  }
});
