import type { Metrics } from '@shutter/kit';
import { apiClient, postsHelpers, startStack, waitFor, type ApiClient, type Stack } from '@shutter/testing';
import { openStream } from './events-helpers';

/**
 * The metrics docs/operations.md names for the feed and the live stream, read from the processes'
 * own registries: timeline rebuilds and open event streams (answered by this file's processes).
 * Fan-out is not counted here: the run's other suites share the event stream and its consumer
 * groups, so another process may do this file's fan-out.
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

async function sample(m: Metrics | undefined, name: string): Promise<number> {
  const metric = (await m!.registry.getMetricsAsJSON()).find((x) => x.name === name);
  return ((metric?.values ?? []) as Array<{ value: number; metricName?: string }>)
    .filter((v) => !v.metricName || v.metricName === name || v.metricName === `${name}_count`)
    .reduce((sum, v) => sum + v.value, 0);
}

describe('feed and stream metrics', () => {
  it('count a timeline rebuilt on a read and the open streams', async () => {
    const content = stack.services.content?.metrics;
    const reader = await h.register();
    const rebuilds = await sample(content, 'feed_timeline_rebuilds_total');
    expect((await api.get('/api/posts', { token: reader.token })).status).toBe(200); // no timeline yet: built from Postgres
    expect(await sample(content, 'feed_timeline_rebuilds_total')).toBe(rebuilds + 1);
    expect((await api.get('/api/posts', { token: reader.token })).status).toBe(200); // now in Redis
    expect(await sample(content, 'feed_timeline_rebuilds_total')).toBe(rebuilds + 1);
    // Exported from the start (the fan-out of the run's posts moves them; see above).
    expect((await content!.registry.getMetricsAsJSON()).map((m) => m.name)).toEqual(
      expect.arrayContaining(['feed_fanout_entries_total', 'feed_fanout_lag_seconds']),
    );

    expect(await sample(stack.gatewayMetrics, 'gateway_open_event_streams')).toBe(0);
    const live = await openStream(stack.url, reader.token);
    try {
      await waitFor(async () => (await sample(stack.gatewayMetrics, 'gateway_open_event_streams')) === 1);
    } finally {
      live.close();
    }
    await waitFor(async () => (await sample(stack.gatewayMetrics, 'gateway_open_event_streams')) === 0);
  });
});

describe('cache metrics', () => {
  /** cache_requests_total of one cache by result. */
  async function cacheCounts(m: Metrics | undefined, cache: string): Promise<Record<string, number>> {
    const metric = (await m!.registry.getMetricsAsJSON()).find((x) => x.name === 'cache_requests_total');
    const values = (metric?.values ?? []) as Array<{ value: number; labels: Record<string, string | number> }>;
    return Object.fromEntries(values.filter((v) => v.labels.cache === cache).map((v) => [v.labels.result, v.value]));
  }

  it("count the gateway's verified-token cache: a new token misses once, then hits", async () => {
    const user = await h.register(); // private: registering made no authenticated call
    const before = await cacheCounts(stack.gatewayMetrics, 'verified_token');
    expect((await api.get('/api/users/me', { token: user.token })).status).toBe(200);
    const between = await cacheCounts(stack.gatewayMetrics, 'verified_token');
    expect((await api.get('/api/users/me', { token: user.token })).status).toBe(200);
    const after = await cacheCounts(stack.gatewayMetrics, 'verified_token');
    expect({ hit: between.hit! - before.hit!, miss: between.miss! - before.miss! }).toEqual({ hit: 0, miss: 1 });
    expect({ hit: after.hit! - between.hit!, miss: after.miss! - between.miss! }).toEqual({ hit: 1, miss: 0 });
  });
});
