import type { Logger, Metrics, Redis } from '@shutter/kit';
import { createEventConsumer, type EventConsumer, type EventConsumerOptions, type Knex, type StreamEvent } from '@shutter/kit/db';
import type { events } from '@shutter/proto';
import { decodeEvent } from '@shutter/contracts';
import { unknownActor, type Actors } from './actors';
import { CONSUMED_TYPES, planFor, renderMessage } from './event-mapper';
import { toProtoEvent } from './events-presenter';
import type { LivePublisher } from './live';
import type { NewRow, NotificationRow, NotificationsRepository, UnreadState } from './notifications-repository';
import type { UnreadCounter } from './unread-counter';

/** identity's user events: they keep the actors replica current. */
export const USER_TYPES = ['user.created', 'user.updated', 'user.disabled', 'user.enabled'] as const;
const isUserEvent = (type: string): type is (typeof USER_TYPES)[number] => (USER_TYPES as readonly string[]).includes(type);

/** The consumer group: one per consuming service, also the idempotency namespace. */
export const CONSUMER_GROUP = 'notification';

export interface NotificationConsumerDeps {
  db: Knex;
  redis: Redis;
  log: Logger;
  metrics?: Metrics;
  repo: NotificationsRepository;
  actors: Actors;
  unread: UnreadCounter;
  live: LivePublisher;
  stream: string;
  /** Overrides of the kit consumer's timings (tests make them short). */
  tuning?: Partial<Pick<EventConsumerOptions, 'blockMs' | 'claimIdleMs' | 'claimEveryMs' | 'maxBackoffMs' | 'maxDeliveries'>>;
}

/**
 * Turns domain events into notifications (kit consumer: applied once, in the transaction that
 * records the event id). Unread counts change in the same transaction; Redis and the live channel
 * hear of it only after the commit.
 */
export function createNotificationConsumer(deps: NotificationConsumerDeps): EventConsumer {
  const { repo, unread, live, log } = deps;

  async function apply(event: StreamEvent, trx: Knex.Transaction): Promise<void> {
    if (isUserEvent(event.type)) {
      // identity's user events carry the whole state at its version (none: a producer before
      // versions, which the backfill covered).
      const { state } = decodeEvent(event.type, event.payload) as { state?: events.UserState };
      if (state?.version) await deps.actors.applyStates(trx, [state]);
      return;
    }
    const plan = planFor(event.type, event.payload);
    const actors = await deps.actors.get(
      plan.create.map((c) => c.actorId),
      trx,
    );
    if (plan.subject && !(await repo.claimSubject(trx, plan.subject, event.id))) {
      log.info({ eventId: event.id, type: event.type, subject: plan.subject }, 'stale event skipped: a newer one about the same subject was applied');
      return;
    }

    const deltas = new Map<string, number>();
    const add = (userId: string, d: number) => deltas.set(userId, (deltas.get(userId) ?? 0) + d);
    const gone = [];
    for (const w of plan.withdraw) gone.push(...(await repo.withdraw(trx, w.subject, w.type)));
    if (plan.withdrawPost) gone.push(...(await repo.withdrawPost(trx, plan.withdrawPost)));
    for (const r of gone) if (!r.is_read) add(r.recipient_id, -1);

    const rows: NewRow[] = plan.create.map((c) => {
      const actor = actors.get(c.actorId) ?? unknownActor(c.actorId);
      return {
        recipient_id: c.recipientId,
        type: c.type,
        actor_id: c.actorId,
        post_id: c.postId ?? null,
        comment_id: c.commentId ?? null,
        follows_id: c.followsId ?? null,
        subject: plan.subject ?? '',
        message: renderMessage(c.template, actor.username),
        metadata: { template: c.template, actor },
        is_read: c.read === true,
        source_event_id: event.id,
      };
    });
    const created: NotificationRow[] = await repo.insert(trx, rows);
    for (const r of created) if (!r.is_read) add(r.recipient_id, 1);

    // Counts last, users in id order: two transactions never wait on each other's counts.
    const states: Array<[string, UnreadState]> = [];
    for (const userId of [...deltas.keys()].sort()) {
      const d = deltas.get(userId) ?? 0;
      if (d !== 0) states.push([userId, await repo.addUnread(trx, userId, d)]);
    }

    const task = trx.executionPromise.then(
      async () => {
        for (const [userId, state] of states) await unread.committed(userId, state);
        for (const r of created) if (!r.is_read) await live.publish(toProtoEvent(r));
      },
      () => undefined, // rolled back: nothing happened
    );
    afterCommit.add(task);
    void task.finally(() => afterCommit.delete(task));
  }

  // Post-commit work (Redis count, live publish) still running: stop() waits for it.
  const afterCommit = new Set<Promise<void>>();
  const consumer = createEventConsumer({
    db: deps.db,
    redis: deps.redis,
    log,
    group: CONSUMER_GROUP,
    stream: deps.stream,
    types: [...CONSUMED_TYPES, ...USER_TYPES],
    handle: apply,
    metrics: deps.metrics,
    ...deps.tuning,
  });
  return {
    start: () => consumer.start(),
    stalledMs: () => consumer.stalledMs(),
    async stop() {
      await consumer.stop();
      await Promise.all(afterCommit);
    },
  };
}
