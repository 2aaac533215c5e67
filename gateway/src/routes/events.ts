import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Logger, Redis } from '@shutter/kit';
import { createEventStreams } from '../plugins/event-stream';
import { createLiveHub } from '../plugins/live-hub';
import { presentEvent } from '../presenters/events';
import { EventItem } from '../schemas/events';
import { Ok, PageQuery, Pagination, Uuid, errorResponses, ok, pageParams, pagination } from '../schemas/common';
import { grpcOpts, type RouteDeps } from './deps';

export interface EventsRouteDeps extends RouteDeps {
  redis: Redis;
  logger: Logger;
  /** Interval of the stream's `: ping` comment. */
  pingMs: number;
}

/** Events (notifications), API.md *Events*. */
const eventsRoutes: FastifyPluginAsyncTypebox<EventsRouteDeps> = async (app, { clients, media, redis, logger, pingMs }) => {
  app.addSchema(EventItem);
  const openStream = createEventStreams(app, { hub: createLiveHub(redis, logger), clients, media, pingMs });

  app.get('/api/events', {
    schema: {
      tags: ['events'],
      summary: "The caller's events, newest first",
      security: [{ bearer: [] }],
      querystring: Type.Object(PageQuery),
      response: { 200: Ok(Type.Object({ events: Type.Array(Type.Ref('Event')), pagination: Pagination })), ...errorResponses(401, 422) },
    },
    handler: async (req) => {
      const { page, limit } = pageParams(req.query);
      const res = await clients.notification.listEvents({ page, limit }, grpcOpts(req));
      return ok({ events: await Promise.all(res.events.map((e) => presentEvent(e, media))), pagination: pagination(page, limit, res.totalItems) });
    },
  });

  app.post('/api/events/read/:event_id', {
    schema: {
      tags: ['events'],
      summary: 'Mark one event read (idempotent)',
      security: [{ bearer: [] }],
      params: Type.Object({ event_id: Uuid }),
      response: {
        200: Ok(Type.Object({ event_id: Uuid, is_read: Type.Boolean(), unread_count: Type.Integer({ description: "the caller's unread events now" }) })),
        ...errorResponses(401, 404, 422),
      },
    },
    handler: async (req) => {
      const res = await clients.notification.markRead({ eventId: req.params.event_id }, grpcOpts(req));
      return ok({ event_id: res.eventId, is_read: true, unread_count: res.unreadCount });
    },
  });

  app.post('/api/events/read-all', {
    schema: {
      tags: ['events'],
      summary: 'Mark every event up to now read',
      security: [{ bearer: [] }],
      response: {
        200: Ok(Type.Object({ marked: Type.Integer({ description: 'events that were unread' }), unread_count: Type.Integer({ description: 'events that arrived since' }) })),
        ...errorResponses(401),
      },
    },
    handler: async (req) => {
      const res = await clients.notification.markAllRead({}, grpcOpts(req));
      return ok({ marked: res.marked, unread_count: res.unreadCount });
    },
  });

  app.get('/api/events/unread-count', {
    schema: {
      tags: ['events'],
      summary: "The caller's unread event count",
      security: [{ bearer: [] }],
      response: { 200: Ok(Type.Object({ count: Type.Integer() })), ...errorResponses(401) },
    },
    handler: async (req) => {
      const res = await clients.notification.getUnreadCount({}, grpcOpts(req));
      return ok({ count: res.count });
    },
  });

  app.get('/api/events/stream', {
    exposeHeadRoute: false,
    schema: {
      tags: ['events'],
      summary: 'Server-Sent Events: each new event as it happens',
      description:
        'Frames: `id: <event_id>`, `event: <type>`, `data: <the event item as JSON>`; a `: ping` comment every 15 s. ' +
        'Send `Last-Event-ID` (a previous event id) to have what was missed replayed first. Without it, the stream opens with ' +
        'an `id:` line (no data) so that a reconnect replays everything since the first connection. Needs the bearer token ' +
        '(browsers: fetch() with a reader, or an EventSource polyfill that sends headers).',
      security: [{ bearer: [] }],
      headers: Type.Object({ 'last-event-id': Type.Optional(Type.String({ format: 'uuid', errorMessage: 'Last-Event-ID must be an event id (a UUID)' })) }),
      response: {
        200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
        ...errorResponses(401, 422, 503),
      },
    },
    handler: async (req, reply) => openStream(req, reply, req.headers['last-event-id']),
  });
};

export default eventsRoutes;
