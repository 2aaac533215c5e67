import pino from 'pino';
import { startRedisServer, testBackends, testDb, testRedis, unique, waitFor as waitForCondition } from '@shutter/testing';
import { createRedis, type Logger, type Redis } from '../src';
import {
  createEventConsumer,
  createOutboxRelay,
  enqueueEvent,
  migrate,
  outboxMigration,
  outboxTraceMigration,
  type Knex,
  type Migration,
} from '../src/index-db';
import type { EventConsumer, EventConsumerOptions } from '../src/outbox/consumer';
import type { OutboxRelay, OutboxRelayOptions } from '../src/outbox/relay';
import { streamGroups } from '../src/outbox/stream-entries';

/** @shutter/testing's waitFor, naming what it waited for when it times out. */
export async function waitFor(what: string, fn: () => Promise<boolean> | boolean, timeoutMs?: number): Promise<void> {
  await waitForCondition(fn, timeoutMs, 20).catch((err: unknown) => {
    throw new Error(`timed out waiting for: ${what} (${String(err)})`);
  });
}

/** A pino logger that keeps its lines, so tests can wait for "it tried and failed". */
export function memoryLog(): { log: Logger; lines: Array<{ msg?: string; level: number; err?: { message?: string } }> } {
  const lines: Array<{ msg?: string; level: number }> = [];
  const log = pino(
    { level: 'debug' },
    {
      write: (s: string) => {
        lines.push(JSON.parse(s));
        if (process.env.OUTBOX_TEST_LOG) process.stderr.write(s);
      },
    },
  );
  return { log, lines };
}

const effectsMigration: Migration = {
  name: 'effects_v1',
  async up(db) {
    // No unique constraint on purpose: applying an event twice must show up as two rows.
    await db.raw('CREATE TABLE effects (n serial PRIMARY KEY, consumer text NOT NULL, event_id uuid NOT NULL, key text NOT NULL)');
  },
};

/** A fresh schema with the outbox tables and an `effects` table the test handlers write to. */
export async function freshSchema(): Promise<{ db: Knex; schema: string }> {
  const schema = unique('outbox_test_');
  const db = testDb(schema);
  await migrate(db, schema, [outboxMigration, outboxTraceMigration, effectsMigration]);
  return { db, schema };
}

export const redisPrefix = (): string => testBackends().redisPrefix;

/** Commits one event in its own transaction (like a service call would). */
export function commitEvent(db: Knex, key: string, type = 'test.happened', payload = Buffer.from([0, 1, 254, 255])): Promise<string> {
  return db.transaction((trx) => enqueueEvent(trx, { type, key, payload }));
}

/** A handler that records the effect in the consumer's transaction. */
export const recordEffect = (group: string) => async (e: { id: string; key: string }, trx: Knex.Transaction) => {
  await trx('effects').insert({ consumer: group, event_id: e.id, key: e.key });
};

export async function effects(db: Knex, group: string): Promise<Array<{ event_id: string; key: string }>> {
  return db('effects').select('event_id', 'key').where({ consumer: group }).orderBy('n');
}

/** Stream entries as `{streamId, fields}` (XRANGE; the key is prefixed by ioredis). */
export async function streamEntries(redis: Redis, stream: string): Promise<Array<{ streamId: string; fields: Record<string, string> }>> {
  const raw = await redis.xrange(stream, '-', '+');
  return raw.map(([streamId, flat]) => {
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
    return { streamId, fields };
  });
}

/** XINFO GROUPS of one group (undefined before the group exists). */
export async function groupInfo(redis: Redis, stream: string, group: string): Promise<Record<string, unknown> | undefined> {
  const groups = await streamGroups(redis, stream).catch(() => []);
  return groups.find((g) => g.name === group);
}

/** Number of entries delivered to the group and not yet acknowledged. */
export async function pendingCount(redis: Redis, stream: string, group: string): Promise<number> {
  const summary = (await redis.xpending(stream, group)) as [number, ...unknown[]];
  return Number(summary[0]);
}

/** Closers run in reverse order after each test, so a failing test leaves nothing open. */
export function closers() {
  const list: Array<() => Promise<unknown>> = [];
  return {
    add(fn: () => Promise<unknown>): void {
      list.push(fn);
    },
    /** Registers a relay or consumer for stop() and returns it. */
    stopLater<T extends { stop(): Promise<void> }>(x: T): T {
      list.push(() => x.stop());
      return x;
    },
    async closeAll() {
      for (const fn of list.splice(0).reverse()) await fn().catch(() => undefined);
    },
  };
}

/** Short intervals so every path (poll, claim, retry) runs within a test's few seconds. */
export const FAST_RELAY = { pollMs: 50, lossCheckMs: 100, maxBackoffMs: 200 };
export const FAST_CONSUMER = { blockMs: 100, claimIdleMs: 100, claimEveryMs: 50, maxBackoffMs: 200 };

export interface OutboxFixture {
  /** Closed after each test, in reverse order (relays, consumers, connections). */
  open: ReturnType<typeof closers>;
  /** A fresh schema with the outbox tables and `effects`, made before each test. */
  db: Knex;
  schema: string;
  /** This file's Redis, or the test's private redis-server (`privateRedis`). */
  redis: Redis;
  /** A stream of this test's own. */
  stream: string;
  /** A relay of this test's schema onto its stream (FAST_RELAY unless `opts` say otherwise), stopped after the test. */
  relay(log: Logger, opts?: Partial<OutboxRelayOptions>): OutboxRelay;
  /** A consumer of this test's stream (FAST_CONSUMER unless `opts` say otherwise), stopped after the test. */
  consumer(opts: Pick<EventConsumerOptions, 'log' | 'group' | 'handle'> & Partial<EventConsumerOptions>): EventConsumer;
  /** With `privateRedis`: the test's redis-server (no persistence), replaced by `restartEmpty`. */
  server: Awaited<ReturnType<typeof startRedisServer>>;
  /** With `privateRedis`: stops the server and starts an empty one on the same port (`between` runs while it is down). */
  restartEmpty(between?: () => Promise<void>): Promise<void>;
}

/**
 * The per-test setup of the outbox tests, registered as beforeEach/afterEach of the calling
 * describe. Read the fields inside a test (they are replaced before each one). `privateRedis`
 * gives each test a redis-server of its own to stop and restart; the run's shared Redis is then
 * never touched.
 */
export function outboxFixture(opts: { privateRedis?: boolean } = {}): OutboxFixture {
  const fx = {
    open: closers(),
    relay: (log, o) => fx.open.stopLater(createOutboxRelay({ db: fx.db, schema: fx.schema, redis: fx.redis, stream: fx.stream, log, ...FAST_RELAY, ...o })),
    consumer: (o) => fx.open.stopLater(createEventConsumer({ db: fx.db, redis: fx.redis, stream: fx.stream, ...FAST_CONSUMER, ...o })),
    async restartEmpty(between) {
      await fx.server.stop();
      await between?.();
      fx.server = await startRedisServer(fx.server.port);
    },
  } as OutboxFixture;
  beforeEach(async () => {
    ({ db: fx.db, schema: fx.schema } = await freshSchema());
    fx.open.add(() => fx.db.destroy());
    if (opts.privateRedis) {
      fx.server = await startRedisServer();
      fx.open.add(() => fx.server.stop()); // the latest server: restartEmpty() replaces it
      fx.redis = createRedis(fx.server.url, redisPrefix());
    } else {
      fx.redis = testRedis();
    }
    fx.open.add(() => fx.redis.quit());
    fx.stream = unique('events_');
  });
  afterEach(() => fx.open.closeAll());
  return fx;
}
