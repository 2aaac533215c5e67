import type { Metrics } from '@shutter/kit';
import { apiClient, startStack, waitFor, type ApiClient, type Stack } from '@shutter/testing';
import { openStream } from './events-helpers';
import { postsHelpers } from './posts-helpers';

/**
 * The metrics docs/operations.md names for the feed and the live stream, read from the processes'
 * own registries: fan-out entries and lag, timeline rebuilds, open event streams.
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
  it("count a post's fan-out and its lag, a timeline rebuilt on a read, and the open streams", async () => {
    const content = stack.services.content?.metrics;
    const author = await h.register({ public: true });
    const reader = await h.register();
    await h.follow(reader, author);
    const entries = await sample(content, 'feed_fanout_entries_total');
    const fanouts = await sample(content, 'feed_fanout_lag_seconds');
    const rebuilds = await sample(content, 'feed_timeline_rebuilds_total');

    await api.get('/api/posts', { token: reader.token }); // no timeline yet: built from Postgres
    expect(await sample(content, 'feed_timeline_rebuilds_total')).toBe(rebuilds + 1);

    await h.createPost(author, 'counted');
    // The author's timeline and the reader's.
    await waitFor(async () => (await sample(content, 'feed_fanout_entries_total')) === entries + 2, 10_000);
    expect(await sample(content, 'feed_fanout_lag_seconds')).toBe(fanouts + 1);

    expect(await sample(stack.gatewayMetrics, 'gateway_open_event_streams')).toBe(0);
    const live = await openStream(stack.url, reader.token);
    try {
      await waitFor(async () => (await sample(stack.gatewayMetrics, 'gateway_open_event_streams')) === 1, 5000);
    } finally {
      live.close();
    }
    await waitFor(async () => (await sample(stack.gatewayMetrics, 'gateway_open_event_streams')) === 0, 5000);
  });
});
