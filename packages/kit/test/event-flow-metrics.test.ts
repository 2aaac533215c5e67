import { testRedis, unique } from '@shutter/testing';
import { createMetrics, type Metrics, type Redis } from '../src';
import { backendsReady, createEventConsumer, createOutboxRelay, type Knex } from '../src/index-db';
import { closers, commitEvent, freshSchema, memoryLog, recordEffect, waitFor } from './outbox-helpers';

const fastRelay = { pollMs: 50, lossCheckMs: 100, maxBackoffMs: 200 };
const fastConsumer = { blockMs: 100, claimIdleMs: 100, claimEveryMs: 50, maxBackoffMs: 200 };

/** One sample of a metric as scraped, or undefined when the series is absent. */
async function sample(metrics: Metrics, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (metric?.values ?? []) as Array<{ value: number; labels: Record<string, string | number> }>;
  return values.find((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))?.value;
}

describe('event flow metrics', () => {
  const open = closers();
  let db: Knex;
  let schema: string;
  let redis: Redis;
  let stream: string;

  beforeEach(async () => {
    ({ db, schema } = await freshSchema());
    open.add(() => db.destroy());
    redis = testRedis();
    open.add(() => redis.quit());
    stream = unique('events_');
  });
  afterEach(() => open.closeAll());

  it("export the outbox backlog, the consumer group's lag and what the consumer did with each event", async () => {
    const { log } = memoryLog();
    const metrics = createMetrics('test');
    for (const key of ['a', 'b', 'poison']) await commitEvent(db, key);
    const relay = open.stopLater(createOutboxRelay({ db, schema, redis, stream, log, metrics, ...fastRelay }));

    // Before the relay runs, the backlog is all three rows.
    expect(await sample(metrics, 'outbox_unsent_events', { schema })).toBe(3);
    expect(await sample(metrics, 'outbox_oldest_unsent_age_seconds', { schema })).toBeGreaterThanOrEqual(0);
    relay.start();
    await waitFor('outbox drained', async () => (await sample(metrics, 'outbox_unsent_events', { schema })) === 0);
    expect(await sample(metrics, 'outbox_oldest_unsent_age_seconds', { schema })).toBe(0);

    const consumer = open.stopLater(createEventConsumer({
      db, redis, stream, log, metrics, group: 'g', maxDeliveries: 2, ...fastConsumer,
      handle: async (e, trx) => {
        if (e.key === 'poison') throw new Error('cannot apply');
        await recordEffect('g')(e, trx);
      },
    }));
    consumer.start();
    await waitFor('poison dead-lettered', async () => (await sample(metrics, 'event_dead_letters', { stream })) === 1);
    expect(await sample(metrics, 'event_consumer_events_total', { group: 'g', outcome: 'applied' })).toBe(2);
    expect(await sample(metrics, 'event_consumer_events_total', { group: 'g', outcome: 'retried' })).toBeGreaterThanOrEqual(1);
    expect(await sample(metrics, 'event_consumer_events_total', { group: 'g', outcome: 'dead_lettered' })).toBe(1);
    await waitFor('nothing behind', async () => (await sample(metrics, 'event_consumer_pending_events', { stream, group: 'g' })) === 0);
    expect(await sample(metrics, 'event_consumer_lag_events', { stream, group: 'g' })).toBe(0);
  });

  it('leave a backlog out of the scrape when Postgres cannot be read, instead of reporting 0', async () => {
    const metrics = createMetrics('test');
    const { log } = memoryLog();
    await commitEvent(db, 'x');
    createOutboxRelay({ db, schema, redis, stream, log, metrics });
    expect(await sample(metrics, 'outbox_unsent_events', { schema })).toBe(1);
    await db.destroy();
    expect(await sample(metrics, 'outbox_unsent_events', { schema })).toBeUndefined();
  });

  it('show a consumer whose handler hangs as stalled, in metrics and readiness, until it turns again', async () => {
    const { log } = memoryLog();
    const metrics = createMetrics('test');
    const relay = open.stopLater(createOutboxRelay({ db, schema, redis, stream, log, ...fastRelay }));
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let entered = false;
    const consumer = createEventConsumer({
      db, redis, stream, log, metrics, group: 'g', ...fastConsumer,
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
