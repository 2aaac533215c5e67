import type { Knex } from '../db';
import { newId } from '../ids';
import { currentTraceParent } from '../tracing';

export interface OutboxEvent {
  /** Dotted event name, e.g. `post.created`. */
  type: string;
  /** The aggregate the event is about (usually its id). */
  key: string;
  /** The encoded message (protobuf bytes). */
  payload: Uint8Array;
}

/** The NOTIFY channel of a schema's outbox; `enqueueEvent` derives the same name from current_schema(). */
export const outboxChannel = (schema: string): string => `outbox_${schema}`;

/**
 * Writes an event into the outbox in the caller's transaction and returns its id. The event
 * exists exactly when the caller's change commits; the relay publishes it afterwards.
 */
export async function enqueueEvent(trx: Knex | Knex.Transaction, e: OutboxEvent): Promise<string> {
  const id = newId();
  const payload = Buffer.from(e.payload.buffer, e.payload.byteOffset, e.payload.byteLength);
  // pg_notify inside the transaction is delivered only on commit (and never on rollback), so the
  // relay wakes exactly when there is something to publish. One statement: one round trip.
  await trx.raw(
    `WITH inserted AS (INSERT INTO outbox (id, type, key, payload, trace_parent) VALUES (?, ?, ?, ?, ?) RETURNING seq)
     SELECT pg_notify('outbox_' || current_schema(), '') FROM inserted`,
    [id, e.type, e.key, payload, currentTraceParent() ?? null],
  );
  return id;
}
