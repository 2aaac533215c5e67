import type { Metrics } from '@shutter/kit';
import { apiClient, postsHelpers, startStack, waitFor, type ApiClient, type Stack, type TestUser } from '@shutter/testing';

/**
 * docs/architecture.md *Hot paths*: each hot read is one gRPC call from the gateway, and the service that
 * answers it calls no other service. Counted with the per-method gRPC metrics every process
 * already exports: the gateway's client histogram (`grpc_client_handling_seconds`) and each
 * service's server counter (`grpc_server_handled_total`) and client histogram.
 */

let stack: Stack;
let api: ApiClient;
let h: ReturnType<typeof postsHelpers>;

beforeAll(async () => {
  stack = await startStack();
  api = apiClient(stack.url);
  h = postsHelpers(api, () => stack);
});
afterAll(() => stack?.stop());

type Counts = Map<string, number>;

/** Calls per `<process> <side> <peer/method>` so far. */
async function snapshot(): Promise<Counts> {
  const out: Counts = new Map();
  const add = async (proc: string, m: Metrics | undefined) => {
    if (!m) throw new Error(`${proc} exports no metrics to the test`);
    for (const metric of await m.registry.getMetricsAsJSON()) {
      if (metric.name === 'grpc_server_handled_total') {
        for (const v of metric.values)
          out.set(`${proc} server ${String(v.labels.grpc_method)}`, (out.get(`${proc} server ${String(v.labels.grpc_method)}`) ?? 0) + v.value);
      }
      if (metric.name === 'grpc_client_handling_seconds') {
        for (const v of metric.values as Array<{ metricName?: string; labels: Record<string, string | number>; value: number }>) {
          if (v.metricName !== 'grpc_client_handling_seconds_count') continue;
          const k = `${proc} client ${String(v.labels.grpc_service)}/${String(v.labels.grpc_method)}`;
          out.set(k, (out.get(k) ?? 0) + v.value);
        }
      }
    }
  };
  await add('gateway', stack.gatewayMetrics);
  for (const [name, s] of Object.entries(stack.services)) await add(name, s.metrics);
  return out;
}

/**
 * Calls made in the background, never part of a read (a read path making them would still show
 * as its own client's call): notification's actor look-up (for this file's events or, as the run's
 * suites share the event stream, another's); identity's edge- and post-replica backfills, which in
 * tests retry against no social-graph and no content (identity starts first). Content's fan-out
 * calls no one: it reads followers from its own replica, asserted below.
 */
const BACKGROUND = new Set([
  'notification client identity/BatchGetUsers',
  'identity server batchGetUsers',
  'identity client social-graph/StreamEdgeSnapshot',
  'identity client content/StreamPostSnapshot',
]);

/** What changed between two snapshots (only non-zero deltas, background fan-out left out). */
function delta(before: Counts, after: Counts): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of after) if (v - (before.get(k) ?? 0) !== 0 && !BACKGROUND.has(k)) out[k] = v - (before.get(k) ?? 0);
  return out;
}

async function callsOf(path: string, user: TestUser): Promise<Record<string, number>> {
  const before = await snapshot();
  const res = await api.get(path, { token: user.token });
  expect(res.status).toBe(200);
  return delta(before, await snapshot());
}

describe('hot reads: one gRPC call from the gateway, none from the answering service', () => {
  let author: TestUser;
  let reader: TestUser;
  let postId: string;

  beforeAll(async () => {
    author = await h.register({ public: true });
    reader = await h.register();
    await h.follow(reader, author);
    postId = await h.createPost(author, 'hot');
    await api.post(`/api/posts/like/${postId}`, undefined, { token: reader.token });
    await api.post(`/api/posts/comment/${postId}`, { content: 'first' }, { token: reader.token });
    // The replicas (identity's edges and post counts, content's timelines) catch up in milliseconds.
    await waitFor(async () => (await api.get(`/api/users/${author.id}`, { token: reader.token })).body.data?.post_count === 1);
    await waitFor(async () => (await api.get('/api/posts', { token: reader.token })).body.data?.posts.length === 1);
  });

  // [route, path, the answering service, the method (client label PascalCase, server camelCase)]
  const routes: Array<[string, () => string, string, string]> = [
    ['/me', () => '/api/users/me', 'identity', 'GetUser'],
    ['a profile', () => `/api/users/${author.id}`, 'identity', 'GetProfile'],
    ['the home feed', () => '/api/posts', 'content', 'ListPosts'],
    ["a user's posts", () => `/api/posts?user_id=${author.id}`, 'content', 'ListPosts'],
    ['a post page', () => `/api/posts/${postId}`, 'content', 'GetPost'],
    ['the unread count', () => '/api/events/unread-count', 'notification', 'GetUnreadCount'],
  ];

  it("a viewer's first home feed and a post's fan-out: content calls no other service", async () => {
    // A viewer content has never served, following an author with another follower.
    const viewer = await h.register();
    const other = await h.register();
    await h.follow(viewer, author);
    await h.follow(other, author);
    await waitFor(async () => (await api.get(`/api/users/${author.id}`, { token: viewer.token })).body.data?.follow_status === 'agree');
    const first = await callsOf('/api/posts', viewer);
    expect(Object.keys(first).filter((k) => !k.startsWith('gateway ') && !k.startsWith('content server '))).toEqual([]);

    const before = await snapshot();
    const created = await h.createPost(author, 'fanned out');
    // Fan-out is asynchronous: done once both followers' timelines hold the post.
    for (const u of [viewer, other]) {
      await waitFor(
        async () =>
          ((await api.get('/api/posts', { token: u.token })).body.data?.posts as Array<{ post_id: string }> | undefined)?.some((p) => p.post_id === created),
        5000,
      );
    }
    const calls = delta(before, await snapshot());
    // Only the gateway calls (create, then the feed reads above); nothing from content, nothing served by social-graph or identity.
    expect(Object.keys(calls).filter((k) => k.startsWith('content client') || k.startsWith('social-graph server') || k.startsWith('identity server'))).toEqual(
      [],
    );
    expect(calls['gateway client content/CreatePost']).toBe(1);
  });

  it.each(routes)('%s', async (_label, path, service, method) => {
    // The first read of a route may warm per-process caches (signed image URLs, the token cache).
    await callsOf(path(), reader);
    const calls = await callsOf(path(), reader);
    expect(calls).toEqual({ [`gateway client ${service}/${method}`]: 1, [`${service} server ${method[0]!.toLowerCase()}${method.slice(1)}`]: 1 });
  });
});
