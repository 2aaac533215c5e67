import * as os from 'node:os';
import { EVENTS_STREAM } from '@shutter/contracts';
import type { Knex } from '../db';
import type { Logger } from '../logger';
import { blockingConnection, type Redis } from '../redis';
import { isUuid } from '../ids';
import { isBackendUnavailable } from '../errors';
import type { Metrics } from '../metrics';
import { observeConsumer } from './metrics';
import { backoffMs, createSleeper, errorMessage } from './sleeper';
import { groupConsumers, parseAutoClaim, parseClaimed, parseEntries, type RawEntry } from './stream-entries';
import { SpanKind, extractTrace, inSpan } from '../tracing';

/** One event as a consumer sees it. */
export interface StreamEvent<T extends string = string> {
  id: string;
  type: T;
  key: string;
  payload: Buffer;
  /** The Redis entry id (differs between two deliveries of the same event after a replay). */
  streamId: string;
}

/** T: the event types `types` names, which are all `handle` is given. */
export interface EventConsumerOptions<T extends string = string> {
  db: Knex;
  redis: Redis;
  /** Consumer group: one per consuming service (or per purpose); also the idempotency namespace. */
  group: string;
  /** Default `<hostname>-<pid>`. */
  consumer?: string;
  /** Default EVENTS_STREAM (`events`). */
  stream?: string;
  log: Logger;
  /** Applies the event in `trx`; throwing rolls back and leaves the entry pending for a retry. */
  handle: (event: StreamEvent<T>, trx: Knex.Transaction) => Promise<void>;
  /** Only these types reach `handle`; others are acknowledged unread. Default: all. */
  types?: readonly T[];
  /** Handler attempts before the entry goes to `<stream>:dead`. Default 5. */
  maxDeliveries?: number;
  /** How long one read blocks; bounds how late a claim pass can be. Default 2000. */
  blockMs?: number;
  /** A pending entry idle this long is re-claimed (failed handler, dead consumer). Default 30000. */
  claimIdleMs?: number;
  /** How often pending entries are looked for. Default 5000. */
  claimEveryMs?: number;
  /** Entries per read or claim. Default 10. */
  batchSize?: number;
  /** Ceiling of the retry backoff while Redis or Postgres fail. Default 5000. */
  maxBackoffMs?: number;
  /** Exports the group's lag, pending entries, dead letters and outcomes (outbox/metrics.ts). */
  metrics?: Metrics;
}

export interface EventConsumer {
  start(): void;
  /**
   * Milliseconds since the read loop last completed a turn (a read, even an empty one, or a
   * claim pass); 0 before start. A healthy loop turns at least every `blockMs`: a large value
   * means Redis or Postgres has been failing, or a handler hangs.
   */
  stalledMs(): number;
  /** Finishes the entry in progress, then returns; unprocessed entries are re-claimed later. */
  stop(): Promise<void>;
}

/** Thrown inside the transaction to roll it back when the entry must not be handled again. */
class DeliveriesExhausted extends Error {}

/**
 * Reads a stream through a consumer group and applies each event once: the event id is recorded
 * in `applied_events` in the same transaction as the handler's effect, and XACK follows the commit.
 */
export function createEventConsumer<T extends string = string>(opts: EventConsumerOptions<T>): EventConsumer {
  const { db, redis, group } = opts;
  const stream = opts.stream ?? EVENTS_STREAM;
  const deadStream = `${stream}:dead`;
  const consumer = opts.consumer ?? `${os.hostname()}-${process.pid}`;
  const maxDeliveries = opts.maxDeliveries ?? 5;
  const blockMs = opts.blockMs ?? 2000;
  const claimIdleMs = opts.claimIdleMs ?? 30_000;
  const claimEveryMs = opts.claimEveryMs ?? 5000;
  const batchSize = opts.batchSize ?? 10;
  const maxBackoffMs = opts.maxBackoffMs ?? 5000;
  const types = opts.types ? new Set<string>(opts.types) : null;
  const log = opts.log.child({ component: 'event-consumer', stream, group, consumer });
  const sleeper = createSleeper();
  let lastTurnAt = 0;
  const stalledMs = () => (lastTurnAt === 0 ? 0 : Date.now() - lastTurnAt);
  const counted = observeConsumer(opts.metrics, { redis, stream, group, stalledMs });

  let reader: Redis | null = null;
  let loop: Promise<void> | null = null;
  let stopping = false;
  let groupReady = false;
  let claimCursor = '0-0';
  let nextClaimAt = 0;

  async function ensureGroup(): Promise<void> {
    // ioredis does not know where XGROUP's key is, so it would skip keyPrefix: add it ourselves.
    const key = `${redis.options.keyPrefix ?? ''}${stream}`;
    try {
      await redis.call('xgroup', 'CREATE', key, group, '0', 'MKSTREAM');
    } catch (err) {
      if (!errorMessage(err).startsWith('BUSYGROUP')) throw err;
    }
    groupReady = true;
  }

  /** Blocking read of new entries on the dedicated connection (stop() closes it to cut the wait). */
  async function readNew(conn: Redis): Promise<RawEntry[]> {
    const reply = await withBufferReplies(conn).xreadgroupBuffer('GROUP', group, consumer, 'COUNT', batchSize, 'BLOCK', blockMs, 'STREAMS', stream, '>');
    return parseEntries(reply);
  }

  /**
   * A consumer named after this host (`<host>-<pid>`) whose process is gone died with entries
   * read but not acknowledged. Its restarted successor has another pid, so claimStale alone would
   * leave them for claimIdleMs (30 s; `make chaos` measured it): they are taken over at once,
   * and the dead consumer leaves the group once it holds nothing.
   */
  async function adoptDeadSiblings(): Promise<Array<{ entry: RawEntry; deliveries: number }>> {
    const host = `${os.hostname()}-`;
    for (const c of await groupConsumers(redis, stream, group)) {
      const name = String(c.name);
      const pid = Number(name.slice(host.length));
      if (name === consumer || !name.startsWith(host) || !Number.isSafeInteger(pid) || pid <= 0 || processExists(pid)) continue;
      const pending = (await redis.xpending(stream, group, '-', '+', batchSize, name)) as Array<[string, string, number, number]>;
      if (pending.length === 0) {
        await redis.call('xgroup', 'DELCONSUMER', `${redis.options.keyPrefix ?? ''}${stream}`, group, name);
        log.info({ dead: name }, 'removed a dead consumer of this host from the group');
        continue;
      }
      const entries = parseClaimed(await withBufferReplies(redis).xclaimBuffer(stream, group, consumer, 0, ...pending.map((p) => p[0])));
      log.warn({ dead: name, entries: entries.length }, "took over a dead consumer's pending entries");
      // XCLAIM counted this delivery on top of XPENDING's.
      const counts = new Map(pending.map((p) => [p[0], Number(p[3]) + 1]));
      if (entries.length) return entries.map((entry) => ({ entry, deliveries: counts.get(entry.streamId) ?? maxDeliveries }));
    }
    return [];
  }

  /** Takes over entries pending longer than claimIdleMs (ours or a dead consumer's), with their delivery counts. */
  async function claimStale(): Promise<Array<{ entry: RawEntry; deliveries: number }>> {
    // At the start of each pass: a dead sibling's entries first (returned until there are none).
    const adopted = claimCursor === '0-0' ? await adoptDeadSiblings() : [];
    if (adopted.length) return adopted;
    const reply = await withBufferReplies(redis).xautoclaimBuffer(stream, group, consumer, claimIdleMs, claimCursor, 'COUNT', batchSize);
    const { cursor, entries } = parseAutoClaim(reply);
    claimCursor = cursor;
    // A full pass done: wait for the next tick. Otherwise continue the scan on the next turn.
    nextClaimAt = cursor === '0-0' ? Date.now() + claimEveryMs : 0;
    // XAUTOCLAIM counted this delivery; XPENDING tells how many there were in all.
    const counts = await Promise.all(entries.map((e) => redis.xpending(stream, group, e.streamId, e.streamId, 1)));
    return entries.map((entry, i) => {
      const row = counts[i]?.[0] as [string, string, number, number] | undefined;
      return { entry, deliveries: row ? Number(row[3]) : maxDeliveries };
    });
  }

  /**
   * Applies an entry. A failure that is an outage (Postgres or Redis down, a peer UNAVAILABLE or
   * past its deadline) is retried here with backoff for up to claimIdleMs: left pending, the
   * entry would wait claimIdleMs for claimStale and spend a delivery per try (make chaos measured
   * feed fan-outs 30+ s late after social-graph restarted). Retrying in place keeps the order;
   * during an outage the entries behind it would fail the same way.
   */
  async function processEntry(entry: RawEntry, deliveries: number): Promise<void> {
    const until = Date.now() + claimIdleMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await applyTraced(entry, deliveries);
      } catch (err) {
        const wait = backoffMs(attempt, 100, maxBackoffMs);
        if (stopping || !isOutage(err) || Date.now() + wait > until) throw err;
        if (attempt === 1) log.warn({ err, streamId: entry.streamId }, 'event not applied: a backend or peer is down; retrying it');
        await sleeper.sleep(wait, false);
      }
    }
  }

  /** Handles one entry in a span that continues the trace of the request that wrote the event. */
  function applyTraced(entry: RawEntry, deliveries: number): Promise<void> {
    const parent = extractTrace((key) => (key === 'traceparent' ? entry.map.get('trace')?.toString() : undefined));
    const type = entry.map.get('type')?.toString() ?? 'unknown';
    const attributes = {
      'messaging.system': 'redis',
      'messaging.destination.name': stream,
      'messaging.consumer.group.name': group,
      'messaging.message.id': entry.streamId,
      'shutter.event.type': type,
    };
    return inSpan(`consume ${type}`, SpanKind.CONSUMER, attributes, () => applyEntry(entry, deliveries), parent);
  }

  async function applyEntry(entry: RawEntry, deliveries: number): Promise<void> {
    const event = toEvent(entry);
    if (!event) return deadLetter(entry, 'malformed entry: needs a uuid id, type, key and payload', deliveries);
    if (types && !types.has(event.type)) {
      counted('ignored');
      return ack(entry.streamId);
    }
    let handlerFailed = false;
    let applied = false;
    let handlerError: unknown;
    try {
      await db.transaction(async (trx) => {
        const fresh = await trx('applied_events')
          .insert({ consumer: group, event_id: event.id })
          .onConflict(['consumer', 'event_id'])
          .ignore()
          .returning('event_id');
        if (fresh.length === 0) return; // applied before: a redelivery, a replay or a duplicate entry
        try {
          // The consumer died while handling it (no error was ever caught): do not try forever.
          if (deliveries > maxDeliveries) throw new DeliveriesExhausted(`gave up after ${deliveries - 1} deliveries`);
          await opts.handle(event as StreamEvent<T>, trx); // `types` let only T through
          applied = true;
        } catch (err) {
          handlerFailed = true;
          handlerError = err;
          throw err;
        }
      });
    } catch (err) {
      // Errors of our own insert or commit are infrastructure trouble, and so is a handler's
      // outage: retried (processEntry), never dead-lettered.
      if (!handlerFailed) throw err;
      if (isOutage(handlerError)) throw handlerError;
      if (deliveries >= maxDeliveries) return deadLetter(entry, errorMessage(handlerError), deliveries);
      log.warn({ err: handlerError, eventId: event.id, type: event.type, deliveries }, 'event handler failed; will retry');
      counted('retried');
      return; // stays pending: claimStale retries it after claimIdleMs
    }
    counted(applied ? 'applied' : 'duplicate');
    await ack(entry.streamId);
  }

  async function ack(streamId: string): Promise<void> {
    await redis.xack(stream, group, streamId);
  }

  async function deadLetter(entry: RawEntry, error: string, deliveries: number): Promise<void> {
    // One MULTI: the entry is either dead-lettered and acknowledged, or still pending.
    const results = await redis
      .multi()
      .xadd(
        deadStream,
        'MAXLEN',
        '~',
        100_000,
        '*',
        ...entry.fields,
        'group',
        group,
        'error',
        error.slice(0, 2000),
        'streamId',
        entry.streamId,
        'deliveries',
        String(deliveries),
      )
      .xack(stream, group, entry.streamId)
      .exec();
    const failed = results?.find(([err]) => err);
    if (!results || failed) throw failed?.[0] ?? new Error('dead-letter transaction aborted');
    log.error({ streamId: entry.streamId, error, deliveries }, 'event dead-lettered');
    counted('dead_lettered');
  }

  async function run(conn: Redis): Promise<void> {
    let failures = 0;
    while (!stopping) {
      try {
        if (!groupReady) await ensureGroup();
        const batch = Date.now() >= nextClaimAt ? await claimStale() : [];
        // A batch that was read is finished even while stopping: entries left pending would wait
        // claimIdleMs for another consumer, delaying every event behind them.
        for (const { entry, deliveries } of batch) await processEntry(entry, deliveries);
        if (batch.length === 0 && !stopping) {
          for (const entry of await readNew(conn)) await processEntry(entry, 1);
        }
        failures = 0;
        lastTurnAt = Date.now();
      } catch (err) {
        if (stopping) return;
        if (errorMessage(err).startsWith('NOGROUP')) {
          // The stream (and with it the group) is gone: Redis lost its data. Recreate the group
          // from 0 so the relay's replay is read from the start; applied_events skips the known.
          log.warn('consumer group missing (stream lost?): recreating it from the start');
          groupReady = false;
          claimCursor = '0-0';
          continue;
        }
        failures++;
        log.error({ err, failures }, 'event consumer failed; retrying');
        await sleeper.sleep(backoffMs(failures, 100, maxBackoffMs));
      }
    }
  }

  return {
    start() {
      if (loop || stopping) return;
      reader = blockingConnection(redis);
      lastTurnAt = Date.now();
      loop = run(reader);
    },
    async stop() {
      stopping = true;
      sleeper.cancel();
      reader?.disconnect(); // rejects the blocking read at once
      await loop;
      reader = null;
      lastTurnAt = 0;
    },
    stalledMs,
  };
}

/*
 * ioredis has a *Buffer variant of every command (binary payloads) but types few of them, and its
 * generic callBuffer() drops the command name under enableAutoPipelining (ioredis 5.x): so these.
 */
interface BufferReplies {
  xreadgroupBuffer(...args: Array<string | number>): Promise<unknown>;
  xautoclaimBuffer(...args: Array<string | number>): Promise<unknown>;
  xclaimBuffer(...args: Array<string | number>): Promise<unknown>;
}
const withBufferReplies = (r: Redis): BufferReplies => r as unknown as BufferReplies;

/** Postgres or Redis unreachable, or a gRPC peer UNAVAILABLE (14) or past its deadline (4). */
function isOutage(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return isBackendUnavailable(err) || code === 14 || code === 4;
}

/** Whether a process with this pid exists on this host (EPERM: it does, owned by someone else). */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function toEvent(entry: RawEntry): StreamEvent | null {
  const f = entry.map;
  const id = f.get('id')?.toString();
  const type = f.get('type')?.toString();
  const key = f.get('key')?.toString();
  const payload = f.get('payload');
  if (!id || !isUuid(id) || !type || key === undefined || payload === undefined) return null;
  return { id, type, key, payload, streamId: entry.streamId };
}
