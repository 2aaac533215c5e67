import { applyInRacingRounds, faultyDeliveries, prng, testDb, unique } from '@shutter/testing';
import { createLogger, GrpcStatus } from '../src';
import { memoryLog } from './outbox-helpers';
import { awaitReplicated, defineReplica, replicaStateMigration, type Knex, type ReplicaRow } from '../src/index-db';

/**
 * Property test of the kit's replica helper (docs/architecture.md *Events*, replicas): random change
 * sequences on an owner table, their events delivered to the replica duplicated, reordered,
 * delayed, concurrently, one by one (`apply`) and in chunks (`applyMany`, as a backfill applies a
 * snapshot page), and partly dead-lettered then replayed at the end, always converge to
 * the owner's state; and no read of the replica ever sees an older state of a subject than one
 * already applied.
 */

interface Event {
  id: number;
  value: string;
  deleted: boolean;
  version: number;
}

let db: Knex;
const schema = unique('replica_test_');
const replica = defineReplica({ table: 'items', key: ['id'], fields: ['value', 'deleted'] });

beforeAll(async () => {
  db = testDb(schema);
  await db.raw('CREATE SCHEMA IF NOT EXISTS ??', [schema]);
  await db.raw('CREATE TABLE owner_items (id int PRIMARY KEY, value text NOT NULL, deleted boolean NOT NULL, version bigint NOT NULL)');
  await db.raw('CREATE TABLE items (id int PRIMARY KEY, value text NOT NULL, deleted boolean NOT NULL, version bigint NOT NULL)');
  await replicaStateMigration.up(db);
});
afterAll(async () => {
  await db?.raw('DROP SCHEMA IF EXISTS ?? CASCADE', [schema]);
  await db?.destroy();
});

/** One change on the owner: the version moves in the same transaction; the event carries the whole state. */
async function ownerChange(id: number, value: string, deleted: boolean): Promise<Event> {
  return db.transaction(async (trx) => {
    const res = await trx.raw(
      `INSERT INTO owner_items (id, value, deleted, version) VALUES (?, ?, ?, 1)
         ON CONFLICT (id) DO UPDATE SET value = EXCLUDED.value, deleted = EXCLUDED.deleted, version = owner_items.version + 1
         RETURNING version`,
      [id, value, deleted],
    );
    return { id, value, deleted, version: Number(res.rows[0].version) };
  });
}

const SEEDS = 15;
const CHANGES = 60;
const SUBJECTS = 5;

it.each(Array.from({ length: SEEDS }, (_, i) => i + 1))('seed %i converges and never goes back', async (seed) => {
  const rand = prng(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]!;
  await db('owner_items').delete();
  await db('items').delete();

  const history = new Map<string, Event>(); // `${id}@${version}` → the owner's state then
  const events: Event[] = [];
  for (let i = 0; i < CHANGES; i++) {
    const id = Math.floor(rand() * SUBJECTS);
    const e = await ownerChange(id, `v${seed}-${i}`, rand() < 0.25);
    history.set(`${id}@${e.version}`, e);
    events.push(e);
  }

  // Delivery: duplicates, local delays (reordering), dead letters replayed after everything else.
  const deliveries = [...faultyDeliveries(rand, events), ...(rand() < 0.5 ? [pick(events)] : [])];

  const applied = new Map<number, number>(); // the newest version applied per subject
  const record = (id: number, version: number, before?: ReplicaRow) => {
    if (before) expect(Number(before.version)).toBeLessThan(version);
    applied.set(id, Math.max(applied.get(id) ?? 0, version));
  };
  /** One event (`apply`), or a chunk of the next few deliveries as a snapshot page would bring them (`applyMany`: duplicates and reordering inside). */
  const unit = (events: Event[]) =>
    db.transaction(async (trx) => {
      if (events.length === 1) {
        const e = events[0]!;
        const r = await replica.apply(trx, { id: e.id, value: e.value, deleted: e.deleted }, e.version);
        if (r.applied) record(e.id, e.version, r.before);
        return;
      }
      for (const { row, before } of await replica.applyMany(
        trx,
        events.map((e) => ({ ...e })),
      ))
        record(Number(row.id), Number(row.version), before);
    });
  // Up to 3 units at once: two consumers (or a retry and a new delivery, or a backfill) racing.
  await applyInRacingRounds(rand, deliveries, unit, {
    maxChunk: 6,
    afterRound: async () => {
      // A reader never sees a subject older than what was applied, and always a state the owner had.
      for (const [id, v] of applied) {
        const row = await replica.get(db, { id });
        expect(Number(row?.version)).toBeGreaterThanOrEqual(v);
        const then = history.get(`${id}@${row?.version}`);
        expect({ value: row?.value, deleted: row?.deleted }).toEqual({ value: then?.value, deleted: then?.deleted });
      }
    },
  });

  const owner = await db('owner_items').orderBy('id').select('id', 'value', 'deleted', 'version');
  const copy = await db('items').orderBy('id').select('id', 'value', 'deleted', 'version');
  expect(copy).toEqual(owner);
});

it('a backfill from the owner fills an empty replica and never overwrites a newer event', async () => {
  await db('owner_items').delete();
  await db('items').delete();
  const a = await ownerChange(1, 'a1', false);
  await ownerChange(2, 'b1', false);
  // The replica already applied a newer event for subject 1 than the snapshot will carry.
  const newer = { ...a, value: 'a-newer', version: a.version + 1 };
  await db.transaction((trx) => replica.apply(trx, newer, newer.version));
  const snapshot = await db('owner_items').select('id', 'value', 'deleted', 'version');
  expect(await db.transaction((trx) => replica.backfill(trx, snapshot))).toBe(1);
  expect(await db('items').orderBy('id').select('id', 'value', 'version')).toEqual([
    { id: 1, value: 'a-newer', version: newer.version },
    { id: 2, value: 'b1', version: 1 },
  ]);
});

describe('awaitReplicated', () => {
  const read = (id: number) => () => db('items').where({ id }).first<{ id: number; value: string } | undefined>('id', 'value');

  it('answers a row whose event lands while it waits', async () => {
    let reads = 0;
    const waited = awaitReplicated(async () => {
      reads++;
      return read(41)();
    }, 60_000);
    // The event lands only after the first look-up missed.
    while (reads === 0) await new Promise((r) => setImmediate(r));
    await db('items').insert({ id: 41, value: 'arrived', deleted: false, version: 1 });
    expect(await waited).toEqual({ id: 41, value: 'arrived' });
    expect(reads).toBeGreaterThan(1);
  });

  it('answers undefined once the wait is over for a subject never told of', async () => {
    expect(await awaitReplicated(read(42), 30)).toBeUndefined();
  });
});

describe('backfill from the owner', () => {
  const log = createLogger('test', 'silent');
  const PAGE = 4;

  /** The owner's snapshot: pages by id, read one by one (not one snapshot), calling `between` after each page. */
  function ownerSnapshot(between: () => Promise<void> = async () => undefined, counter = { streams: 0 }) {
    return async function* (_signal?: AbortSignal): AsyncIterable<ReplicaRow[]> {
      counter.streams++;
      let after = -1;
      for (;;) {
        const rows = (await db('owner_items').where('id', '>', after).orderBy('id').limit(PAGE).select('id', 'value', 'deleted', 'version')) as Array<
          ReplicaRow & { id: number }
        >;
        if (rows.length === 0) return;
        yield rows;
        await between();
        after = rows[rows.length - 1]!.id;
      }
    };
  }
  const applyMany = async (trx: Knex, rows: ReplicaRow[]) => void (await replica.applyMany(trx, rows));

  it.each(Array.from({ length: 8 }, (_, i) => i + 1))(
    'seed %i: an empty replica started against an owner with data converges, with events arriving during the backfill reordered and duplicated',
    async (seed) => {
      const rand = prng(1000 + seed);
      await db('owner_items').delete();
      await db('items').delete();
      await db('replica_state').delete();
      // The owner's existing data, changed before the replica existed: its events are gone (only the snapshot has them).
      for (let i = 0; i < 40; i++) await ownerChange(Math.floor(rand() * 20), `old${seed}-${i}`, rand() < 0.2);

      // Changes while the snapshot streams: each page is followed by a few owner changes whose events
      // are delivered now (some), later (some) and twice (some), racing the next pages.
      const later: Event[] = [];
      const inFlight: Array<Promise<unknown>> = [];
      const deliver = (e: Event) => db.transaction((trx) => replica.apply(trx, { id: e.id, value: e.value, deleted: e.deleted }, e.version));
      let n = 0;
      const between = async () => {
        for (let k = 0; k < 3; k++) {
          const e = await ownerChange(Math.floor(rand() * 24), `new${seed}-${n++}`, rand() < 0.2);
          if (rand() < 0.5) inFlight.push(deliver(e));
          else later.push(e);
          if (rand() < 0.3) later.push(e);
        }
      };
      const backfill = replica.backfillFrom({ db, log, retryMs: 10, snapshot: ownerSnapshot(between), applyMany });
      backfill.start();
      await backfill.completed;
      expect(backfill.complete()).toBe(true);
      await Promise.all(inFlight);
      for (let i = later.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [later[i], later[j]] = [later[j]!, later[i]!];
      }
      for (const e of later) await deliver(e);

      const owner = await db('owner_items').orderBy('id').select('id', 'value', 'deleted', 'version');
      expect(await db('items').orderBy('id').select('id', 'value', 'deleted', 'version')).toEqual(owner);
      expect((await db('replica_state').where({ name: 'items' }).first())?.rows).toBeDefined();
      await backfill.stop();
    },
  );

  it('a restart after a completed backfill does not backfill again', async () => {
    await db('replica_state').delete();
    const counter = { streams: 0 };
    const first = replica.backfillFrom({ db, log, snapshot: ownerSnapshot(undefined, counter), applyMany });
    first.start();
    await first.completed;
    await first.stop();
    expect(counter.streams).toBe(1);

    const again = replica.backfillFrom({ db, log, snapshot: ownerSnapshot(undefined, counter), applyMany });
    again.start();
    await again.completed;
    await again.stop();
    expect(counter.streams).toBe(1);
  });

  it('several processes starting at once backfill once, and all report complete', async () => {
    await db('replica_state').delete();
    const counter = { streams: 0 };
    // A slow snapshot, so the others find the lock taken.
    const slow = ownerSnapshot(() => new Promise((r) => setTimeout(r, 20)), counter);
    const starts = Array.from({ length: 3 }, () => replica.backfillFrom({ db, log, retryMs: 10, snapshot: slow, applyMany }));
    for (const b of starts) b.start();
    await Promise.all(starts.map((b) => b.completed));
    await Promise.all(starts.map((b) => b.stop()));
    expect(counter.streams).toBe(1);
  });

  it('an owner failing mid-stream is retried until the backfill completes', async () => {
    await db('replica_state').delete();
    await db('items').delete();
    let calls = 0;
    const inner = ownerSnapshot();
    const flaky = async function* (signal: AbortSignal): AsyncIterable<ReplicaRow[]> {
      calls++;
      let pages = 0;
      for await (const page of inner(signal)) {
        if (calls === 1 && ++pages === 2) throw new Error('owner unavailable');
        yield page;
      }
    };
    const b = replica.backfillFrom({ db, log, retryMs: 10, snapshot: flaky, applyMany });
    b.start();
    expect(b.complete()).toBe(false);
    await b.completed;
    await b.stop();
    expect(calls).toBe(2);
    expect(await db('items').orderBy('id').select('id', 'value', 'deleted', 'version')).toEqual(
      await db('owner_items').orderBy('id').select('id', 'value', 'deleted', 'version'),
    );
  });

  it('an owner not answering yet (UNAVAILABLE, still starting) is waited for with one info line, not a warning per retry', async () => {
    await db('owner_items').delete();
    await db('items').delete();
    await db('replica_state').delete();
    await ownerChange(1, 'a', false);
    const { log, lines } = memoryLog();
    let calls = 0;
    const inner = ownerSnapshot();
    const starting = async function* (signal: AbortSignal) {
      if (++calls <= 3) throw Object.assign(new Error('14 UNAVAILABLE: No connection established'), { code: GrpcStatus.UNAVAILABLE });
      yield* inner(signal);
    };
    const b = replica.backfillFrom({ db, log, retryMs: 10, snapshot: starting, applyMany });
    b.start();
    await b.completed;
    await b.stop();
    expect(calls).toBe(4);
    expect(lines.filter((l) => l.msg === 'replica backfill waiting for its owner to answer')).toHaveLength(1);
    expect(lines.filter((l) => l.level >= 40)).toEqual([]);
    expect(await db('items').select('id', 'value')).toEqual([{ id: 1, value: 'a' }]);
  });
});
