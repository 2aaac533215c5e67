import type { Knex } from './db';

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
  };
}
