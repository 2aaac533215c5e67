import * as pg from 'pg';
import { EVENTS_STREAM } from '@shutter/contracts';
import type { Knex } from '../db';
import type { Logger } from '../logger';
import type { Metrics } from '../metrics';
import type { Redis } from '../redis';
import { outboxChannel } from './enqueue';
import { observeOutbox } from './metrics';
import { backoffMs, createSleeper } from './sleeper';

export interface OutboxRelayOptions {
  db: Knex;
  /** The producer's schema: the outbox table, the NOTIFY channel, the lock and the marker key. */
  schema: string;
  redis: Redis;
  /** Default EVENTS_STREAM (`events`). */
  stream?: string;
  log: Logger;
  /** Sent rows are kept this long so a lost stream can be rebuilt. Default 7. */
  retentionDays?: number;
  /** Rows per XADD script call. Default 100. */
  batchSize?: number;
  /** Fallback poll when no NOTIFY arrives; also how often a standby replica asks for the lock. Default 500. */
  pollMs?: number;
  /** How often an idle relay checks that the stream still exists. Default 5000. */
  lossCheckMs?: number;
  /** How often sent rows past retention are deleted. Default 1 hour. */
  cleanupEveryMs?: number;
  /** Ceiling of the retry backoff while Redis or Postgres fail. Default 5000. */
  maxBackoffMs?: number;
  /** Approximate stream length cap (XADD MAXLEN ~). Default 100000. */
  maxLen?: number;
  /** Exports the outbox backlog (outbox/metrics.ts). */
  metrics?: Metrics;
}

export interface OutboxRelay {
  start(): void;
  /** Finishes the batch in progress, releases the lock and closes the listener connection. */
  stop(): Promise<void>;
  /** Publishes everything pending now (or waits for the replica that holds the lock to do it). */
  flush(): Promise<void>;
}

interface OutboxRow {
  id: string;
  seq: string | number;
  type: string;
  key: string;
  payload: Buffer;
  trace_parent: string | null;
  sent_at: Date | null;
}

/*
 * XADD of a whole batch, refused (-1) when the marker key is missing. The check and the XADDs are
 * one atomic script so that no batch can land in a freshly emptied Redis before the replay of the
 * retained rows: consumers then always see the replay first and order is kept.
 * KEYS: stream, marker. ARGV: check (1|0), maxlen, source, then id,type,key,payload,trace per row
 * (trace may be empty: the entry then has no trace field).
 */
const PUBLISH_SCRIPT = `
if ARGV[1] == '1' and redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
for i = 4, #ARGV, 5 do
  local fields = {'id', ARGV[i], 'type', ARGV[i + 1], 'key', ARGV[i + 2], 'payload', ARGV[i + 3], 'source', ARGV[3]}
  if ARGV[i + 4] ~= '' then
    table.insert(fields, 'trace')
    table.insert(fields, ARGV[i + 4])
  end
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(fields))
end
return (#ARGV - 3) / 5`;

/**
 * Publishes a schema's outbox to a Redis Stream in seq order and marks rows sent; keeps sent rows
 * for `retentionDays` and re-publishes them when the stream is lost. One publisher per schema.
 */
export function createOutboxRelay(opts: OutboxRelayOptions): OutboxRelay {
  const { db, schema, redis } = opts;
  const stream = opts.stream ?? EVENTS_STREAM;
  const batchSize = opts.batchSize ?? 100;
  const pollMs = opts.pollMs ?? 500;
  const lossCheckMs = opts.lossCheckMs ?? 5000;
  const cleanupEveryMs = opts.cleanupEveryMs ?? 3_600_000;
  const maxBackoffMs = opts.maxBackoffMs ?? 5000;
  const retentionDays = opts.retentionDays ?? 7;
  const maxLen = String(opts.maxLen ?? 100_000);
  // Present while the stream holds everything this schema sent; Redis losing its data loses it too.
  const marker = `outbox:epoch:${stream}:${schema}`;
  const log = opts.log.child({ component: 'outbox-relay', schema, stream });
  const outbox = () => db.withSchema(schema).table<OutboxRow>('outbox');
  const sleeper = createSleeper();
  observeOutbox(opts.metrics, { db, schema });

  let listener: pg.Client | null = null;
  let leader = false;
  let stopping = false;
  let loop: Promise<void> | null = null;
  let lastLossCheck = 0;
  let lastCleanup = 0;
  // flush() and the loop never publish at the same time, even inside one process.
  let tail: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn);
    tail = run.catch(() => undefined);
    return run;
  };

  /*
   * Leadership is a session-level pg_try_advisory_lock on a dedicated connection (the one that
   * also LISTENs). FOR UPDATE SKIP LOCKED would let two replicas publish different batches at
   * once and interleave them in the stream; a single lock holder keeps the stream in seq order.
   * The lock dies with the session, so a crashed replica's standby takes over at its next poll.
   */
  async function connect(): Promise<pg.Client> {
    if (listener) return listener;
    const client = new pg.Client(connectionConfig(db));
    const forget = () => {
      if (listener === client) {
        listener = null;
        leader = false;
      }
    };
    client.on('error', (err) => {
      log.warn({ err }, 'outbox listener connection failed');
      forget();
      client.end().catch(() => undefined);
    });
    client.on('end', forget);
    client.on('notification', () => sleeper.wake());
    try {
      await client.connect();
      await client.query(`LISTEN ${client.escapeIdentifier(outboxChannel(schema))}`);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    listener = client;
    return client;
  }

  async function tryLead(): Promise<boolean> {
    const client = await connect();
    if (leader) return true;
    const r = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked', [`shutter.outbox.${schema}`]);
    leader = r.rows[0]?.locked === true;
    if (leader) {
      log.info('this replica publishes the outbox');
      lastLossCheck = 0; // the previous publisher may have died in the middle of a replay
    }
    return leader;
  }

  async function xadd(rows: OutboxRow[], checkMarker: boolean): Promise<boolean> {
    const args: Array<string | Buffer> = [checkMarker ? '1' : '0', maxLen, schema];
    for (const r of rows) args.push(r.id, r.type, r.key, r.payload, r.trace_parent ?? '');
    const res = await redis.eval(PUBLISH_SCRIPT, 2, stream, marker, ...args);
    return res !== -1;
  }

  /** Re-publishes every retained sent row in seq order, then sets the marker. */
  async function replay(): Promise<void> {
    let after = -1;
    let count = 0;
    for (;;) {
      const rows = await outbox()
        .select('id', 'seq', 'type', 'key', 'payload', 'trace_parent')
        .whereNotNull('sent_at')
        .where('seq', '>', after)
        .orderBy('seq')
        .limit(batchSize);
      const last = rows[rows.length - 1];
      if (!last) break;
      await xadd(rows, false);
      after = Number(last.seq);
      count += rows.length;
    }
    // Set only when the replay is complete: a crash half-way leaves it unset and the replay restarts.
    await redis.set(marker, new Date().toISOString());
    if (count > 0) log.warn({ count }, 'stream was lost: re-published the retained events');
  }

  /** Publishes one batch of unsent rows; true when there may be more. */
  async function publishBatch(): Promise<boolean> {
    const rows = await outbox().select('id', 'seq', 'type', 'key', 'payload', 'trace_parent').whereNull('sent_at').orderBy('seq').limit(batchSize);
    if (rows.length === 0) return false;
    if (!(await xadd(rows, true))) {
      await replay(); // the marker vanished since the last check: rebuild, then this batch goes next
      return true;
    }
    // A crash between XADD and this update re-publishes the batch: at-least-once, consumers dedupe.
    await outbox()
      .whereIn(
        'id',
        rows.map((r) => r.id),
      )
      .update({ sent_at: db.fn.now() });
    return rows.length === batchSize;
  }

  async function cleanup(): Promise<void> {
    let deleted = 0;
    for (;;) {
      // Small batches: a long-idle cleanup never holds locks on a big slice of the table.
      const old = outbox()
        .select('id')
        .whereNotNull('sent_at')
        .where('sent_at', '<', db.raw(`now() - ? * interval '1 day'`, [retentionDays]))
        .limit(1000);
      const n = await outbox().whereIn('id', old).del();
      deleted += n;
      if (n < 1000) break;
    }
    if (deleted > 0) log.debug({ deleted }, 'deleted sent outbox rows past retention');
  }

  async function cycle(): Promise<void> {
    if (!(await tryLead())) return;
    sleeper.clear(); // a NOTIFY from now on means rows this cycle may not see: cycle again
    const now = Date.now();
    if (now - lastLossCheck >= lossCheckMs) {
      if ((await redis.exists(marker)) === 0) await replay();
      lastLossCheck = now;
    }
    while (await publishBatch());
    if (now - lastCleanup >= cleanupEveryMs) {
      await cleanup();
      lastCleanup = now;
    }
  }

  async function run(): Promise<void> {
    let failures = 0;
    while (!stopping) {
      try {
        await exclusive(cycle);
        failures = 0;
      } catch (err) {
        failures++;
        log.error({ err, failures }, 'outbox relay failed; retrying');
      }
      if (stopping) break;
      // While failing, NOTIFYs must not shorten the backoff (every commit would retry at once).
      await sleeper.sleep(failures > 0 ? backoffMs(failures, pollMs, maxBackoffMs) : pollMs, failures === 0);
    }
  }

  async function hasUnsent(upToSeq: number): Promise<boolean> {
    return (await outbox().first('id').whereNull('sent_at').where('seq', '<=', upToSeq)) !== undefined;
  }

  return {
    start() {
      if (loop || stopping) return;
      loop = run();
    },
    async flush() {
      const top = await outbox().max('seq as top').whereNull('sent_at').first();
      const upToSeq = top?.top == null ? null : Number(top.top);
      if (upToSeq === null) return;
      for (;;) {
        await exclusive(cycle);
        if (!(await hasUnsent(upToSeq))) return;
        await new Promise((r) => setTimeout(r, pollMs)); // another replica holds the lock
      }
    },
    async stop() {
      stopping = true;
      sleeper.cancel();
      await loop;
      await tail;
      const client = listener;
      listener = null;
      leader = false;
      await client?.end().catch(() => undefined); // ending the session releases the advisory lock
    },
  };
}

/** A pg connection config equal to the knex pool's, for the dedicated LISTEN/lock session. */
function connectionConfig(db: Knex): pg.ClientConfig {
  const conn: unknown = db.client.config.connection;
  if (typeof conn === 'string') return { connectionString: conn };
  if (conn && typeof conn === 'object') return conn as pg.ClientConfig;
  throw new Error('outbox relay: the knex connection must be a URL or a config object');
}
