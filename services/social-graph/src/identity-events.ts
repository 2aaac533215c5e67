import { decodeEvent, type EventType } from '@shutter/contracts';
import type { events } from '@shutter/proto';
import type { Logger, Metrics, Redis } from '@shutter/kit';
import { createEventConsumer, type Knex } from '@shutter/kit/db';
import type { FollowsService } from './follows-service';
import type { Users } from './users';

export const CONSUMER_GROUP = 'social-graph';

export const CONSUMED_TYPES = ['user.created', 'user.updated', 'user.disabled', 'user.enabled'] as const satisfies readonly EventType[];

/**
 * Applies users' whole states to the users replica (events one by one, snapshot pages set-wise):
 * a user who went public has every pending request accepted in the same transaction.
 */
export function createUsersApplier(deps: { users: Users; service: FollowsService; log: Logger }) {
  const { users, service, log } = deps;
  return async (trx: Knex, states: events.UserState[]): Promise<void> => {
    for (const userId of await users.applyStates(trx, states)) {
      const accepted = await service.acceptAllPending(trx as Knex.Transaction, userId); // always a transaction's
      if (accepted > 0) log.info({ userId, accepted }, 'account went public: pending requests accepted');
    }
  };
}

/**
 * Identity's user events, each carrying the user's whole state at identity's version, keep the
 * users replica current (newer version wins). An event without a version comes from a producer
 * before versions: the backfill covered what it said.
 */
export function createIdentityEventsConsumer(deps: {
  db: Knex;
  redis: Redis;
  log: Logger;
  metrics?: Metrics;
  applyUsers: (trx: Knex, states: events.UserState[]) => Promise<void>;
}) {
  return createEventConsumer({
    db: deps.db,
    redis: deps.redis,
    log: deps.log,
    metrics: deps.metrics,
    group: CONSUMER_GROUP,
    types: CONSUMED_TYPES,
    async handle(event, trx) {
      const { state } = decodeEvent(event.type, event.payload);
      if (state?.version) await deps.applyUsers(trx, [state]);
    },
  });
}
