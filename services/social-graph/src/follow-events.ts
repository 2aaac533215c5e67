import { domainEvent, type EventType } from '@shutter/contracts';
import { enqueueEvent, type Knex } from '@shutter/kit/db';
import type { FollowRow, FollowStatus } from './follows-repository';

/** The four follow events (proto/shutter/events/v1/events.proto, FollowChanged). */
export type FollowEventType = Extract<EventType, `follow.${string}`>;

/**
 * Writes a follow event into the outbox in the change's transaction. `status` is the edge's
 * status after the change, or for follow.removed the status it had before.
 */
export async function emitFollowChanged(
  trx: Knex.Transaction,
  type: FollowEventType,
  edge: FollowRow,
  actorId: string,
  status: FollowStatus = edge.status,
): Promise<void> {
  await enqueueEvent(trx, domainEvent(type, edge.id, { followsId: edge.id, followerId: edge.follower_id, followeeId: edge.followee_id, status, actorId }));
}
