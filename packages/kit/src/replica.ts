import type { Logger } from 'pino';
import type { Knex, Migration } from './db';
import { GrpcStatus, permissionDenied, validationFailed } from './errors';
import type { CallContext } from './grpc/server';

/**
 * A versioned replica of another service's subjects (docs/architecture.md *Events*, replicas): a table
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
  /**
   * The state columns an event carries whole. Rows reach Postgres as JSON typed by the table's row
   * type, so a json/jsonb field is given as its value (an object), not as JSON text.
   */
  fields: string[];
  /** The version column (bigint). Default `version`. */
  version?: string;
}

export type ReplicaRow = Record<string, unknown>;

export interface Replica {
  readonly spec: Required<ReplicaSpec>;
  /**
   * Applies one subject's state at `version` in `trx` (`applyMany` with one row). Answers `applied`
   * false when the replica already holds this version or a newer one; when applied, `before` is the
   * row it replaced (undefined for a new subject), locked until `trx` ends, so effects can depend on
   * the change.
   */
  apply(trx: Knex, state: ReplicaRow, version: number): Promise<{ applied: boolean; before?: ReplicaRow }>;
  /**
   * Applies many subjects' states (each row with its version column) in `trx` in two statements,
   * by the same rule as `apply`: a row applies only if newer than the one held, and of several rows
   * of one subject only the newest can. Answers the rows applied (as now held) with the rows they
   * replaced, locked until `trx` ends.
   */
  applyMany(trx: Knex, rows: ReplicaRow[]): Promise<Array<{ row: ReplicaRow; before?: ReplicaRow }>>;
  /** Applies snapshot rows (each with its version column) from the owner; answers how many were newer. */
  backfill(trx: Knex, rows: ReplicaRow[]): Promise<number>;
  /**
   * The backfill of this replica from its owner's snapshot (see `createReplicaBackfill`), by
   * default applying each chunk of rows with `applyMany`.
   */
  backfillFrom<Row = ReplicaRow>(
    opts: Omit<BackfillOptions<Row>, 'name' | 'applyMany'> & Partial<Pick<BackfillOptions<Row>, 'name' | 'applyMany'>>,
  ): ReplicaBackfill;
  /** The held row of a subject (or undefined). */
  get(db: Knex, key: ReplicaRow): Promise<ReplicaRow | undefined>;
}

export function defineReplica(spec: ReplicaSpec): Replica {
  const full: Required<ReplicaSpec> = { version: 'version', ...spec };
  const { table, key, fields, version } = full;
  const cols = [...key, ...fields, version];
  const keyOf = (row: ReplicaRow) => Object.fromEntries(key.map((k) => [k, row[k]]));
  const idOf = (row: ReplicaRow) => JSON.stringify(key.map((k) => String(row[k])));
  const ids = (alias?: string) => key.map((k) => (alias ? `${alias}.${quote(k)}` : quote(k))).join(', ');
  const t = quote(table);
  const v = quote(version);
  // The rows travel as one JSON parameter, typed by the table's own row type (no column types to declare).
  const input = `json_populate_recordset(NULL::${t}, ?::json)`;
  // The held rows of the subjects, locked in key order (two batches never wait on each other in a cycle).
  const lockSql = `SELECT r.* FROM ${t} r WHERE (${ids('r')}) IN (SELECT ${ids()} FROM ${input}) ORDER BY ${ids('r')} FOR UPDATE OF r`;
  // One row per subject (its newest: ON CONFLICT may touch a row once a statement), inserted in key
  // order; a held row is replaced only by a newer version, which also settles a concurrent first apply.
  const upsertSql = `INSERT INTO ${t} (${cols.map(quote).join(', ')})
      SELECT DISTINCT ON (${ids()}) ${cols.map(quote).join(', ')} FROM ${input} ORDER BY ${ids()}, ${v} DESC
      ON CONFLICT (${ids()}) DO UPDATE SET ${[...fields, version].map((c) => `${quote(c)} = EXCLUDED.${quote(c)}`).join(', ')}
      WHERE ${t}.${v} < EXCLUDED.${v}
      RETURNING ${t}.*`;

  async function applyMany(trx: Knex, rows: ReplicaRow[]): Promise<Array<{ row: ReplicaRow; before?: ReplicaRow }>> {
    if (rows.length === 0) return [];
    for (const r of rows) {
      for (const k of key) if (r[k] === undefined || r[k] === null) throw new Error(`replica ${table}: key ${k} missing`);
      if (r[version] === undefined || r[version] === null) throw new Error(`replica ${table}: ${version} missing`);
    }
    const json = JSON.stringify(rows.map((r) => Object.fromEntries(cols.map((c) => [c, r[c]]))));
    const held = (await trx.raw(lockSql, [json])).rows as ReplicaRow[];
    const before = new Map(held.map((r) => [idOf(r), r]));
    const applied = (await trx.raw(upsertSql, [json])).rows as ReplicaRow[];
    return applied.map((row) => ({ row, before: before.get(idOf(row)) }));
  }

  return {
    spec: full,
    async apply(trx, state, ver) {
      const [res] = await applyMany(trx, [{ ...state, [version]: ver }]);
      return res ? { applied: true, before: res.before } : { applied: false };
    },
    applyMany,
    async backfill(trx, rows) {
      return (await applyMany(trx, rows)).length;
    },
    async get(db, k) {
      return (await db(table).where(keyOf(k)).first()) as ReplicaRow | undefined;
    },
    backfillFrom(opts) {
      const replicaOnly = async (trx: Knex, rows: ReplicaRow[]) => void (await applyMany(trx, rows));
      return createReplicaBackfill({ name: table, applyMany: replicaOnly, ...opts } as BackfillOptions<never>);
    },
  };
}

/** An SQL identifier, quoted (a `schema.table` name stays qualified). */
function quote(name: string): string {
  return name
    .split('.')
    .map((p) => `"${p.replace(/"/g, '""')}"`)
    .join('.');
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

/** Work an applier leaves for after its transaction's commit (e.g. dropping caches a concurrent read could refill from the old state). */
export type AfterCommit = () => Promise<unknown>;

export interface BackfillOptions<Row = ReplicaRow> {
  db: Knex;
  log: Logger;
  /** The replica's row in replica_state (defineReplica: its table). */
  name: string;
  /** The owner's snapshot, page by page; a new stream per attempt, ended early through `signal`. */
  snapshot: (signal: AbortSignal) => AsyncIterable<Row[]>;
  /**
   * Applies a chunk of snapshot rows in `trx` by the rule events use (newer version wins), effects
   * included, set-wise (a few statements a chunk, not a few a row); may answer what to run once
   * `trx` has committed (a failure fails the attempt, retried). defineReplica's default: its
   * `applyMany` (the replica alone, no effects).
   */
  applyMany: (trx: Knex, rows: Row[]) => Promise<AfterCommit | undefined | void>;
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

/**
 * Rows applied per transaction (one `applyMany`): half an owner's page. Bounds each transaction's
 * locks: appliers take an advisory lock per follower or pair, and advisory locks share one table
 * (max_locks_per_transaction × max_connections, 6 400 by default).
 */
const APPLY_CHUNK = 500;
const MAX_RETRY_MS = 30_000;
/**
 * How long an owner that does not answer yet (UNAVAILABLE: the whole stack starting at once) is
 * waited for quietly: one info line, no stack traces. Past it, each failure is a warning.
 */
const OWNER_START_GRACE_MS = 60_000;

/**
 * Fills a replica from its owner once in its life (docs/architecture.md *Events*: a new or empty replica
 * backfills, then events keep it current). Events are consumed meanwhile (a consumer group reads
 * the retained stream from its start, so every change made after the snapshot began arrives as an
 * event); both apply by one rule (newer version wins; a chunk of snapshot rows through `applyMany`,
 * set-wise), so snapshot rows and events converge in any order and a snapshot row older than an
 * applied event changes nothing. Several processes may start at once: the one holding the
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
          const after = await db.transaction((trx) => opts.applyMany(trx, page.slice(i, i + APPLY_CHUNK)));
          if (after) await after();
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
    const startedAt = Date.now();
    let saidWaiting = false;
    while (!stopped) {
      try {
        if (await attempt(abort.signal)) return finish();
      } catch (err) {
        if (stopped) return;
        const ownerStarting = (err as { code?: unknown }).code === GrpcStatus.UNAVAILABLE && Date.now() - startedAt < OWNER_START_GRACE_MS;
        if (!ownerStarting) log.warn({ err, replica: name, retryInMs: delay }, 'replica backfill failed; retrying');
        else if (!saidWaiting) log.info({ replica: name, reason: (err as Error).message }, 'replica backfill waiting for its owner to answer');
        saidWaiting ||= ownerStarting;
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

/**
 * A row a replica may not hold yet because its event is in flight (a sign-up answered the client
 * milliseconds before its event arrived here): `read` retried with a short backoff (5 ms doubling
 * up to 200 ms) until it answers a row or `waitMs` has passed, then undefined. A subject that
 * never existed costs its caller the whole wait, so keep `waitMs` to the events' usual lag.
 */
export async function awaitReplicated<T>(read: () => Promise<T | undefined>, waitMs: number): Promise<T | undefined> {
  const until = Date.now() + waitMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
    const row = await read();
    if (row !== undefined) return row;
    if (Date.now() + delay > until) return undefined;
    await new Promise((r) => setTimeout(r, delay));
  }
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
export async function* snapshotPages<Row>(
  pageSize: number,
  page: (after: string | undefined, limit: number) => Promise<Row[]>,
  key: (row: Row) => string,
): AsyncGenerator<Row[]> {
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
