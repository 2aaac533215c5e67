import type { Migration } from '../db';

/**
 * The outbox and the consumers' idempotency records. Producers and consumers both append it to
 * their migration list; it uses unqualified names, so the tables land in the service's schema.
 */
export const outboxMigration: Migration = {
  name: 'outbox_v1',
  async up(db) {
    await db.raw(`
      CREATE TABLE outbox (
        id uuid PRIMARY KEY,
        seq bigserial UNIQUE,
        type text NOT NULL,
        key text NOT NULL,
        payload bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        sent_at timestamptz
      )`);
    // The relay's hot query: unsent rows in seq order. Partial, so it stays as small as the backlog.
    await db.raw('CREATE INDEX outbox_unsent_seq ON outbox (seq) WHERE sent_at IS NULL');
    // Retention cleanup deletes by sent_at.
    await db.raw('CREATE INDEX outbox_sent_at ON outbox (sent_at) WHERE sent_at IS NOT NULL');
    await db.raw(`
      CREATE TABLE applied_events (
        consumer text NOT NULL,
        event_id uuid NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (consumer, event_id)
      )`);
  },
  async down(db) {
    await db.raw('DROP TABLE IF EXISTS applied_events');
    await db.raw('DROP TABLE IF EXISTS outbox');
  },
};

/**
 * The W3C trace context of the transaction that wrote each event (tracing.ts), carried on the
 * stream so the consumers' work shows in the trace of the request that caused it. Null when
 * tracing is off.
 */
export const outboxTraceMigration: Migration = {
  name: 'outbox_v2_trace',
  async up(db) {
    await db.raw('ALTER TABLE outbox ADD COLUMN trace_parent text');
  },
  async down(db) {
    await db.raw('ALTER TABLE outbox DROP COLUMN IF EXISTS trace_parent');
  },
};
