import { isUuid, notFound, offsetPage, requireUser, requireUuid, validationFailed, type Handlers, type Logger } from '@shutter/kit';
import type { Knex } from '@shutter/kit/db';
import type { notification } from '@shutter/proto';
import type { Actors } from './actors';
import { toProtoEvent } from './events-presenter';
import type { ActorSnapshot, NotificationsRepository, UnreadState } from './notifications-repository';
import type { UnreadCounter } from './unread-counter';

export interface NotificationDeps {
  db: Knex;
  repo: NotificationsRepository;
  actors: Actors;
  unread: UnreadCounter;
  log: Logger;
}

const MAX_REPLAY = 500;

export function createNotificationHandlers(deps: NotificationDeps): Handlers<typeof notification.NotificationServiceService> {
  const { db, repo, unread } = deps;

  /** Actors as the replica of identity's users holds them now (one query); one not held yet keeps its stored snapshot. */
  const currentActors = (ids: string[]): Promise<Map<string, ActorSnapshot>> => deps.actors.get(ids);

  /** Runs a change of read state, then publishes the new count once it is committed. */
  async function changeReadState<T>(
    userId: string,
    work: (trx: Knex.Transaction) => Promise<{ result: T; state?: UnreadState }>,
  ): Promise<{ result: T; count: number }> {
    const { result, state } = await db.transaction(work);
    if (!state) return { result, count: await unread.get(userId) };
    await unread.committed(userId, state);
    return { result, count: state.count };
  }

  return {
    async listEvents(req, ctx) {
      const userId = requireUser(ctx);
      const { offset, limit } = offsetPage(req);
      const { rows, total } = await repo.list(userId, offset, limit);
      const actors = await currentActors(rows.map((r) => r.actor_id));
      return { events: rows.map((r) => toProtoEvent(r, actors.get(r.actor_id))), totalItems: total };
    },

    async listEventsAfter(req, ctx) {
      const userId = requireUser(ctx);
      if (!isUuid(req.afterEventId)) throw validationFailed('after_event_id', 'Last-Event-ID must be an event id (a UUID)');
      const limit = Math.min(Math.max(req.limit || MAX_REPLAY, 1), MAX_REPLAY);
      const rows = await repo.listAfter(userId, req.afterEventId.toLowerCase(), limit + 1);
      const page = rows.slice(0, limit);
      const actors = await currentActors(page.map((r) => r.actor_id));
      return { events: page.map((r) => toProtoEvent(r, actors.get(r.actor_id))), hasMore: rows.length > limit };
    },

    async markRead(req, ctx) {
      const userId = requireUser(ctx);
      const eventId = requireUuid('event_id', req.eventId).toLowerCase();
      const { count } = await changeReadState(userId, async (trx) => {
        const outcome = await repo.markRead(trx, userId, eventId);
        // Another user's event is as unknown as a missing one.
        if (outcome === 'missing') throw notFound('Event not found.');
        return { result: outcome, state: outcome === 'marked' ? await repo.addUnread(trx, userId, -1) : undefined };
      });
      return { eventId, unreadCount: count };
    },

    async markAllRead(_req, ctx) {
      const userId = requireUser(ctx);
      const { result, count } = await changeReadState(userId, async (trx) => {
        const marked = await repo.markAllRead(trx, userId);
        return { result: marked, state: marked > 0 ? await repo.addUnread(trx, userId, -marked) : undefined };
      });
      return { marked: result, unreadCount: count };
    },

    async getUnreadCount(_req, ctx) {
      return { count: await unread.get(requireUser(ctx)) };
    },
  };
}
