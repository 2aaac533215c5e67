import type { Logger } from 'pino';
import type { Knex, Migration } from './db';
import { permissionDenied, validationFailed } from './errors';
import type { CallContext } from './grpc/server';

/**
 * A versioned replica of another service's subjects (ARCHITECTURE *Events*, replicas): a table
 * holding each subject's whole state and the version its owner gave it. The owner increments the
 * version in the transaction that changes the subject and puts the whole new state in the event;
 * the replica applies an event (or a backfilled snapshot row) only when its version is newer than
 * the one held, so redelivery, reordering, retries and replays of old or dead-lettered events can
 * never move it backwards. A removed subject is a tombstone (a `deleted` field in the state), so
 * an older "exists" arriving late cannot bring it back.
 */
export interface ReplicaSpec {
  /** The replica table (in the consumer's schema). */
  table: string;
  /** The subject's key columns (the table's primary key or a unique constraint). */
  key: string[];
  /** The state columns an event carries whole. */
  fields: string[];
  /** The version column (bigint). Default `version`. */
  version?: string;
}

export type ReplicaRow = Record<string, unknown>;

export interface Replica {
  readonly spec: Required<ReplicaSpec>;
  /**
   * Applies one subject's state at `version` in `trx`. Answers `applied` false when the replica
   * already holds this version or a newer one; when applied, `before` is the row it replaced
   * (undefined for a new subject), locked until `trx` ends, so effects can depend on the change.
   */
  apply(trx: Knex, state: ReplicaRow, version: number): Promise<{ applied: boolean; before?: ReplicaRow }>;
  /** Applies snapshot rows (each with its version column) from the owner; answers how many were newer. */
  backfill(trx: Knex, rows: ReplicaRow[]): Promise<number>;
  /**
   * The backfill of this replica from its owner's snapshot (see `createReplicaBackfill`), by
   * default applying each row with `apply` at its version column.
   */
  backfillFrom<Row = ReplicaRow>(opts: Omit<BackfillOptions<Row>, 'name'> & Partial<Pick<BackfillOptions<Row>, 'name'>>): ReplicaBackfill;
  /** The held row of a subject (or undefined). */
  get(db: Knex, key: ReplicaRow): Promise<ReplicaRow | undefined>;
}

export function defineReplica(spec: ReplicaSpec): Replica {
  const full: Required<ReplicaSpec> = { version: 'version', ...spec };
  const { table, key, fields, version } = full;
  const cols = [...key, ...fields, version];
  const keyOf = (row: ReplicaRow) => Object.fromEntries(key.map((k) => [k, row[k]]));

  async function apply(trx: Knex, state: ReplicaRow, v: number): Promise<{ applied: boolean; before?: ReplicaRow }> {
    for (const k of key) if (state[k] === undefined) throw new Error(`replica ${table}: key ${k} missing`);
    const before = (await trx(table).where(keyOf(state)).forUpdate().first()) as ReplicaRow | undefined;
    if (before && Number(before[version]) >= v) return { applied: false };
    const row = Object.fromEntries(cols.map((c) => [c, c === version ? v : state[c]]));
    // A concurrent first apply of the same subject is settled by the same rule (ON CONFLICT … WHERE).
    const res = await trx.raw(
      `INSERT INTO ?? (${cols.map(() => '??').join(', ')}) VALUES (${cols.map(() => '?').join(', ')})
         ON CONFLICT (${key.map(() => '??').join(', ')}) DO UPDATE SET ${[...fields, version].map(() => '?? = EXCLUDED.??').join(', ')}
         WHERE ??.?? < EXCLUDED.??
         RETURNING 1`,
      [table, ...cols, ...cols.map((c) => row[c]), ...key, ...[...fields, version].flatMap((c) => [c, c]), table, version, version] as Knex.RawBinding[],
    );
    const applied = res.rows.length > 0;
    return applied ? { applied, before } : { applied };
  }

  return {
    spec: full,
    apply,
    async backfill(trx, rows) {
      let n = 0;
      for (const r of rows) if ((await apply(trx, r, Number(r[version]))).applied) n++;
      return n;
    },
    async get(db, k) {
      return (await db(table).where(keyOf(k)).first()) as ReplicaRow | undefined;
    },
    backfillFrom(opts) {
      return createReplicaBackfill({ name: table, ...opts });
    },
  };
}


/**
 * `replica_state`: one row per replica of this schema, stamped when its backfill completed. Every
 * service that keeps a replica lists this migration. Re-running a backfill (docs/operations.md) is
 * deleting the replica's row and restarting the service.
 */
export const replicaStateMigration: Migration = {
  name: 'kit_replica_state',
  async up(db) {
    await db.raw(`
      CREATE TABLE replica_state (
        name text PRIMARY KEY,
        backfilled_at timestamptz NOT NULL,
        rows bigint NOT NULL
      )`);
  },
};

export interface BackfillOptions<Row = ReplicaRow> {
  db: Knex;
  log: Logger;
  /** The replica's row in replica_state (defineReplica: its table). */
  name: string;
  /** The owner's snapshot, page by page; a new stream per attempt, ended early through `signal`. */
  snapshot: (signal: AbortSignal) => AsyncIterable<Row[]>;
  /** Applies one snapshot row in `trx` by the rule events use (newer version wins), effects included. */
  apply: (trx: Knex, row: Row) => Promise<unknown>;
  /** First retry delay after a failed attempt (doubles up to 30 s). Default 1 s. */
  retryMs?: number;
}

export interface ReplicaBackfill {
  /** Checks replica_state and, unless a backfill completed before, runs one in the background (retried until it completes). */
  start(): void;
  /** True once this replica holds everything its owner held when a backfill ran (readiness). */
  complete(): boolean;
  /** Resolves when complete (tests, and whoever must wait). */
  readonly completed: Promise<void>;
  /** Ends an attempt in progress and the retries. */
  stop(): Promise<void>;
}

/** Rows applied per transaction: bounds each transaction's locks (advisory locks share one table). */
const APPLY_CHUNK = 100;
const MAX_RETRY_MS = 30_000;

/**
 * Fills a replica from its owner once in its life (ARCHITECTURE *Events*: a new or empty replica
 * backfills, then events keep it current). Events are consumed meanwhile (a consumer group reads
 * the retained stream from its start, so every change made after the snapshot began arrives as an
 * event); both go through `apply` (newer version wins), so snapshot rows and events converge in any
 * order and a snapshot row older than an applied event changes nothing. Several processes may start at once: the one holding the
 * advisory lock backfills, the others wait for replica_state to say complete. Cost: one statement
 * per start once complete; a backfill reads the owner's whole set once, in pages.
 */
export function createReplicaBackfill<Row = ReplicaRow>(opts: BackfillOptions<Row>): ReplicaBackfill {
  const { db, log, name } = opts;
  let done = false;
  let stopped = false;
  let running: Promise<void> | undefined;
  let abort = new AbortController();
  let wake: (() => void) | undefined;
  let resolveCompleted!: () => void;
  const completed = new Promise<void>((r) => (resolveCompleted = r));
  const finish = () => {
    done = true;
    resolveCompleted();
  };

  const isComplete = async (trx: Knex) => Boolean(await trx('replica_state').where({ name }).first('name'));

  /** One attempt: answers false when another process holds the lock (it is backfilling). */
  async function attempt(signal: AbortSignal): Promise<boolean> {
    if (await isComplete(db)) return true;
    // The lock lives in a transaction of its own that stays open while pages commit in others.
    return db.transaction(async (lock) => {
      const got = await lock.raw("SELECT pg_try_advisory_xact_lock(hashtextextended('shutter.replica.' || current_schema() || '.' || ?, 0)) AS ok", [name]);
      if (!(got.rows[0] as { ok: boolean }).ok) return false;
      if (await isComplete(lock)) return true;
      const started = Date.now();
      log.info({ replica: name }, 'replica backfill started');
      let rows = 0;
      for await (const page of opts.snapshot(signal)) {
        for (let i = 0; i < page.length; i += APPLY_CHUNK) {
          if (signal.aborted) throw new Error('replica backfill stopped');
          await db.transaction(async (trx) => {
            for (const row of page.slice(i, i + APPLY_CHUNK)) await opts.apply(trx, row);
          });
        }
        rows += page.length;
      }
      await lock('replica_state').insert({ name, backfilled_at: lock.fn.now(), rows });
      log.info({ replica: name, rows, ms: Date.now() - started }, 'replica backfill complete');
      return true;
    });
  }

  async function loop(): Promise<void> {
    let delay = opts.retryMs ?? 1000;
    while (!stopped) {
      try {
        if (await attempt(abort.signal)) return finish();
      } catch (err) {
        if (stopped) return;
        log.warn({ err, replica: name, retryInMs: delay }, 'replica backfill failed; retrying');
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, delay);
        wake = () => {
          clearTimeout(t);
          r();
        };
      });
      delay = Math.min(delay * 2, MAX_RETRY_MS);
    }
  }

  return {
    completed,
    complete: () => done,
    start() {
      if (running || done) return;
      stopped = false;
      abort = new AbortController();
      running = loop().finally(() => (running = undefined));
    },
    async stop() {
      stopped = true;
      abort.abort();
      wake?.();
      await running;
    },
  };
}

/**
 * Starts a service's backfills and holds its gRPC health NOT_SERVING (Kubernetes readiness) until
 * every one is complete, so no request reads a replica still being filled. Answers the readiness
 * part for the side port's /readyz.
 */
export function startBackfills(backfills: ReplicaBackfill[], health: { setStatus(service: string, status: 'SERVING' | 'NOT_SERVING'): void }): () => boolean {
  const complete = () => backfills.every((b) => b.complete());
  for (const b of backfills) b.start();
  if (!complete()) {
    health.setStatus('', 'NOT_SERVING');
    void Promise.all(backfills.map((b) => b.completed)).then(() => health.setStatus('', 'SERVING'));
  }
  return complete;
}

/** Refuses a snapshot stream to the gateway: snapshots serve peers' replicas only. */
export function requirePeerCaller(ctx: Pick<CallContext, 'callerService'>): void {
  if (ctx.callerService === 'gateway') throw permissionDenied('Only peer services read snapshots.', 'internal_only');
}

const DEFAULT_SNAPSHOT_PAGE = 1000;
const MAX_SNAPSHOT_PAGE = 10_000;

/**
 * The owner's side of a backfill: every subject as pages keyset-paged by `key` (ascending), so
 * memory and each query stay O(page); a server-stream handler yields them (the kit pulls a page
 * only when the peer has read the last one). Pages are read one by one, not from one snapshot:
 * a subject changed meanwhile is seen at one version or another, and its event (newer) settles it
 * on the replica.
 */
export async function* snapshotPages<Row>(pageSize: number, page: (after: string | undefined, limit: number) => Promise<Row[]>, key: (row: Row) => string): AsyncGenerator<Row[]> {
  if (pageSize < 0) throw validationFailed('page_size', 'page_size must be positive');
  const size = Math.min(pageSize || DEFAULT_SNAPSHOT_PAGE, MAX_SNAPSHOT_PAGE);
  let after: string | undefined;
  for (;;) {
    const rows = await page(after, size);
    if (rows.length === 0) return;
    yield rows;
    if (rows.length < size) return;
    after = key(rows[rows.length - 1]!);
  }
}
