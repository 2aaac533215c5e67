import { createMetrics, type Metrics } from '../src';
import { backendsReady, createEventConsumer, createOutboxRelay } from '../src/index-db';
import { commitEvent, FAST_CONSUMER, memoryLog, outboxFixture, recordEffect, waitFor } from './outbox-helpers';

/** One sample of a metric as scraped, or undefined when the series is absent. */
async function sample(metrics: Metrics, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (metric?.values ?? []) as Array<{ value: number; labels: Record<string, string | number> }>;
  return values.find((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))?.value;
}

describe('event flow metrics', () => {
  const fx = outboxFixture();
  const { open } = fx;

  it("export the outbox backlog, the consumer group's lag and what the consumer did with each event", async () => {
    const { db, schema, stream } = fx;
    const { log } = memoryLog();
    const metrics = createMetrics('test');
    for (const key of ['a', 'b', 'poison']) await commitEvent(db, key);
    const relay = fx.relay(log, { metrics });

    // Before the relay runs, the backlog is all three rows.
    expect(await sample(metrics, 'outbox_unsent_events', { schema })).toBe(3);
    expect(await sample(metrics, 'outbox_oldest_unsent_age_seconds', { schema })).toBeGreaterThanOrEqual(0);
    relay.start();
    await waitFor('outbox drained', async () => (await sample(metrics, 'outbox_unsent_events', { schema })) === 0);
    expect(await sample(metrics, 'outbox_oldest_unsent_age_seconds', { schema })).toBe(0);

    const consumer = fx.consumer({
      log,
      metrics,
      group: 'g',
      maxDeliveries: 2,
      handle: async (e, trx) => {
        if (e.key === 'poison') throw new Error('cannot apply');
        await recordEffect('g')(e, trx);
      },
    });
    consumer.start();
    await waitFor('poison dead-lettered', async () => (await sample(metrics, 'event_dead_letters', { stream })) === 1);
    expect(await sample(metrics, 'event_consumer_events_total', { group: 'g', outcome: 'applied' })).toBe(2);
    expect(await sample(metrics, 'event_consumer_events_total', { group: 'g', outcome: 'retried' })).toBeGreaterThanOrEqual(1);
    expect(await sample(metrics, 'event_consumer_events_total', { group: 'g', outcome: 'dead_lettered' })).toBe(1);
    await waitFor('nothing behind', async () => (await sample(metrics, 'event_consumer_pending_events', { stream, group: 'g' })) === 0);
    expect(await sample(metrics, 'event_consumer_lag_events', { stream, group: 'g' })).toBe(0);
  });

  it('leave a backlog out of the scrape when Postgres cannot be read, instead of reporting 0', async () => {
    const { db, schema, redis, stream } = fx;
    const metrics = createMetrics('test');
    const { log } = memoryLog();
    await commitEvent(db, 'x');
    createOutboxRelay({ db, schema, redis, stream, log, metrics });
    expect(await sample(metrics, 'outbox_unsent_events', { schema })).toBe(1);
    await db.destroy();
    expect(await sample(metrics, 'outbox_unsent_events', { schema })).toBeUndefined();
  });

  it('show a consumer whose handler hangs as stalled, in metrics and readiness, until it turns again', async () => {
    const { db, redis, stream } = fx;
    const { log } = memoryLog();
    const metrics = createMetrics('test');
    const relay = fx.relay(log);
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let entered = false;
    const consumer = createEventConsumer({
      db,
      redis,
      stream,
      log,
      metrics,
      group: 'g',
      ...FAST_CONSUMER,
      handle: async (e, trx) => {
        entered = true;
        await released;
        await recordEffect('g')(e, trx);
      },
    });
    open.add(async () => {
      release();
      await consumer.stop();
    });
    const ready = backendsReady(db, redis, consumer, 300);
    expect(consumer.stalledMs()).toBe(0); // not started
    consumer.start();
    await waitFor('ready while idle', ready);
    await commitEvent(db, 'slow');
    relay.start();
    await waitFor('handler entered', () => entered);
    await waitFor('readiness fails once stalled past the bound', async () => !(await ready()));
    expect(await sample(metrics, 'event_consumer_stalled_seconds', { stream, group: 'g' })).toBeGreaterThan(0.3);
    release();
    await waitFor('ready again after the handler returns', ready);
    expect(await sample(metrics, 'event_consumer_stalled_seconds', { stream, group: 'g' })).toBeLessThan(0.3);
  });
});
