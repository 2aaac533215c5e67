import { Counter, Gauge, type Registry } from 'prom-client';
import type { Knex } from '../db';
import type { Metrics } from '../metrics';
import type { Redis } from '../redis';
import { streamGroups } from './stream-entries';

/**
 * The event flow's health, the part that fails quietly: how far each outbox is behind (unsent rows
 * and the oldest one's age), how far each consumer group is behind the stream (lag, pending), what
 * was dead-lettered, and what each consumer did with the events it read. Backlogs are read when
 * Prometheus scrapes (one indexed count per outbox, one XINFO per stream), never on a request path;
 * a source that cannot be read is left out of that scrape, so a gap in the series means
 * "unknown", never 0.
 */

interface Outbox {
  db: Knex;
  schema: string;
}
interface Group {
  redis: Redis;
  stream: string;
  group: string;
  /** Milliseconds since the consumer's loop last completed a turn (consumer.ts). */
  stalledMs(): number;
}

/** Per registry (per process): what to read at scrape time, and the counters consumers bump. */
interface FlowMetrics {
  outboxes: Map<string, Outbox>;
  groups: Map<string, Group>;
  consumed: Counter<'group' | 'outcome'>;
}

const byRegistry = new WeakMap<Registry, FlowMetrics>();

function flowMetrics(metrics: Metrics): FlowMetrics {
  const existing = byRegistry.get(metrics.registry);
  if (existing) return existing;
  const registers = [metrics.registry];
  const flow: FlowMetrics = {
    outboxes: new Map(),
    groups: new Map(),
    consumed: new Counter({
      name: 'event_consumer_events_total',
      help: 'Events a consumer group read, by outcome: applied, duplicate (applied before), ignored (a type it does not handle), retried (handler failed), dead_lettered',
      labelNames: ['group', 'outcome'],
      registers,
    }),
  };
  // A scrape collects every gauge concurrently: each gauge of a pair awaits the same read.
  const readOutboxes = shared(async () => {
    unsent.reset();
    oldest.reset();
    for (const { db, schema } of flow.outboxes.values()) {
      try {
        const row = (await db
          .withSchema(schema)
          .from('outbox')
          .whereNull('sent_at')
          .first(db.raw('count(*)::int AS n'), db.raw('coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS age'))) as {
          n: number;
          age: number;
        };
        unsent.set({ schema }, row.n);
        oldest.set({ schema }, row.age);
      } catch {
        // Postgres unreachable: no sample this scrape (the alert on the service's health covers it).
      }
    }
  });
  const readStreams = shared(async () => {
    lag.reset();
    pending.reset();
    dead.reset();
    const streams = new Map<string, Redis>();
    for (const g of flow.groups.values()) streams.set(g.stream, g.redis);
    for (const [stream, redis] of streams) {
      try {
        for (const info of await streamGroups(redis, stream)) {
          const group = String(info.name);
          if (![...flow.groups.values()].some((g) => g.group === group && g.stream === stream)) continue;
          // `lag` is nil when Redis cannot tell (entries deleted by trimming): no sample then.
          if (info.lag !== null && info.lag !== undefined) lag.set({ stream, group }, Number(info.lag));
          pending.set({ stream, group }, Number(info.pending ?? 0));
        }
        dead.set({ stream }, await redis.xlen(`${stream}:dead`));
      } catch {
        // Redis unreachable, or the stream does not exist yet.
      }
    }
  });
  const unsent = new Gauge({
    name: 'outbox_unsent_events',
    help: 'Outbox rows not yet published to the stream',
    labelNames: ['schema'],
    registers,
    collect: readOutboxes,
  });
  const oldest = new Gauge({
    name: 'outbox_oldest_unsent_age_seconds',
    help: 'Age of the oldest outbox row not yet published (0 when none)',
    labelNames: ['schema'],
    registers,
    collect: readOutboxes,
  });
  const lag = new Gauge({
    name: 'event_consumer_lag_events',
    help: 'Stream entries not yet delivered to the consumer group',
    labelNames: ['stream', 'group'],
    registers,
    collect: readStreams,
  });
  const pending = new Gauge({
    name: 'event_consumer_pending_events',
    help: 'Entries delivered to the consumer group and not yet acknowledged',
    labelNames: ['stream', 'group'],
    registers,
    collect: readStreams,
  });
  new Gauge({
    name: 'event_consumer_stalled_seconds',
    help: "Seconds since the consumer's read loop last completed a turn (a healthy one turns every few seconds)",
    labelNames: ['stream', 'group'],
    registers,
    collect() {
      this.reset();
      for (const g of flow.groups.values()) this.set({ stream: g.stream, group: g.group }, g.stalledMs() / 1000);
    },
  });
  const dead = new Gauge({
    name: 'event_dead_letters',
    help: 'Entries in the dead-letter stream (kept up to ~100 000)',
    labelNames: ['stream'],
    registers,
    collect: readStreams,
  });

  byRegistry.set(metrics.registry, flow);
  return flow;
}

/** `fn`, run once for all callers that ask while a run is under way. */
function shared(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= fn().finally(() => (running = undefined)));
}

/** Exports a relay's backlog (`outbox_unsent_events`, `outbox_oldest_unsent_age_seconds`). */
export function observeOutbox(metrics: Metrics | undefined, outbox: Outbox): void {
  if (metrics) flowMetrics(metrics).outboxes.set(outbox.schema, outbox);
}

export type ConsumeOutcome = 'applied' | 'duplicate' | 'ignored' | 'retried' | 'dead_lettered';

/** Exports a consumer group's lag and dead letters; returns the counter of what it did with each event. */
export function observeConsumer(metrics: Metrics | undefined, group: Group): (outcome: ConsumeOutcome) => void {
  if (!metrics) return () => undefined;
  const flow = flowMetrics(metrics);
  flow.groups.set(`${group.stream}\u0000${group.group}`, group);
  const counter = flow.consumed;
  return (outcome) => counter.inc({ group: group.group, outcome });
}
