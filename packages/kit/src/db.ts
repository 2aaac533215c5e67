import knex, { type Knex } from 'knex';
import * as pg from 'pg';
import type { Span } from '@opentelemetry/api';
import { childSpan, failed } from './tracing';

export type { Knex };

// bigint counts (COUNT(*)) as numbers: our counts fit in 2^53.
pg.types.setTypeParser(20, (v) => Number.parseInt(v, 10));

/** A knex pool bound to one service's schema (search_path), sized by config. */
export function createDb(opts: { url: string; schema: string; poolMax: number }): Knex {
  const db = knex({
    client: 'pg',
    connection: opts.url,
    searchPath: [opts.schema, 'public'],
    pool: { min: 0, max: opts.poolMax },
  });
  traceQueries(db, opts.schema);
  return db;
}

type QueryEvent = { __knexQueryUid?: string; sql?: string; method?: string };

/** A span per statement under the active request or event (tracing.ts); nothing when tracing is off. */
function traceQueries(db: Knex, schema: string): void {
  const open = new Map<string, Span>();
  db.on('query', (q: QueryEvent) => {
    const span = q.__knexQueryUid
      ? childSpan(`pg ${q.method ?? 'query'}`, { 'db.system.name': 'postgresql', 'db.namespace': schema, 'db.query.text': q.sql ?? '' })
      : null;
    if (span && q.__knexQueryUid) open.set(q.__knexQueryUid, span);
  });
  const end = (q: QueryEvent, err?: unknown) => {
    const span = q.__knexQueryUid ? open.get(q.__knexQueryUid) : undefined;
    if (!span || !q.__knexQueryUid) return;
    open.delete(q.__knexQueryUid);
    if (err) failed(span, err);
    span.end();
  };
  db.on('query-response', (_res: unknown, q: QueryEvent) => end(q));
  db.on('query-error', (err: unknown, q: QueryEvent) => end(q, err));
}

export interface Migration {
  name: string;
  up(db: Knex): Promise<void>;
  down?(db: Knex): Promise<void>;
}

/**
 * Runs a service's migrations (a static list, so bundles need no migration folder). The schema is
 * created first, and knex's migration tables live in it.
 */
export async function migrate(db: Knex, schema: string, migrations: Migration[]): Promise<void> {
  await db.raw('CREATE SCHEMA IF NOT EXISTS ??', [schema]).catch((err: { code?: string }) => {
    if (err.code !== '23505' && err.code !== '42P06') throw err; // created concurrently
  });
  const latest = () =>
    db.migrate.latest({
      schemaName: schema,
      tableName: 'knex_migrations',
      migrationSource: {
        getMigrations: async () => migrations,
        getMigrationName: (m: Migration) => m.name,
        getMigration: async (m: Migration) => ({ up: m.up, down: m.down ?? (async () => undefined) }),
      },
    });
  try {
    await latest();
  } catch (err) {
    // Two services creating the same extension (pg_trgm) in a fresh database at once: one loses
    // with a unique violation and its migration rolls back; the extension exists now, so retry.
    const e = err as { code?: string; constraint?: string };
    if (e.code !== '23505' || e.constraint !== 'pg_extension_name_index') throw err;
    await latest();
  }
}

/**
 * One offset page of `query` (ordered by the caller; `columns` selected) and the number of rows it
 * pages through, consistent with each other: read as two statements on two pooled connections, a
 * row committed between them was counted and not listed (`total_items` 1 beside an empty page).
 * A non-empty page carries its total in the same statement (`count(*) OVER ()`); an empty one past
 * the first page is read again beside a count, both in one repeatable-read snapshot.
 */
export async function pageWithTotal<Row>(
  db: Knex,
  query: Knex.QueryBuilder,
  columns: string[],
  offset: number,
  limit: number,
): Promise<{ rows: Row[]; total: number }> {
  type Found = Array<Row & { page_total: string }>;
  const read = (q: Knex.QueryBuilder) =>
    q
      .select(...columns, db.raw('count(*) OVER () AS page_total'))
      .offset(offset)
      .limit(limit) as unknown as Promise<Found>;
  const page = (found: Found) => ({ rows: found.map(({ page_total: _total, ...row }) => row as Row), total: Number(found[0]!.page_total) });
  const found = await read(query.clone());
  if (found.length > 0) return page(found);
  if (offset === 0) return { rows: [], total: 0 };
  return db.transaction(
    async (trx) => {
      const again = await read(query.clone().transacting(trx));
      if (again.length > 0) return page(again);
      const [counted] = (await query.clone().clearSelect().clearOrder().count('* as n').transacting(trx)) as Array<{ n: string }>;
      return { rows: [], total: Number(counted?.n ?? 0) };
    },
    { isolationLevel: 'repeatable read', readOnly: true },
  );
}
