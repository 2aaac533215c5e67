import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Logger, Metrics, Redis } from '@shutter/kit';
import { createEventStreams } from '../plugins/event-stream';
import { createLiveHub } from '../plugins/live-hub';
import { callerOf } from '../plugins/auth';
import type { Revocations } from '../plugins/revocations';
import type { StreamSlots } from '../plugins/stream-slots';
import type { StreamTickets } from '../plugins/stream-tickets';
import { presentEvent } from '../presenters/events';
import { EventItem } from '../schemas/events';
import { Ok, PageQuery, Pagination, Uuid, errorResponses, ok, pageParams, pagination } from '../schemas/common';
import { grpcOpts, type RouteDeps } from './deps';
import { HttpError } from '../errors';

export interface EventsRouteDeps extends RouteDeps {
  redis: Redis;
  logger: Logger;
  /** Interval of the stream's `: ping` comment. */
  pingMs: number;
  revocations: Revocations;
  tickets: StreamTickets;
  slots: StreamSlots;
  metrics?: Metrics;
}

/** Events (notifications), docs/api.md *Events*. */
const eventsRoutes: FastifyPluginAsyncTypebox<EventsRouteDeps> = async (app, deps) => {
  const { clients, media, redis, logger, pingMs, revocations, tickets, slots } = deps;
  app.addSchema(EventItem);
  const openStream = createEventStreams(app, { hub: createLiveHub(redis, logger), clients, media, pingMs, revocations, slots, metrics: deps.metrics });

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
        200: Ok(
          Type.Object({
            marked: Type.Integer({ description: 'events that were unread' }),
            unread_count: Type.Integer({ description: 'events that arrived since' }),
          }),
        ),
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

  app.post('/api/events/stream-ticket', {
    schema: {
      tags: ['events'],
      summary: 'A single-use ticket that opens one event stream (for EventSource, which cannot send headers)',
      description: `Open the stream with \`GET /api/events/stream?ticket=<ticket>\` within \`expires_in\` seconds (${tickets.ttlSeconds} s); it works once. The stream lives as long as the token that asked for the ticket would.`,
      security: [{ bearer: [] }],
      response: { 201: Ok(Type.Object({ ticket: Type.String(), expires_in: Type.Integer({ description: 'seconds' }) })), ...errorResponses(401, 503) },
    },
    handler: async (req, reply) => {
      const ticket = await tickets.issue(callerOf(req)).catch(() => {
        throw new HttpError(503, 'The event stream is unavailable. Try again shortly.', 'service_unavailable');
      });
      return reply.code(201).send(ok({ ticket, expires_in: tickets.ttlSeconds }));
    },
  });

  app.get('/api/events/stream', {
    exposeHeadRoute: false,
    config: { ticketAuth: true },
    schema: {
      tags: ['events'],
      summary: 'Server-Sent Events: each new event as it happens',
      description:
        'Frames: `id: <event_id>`, `event: <type>`, `data: <the event item as JSON>`; a `: ping` comment every 15 s. ' +
        'Send `Last-Event-ID` (a previous event id) to have what was missed replayed first. Without it, the stream opens with ' +
        'an `id:` line (no data) so that a reconnect replays everything since the first connection. Needs the bearer token, ' +
        'or `?ticket=` from POST /api/events/stream-ticket (browsers: EventSource cannot send headers). The stream closes when the ' +
        'token expires, its session ends or the account is disabled (within 10 s). At most ' +
        `${slots.maxPerUser} streams per user may be open; one more → 429.`,
      security: [{ bearer: [] }],
      querystring: Type.Object({ ticket: Type.Optional(Type.String({ maxLength: 100, description: 'a stream ticket, instead of Authorization' })) }),
      headers: Type.Object({ 'last-event-id': Type.Optional(Type.String({ format: 'uuid', errorMessage: 'Last-Event-ID must be an event id (a UUID)' })) }),
      response: {
        200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: { type: 'string' } } } },
        ...errorResponses(401, 422, 429, 503),
      },
    },
    handler: async (req, reply) => openStream(req, reply, req.headers['last-event-id']),
  });
};

export default eventsRoutes;
