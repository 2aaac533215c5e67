import { decodeEvent, type EventType } from '@shutter/contracts';
import type { Logger, Metrics, Redis } from '@shutter/kit';
import { createEventConsumer, type Knex } from '@shutter/kit/db';
import type { FollowsRepository } from './follows-repository';
import type { FollowsService } from './follows-service';
import type { UserDirectory } from './user-directory';

export const CONSUMER_GROUP = 'social-graph';

export const CONSUMED_TYPES = ['user.updated', 'user.disabled', 'user.enabled'] as const satisfies readonly EventType[];

/**
 * Identity's user events: each one invalidates the cached user; a switch from private to public
 * accepts every pending request; disable/enable keep the `disabled_users` read model that
 * follow lists filter on.
 */
export function createIdentityEventsConsumer(deps: {
  db: Knex;
  redis: Redis;
  log: Logger;
  metrics?: Metrics;
  users: UserDirectory;
  follows: FollowsRepository;
  service: FollowsService;
}) {
  const { users, follows, service, log } = deps;
  return createEventConsumer({
    db: deps.db,
    redis: deps.redis,
    log: deps.log,
    metrics: deps.metrics,
    group: CONSUMER_GROUP,
    types: CONSUMED_TYPES,
    async handle(event, trx) {
      if (event.type === 'user.updated') {
        const msg = decodeEvent(event.type, event.payload);
        // Before the accept-all: requests arriving from now on read identity, not the cache.
        await users.invalidate(msg.userId);
        if (!msg.wasPublic && msg.isPublic) {
          const accepted = await service.acceptAllPending(trx, msg.userId);
          if (accepted > 0) log.info({ userId: msg.userId, accepted }, 'account went public: pending requests accepted');
        }
        return;
      }
      const msg = decodeEvent(event.type, event.payload);
      await users.invalidate(msg.userId);
      if (event.type === 'user.disabled') await follows.markDisabled(trx, msg.userId);
      else await follows.markEnabled(trx, msg.userId);
    },
  });
}
