import { Gauge } from 'prom-client';
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { notification } from '@shutter/proto';
import type { Logger, Metrics } from '@shutter/kit';
import type { ServiceClients } from '../clients';
import { HttpError, fromGrpc, isGrpcError } from '../errors';
import { presentEvent } from '../presenters/events';
import type { MediaUrls } from '../presenters/users';
import { callerOf, type Caller } from './auth';
import { grpcOpts } from '../routes/deps';
import type { LiveHub } from './live-hub';
import type { Revocations } from './revocations';
import { SLOT_RENEW_MS, type StreamSlots } from './stream-slots';

/** A client that lets this much output pile up is dropped (it reconnects with Last-Event-ID). */
const MAX_BUFFERED_BYTES = 1 << 20;
/** Replay at most this many missed events; a client gone longer reloads GET /api/events. */
const MAX_REPLAY = 5000;
const REPLAY_PAGE = 500;
/** Browsers wait this long before reconnecting. */
const RETRY_MS = 3000;
/** How often open streams check their authority (token expiry; revocations also push changes). */
const AUTHORITY_CHECK_MS = 1000;

/**
 * A UUIDv7 below every id made from `ms` on: the cursor of a stream opened without Last-Event-ID,
 * so that its first reconnect replays everything since it opened.
 */
export function uuidV7Floor(ms: number): string {
  const hex = Math.max(0, Math.floor(ms)).toString(16).padStart(12, '0').slice(-12);
  return `${hex.slice(0, 8)}-${hex.slice(8)}-7000-8000-000000000000`;
}

const frame = (item: { event_id: string; type: string }) => `id: ${item.event_id}\nevent: ${item.type}\ndata: ${JSON.stringify(item)}\n\n`;

/** One open stream: buffers live events until its replay is written, then writes them in order. */
class StreamConnection {
  private pending: notification.Event[] | null = [];
  private chain: Promise<void> = Promise.resolve();
  closed = false;

  constructor(
    private readonly raw: ServerResponse,
    private readonly media: MediaUrls,
    private readonly log: Logger,
  ) {}

  write(text: string): void {
    if (this.closed || this.raw.writableEnded || this.raw.destroyed) return;
    this.raw.write(text);
    if (this.raw.writableLength > MAX_BUFFERED_BYTES) {
      this.log.warn('event stream client too slow: dropping it');
      this.raw.destroy();
    }
  }

  /** A live event: queued behind the replay until `start`. */
  push(event: notification.Event): void {
    if (this.pending) this.pending.push(event);
    else this.send([event]);
  }

  /** Writes the replay, then the live events that arrived meanwhile (without repeats). */
  start(replay: notification.Event[]): void {
    const replayed = new Set(replay.map((e) => e.eventId));
    const early = (this.pending ?? []).filter((e) => !replayed.has(e.eventId));
    this.pending = null;
    this.send([...replay, ...early]);
  }

  private send(events: notification.Event[]): void {
    this.chain = this.chain.then(async () => {
      for (const e of events) {
        if (this.closed) return;
        try {
          this.write(frame(await presentEvent(e, this.media)));
        } catch (err) {
          this.log.warn({ err, eventId: e.eventId }, 'event not written to the stream');
        }
      }
    });
  }

  end(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.raw.writableEnded) this.raw.end();
  }
}

interface OpenStream {
  caller: Caller;
  userId: string;
  streamId: string;
  close: () => void;
}

export interface EventStreamDeps {
  hub: LiveHub;
  clients: ServiceClients;
  media: MediaUrls;
  pingMs: number;
  revocations: Revocations;
  slots: StreamSlots;
  /** Exports `gateway_open_event_streams` (this process's open streams). */
  metrics?: Metrics;
}

/**
 * `GET /api/events/stream`: Server-Sent Events from the process's one Redis subscription (see
 * live-hub.ts), a `: ping` comment every `pingMs`, Last-Event-ID replay from the notification
 * service, and every stream ended when the app closes.
 *
 * A stream keeps checking the authority it was opened with: it is closed when its token expires,
 * its session ends or its account is disabled (revocation changes are pushed to every open stream
 * at once; expiry is checked every second), and when the revocation state goes stale (the gateway
 * fails closed, README *Security*). At most `slots.maxPerUser` streams per user are open across
 * all gateway processes (stream-slots.ts); one more is a 429.
 */
export function createEventStreams(app: FastifyInstance, deps: EventStreamDeps) {
  const { hub, clients, media, revocations, slots } = deps;
  const open = new Map<StreamConnection, OpenStream>();
  let closing = false;
  if (deps.metrics) {
    deps.metrics.registry.removeSingleMetric('gateway_open_event_streams');
    new Gauge({
      name: 'gateway_open_event_streams',
      help: 'Event streams (GET /api/events/stream) open on this gateway process',
      registers: [deps.metrics.registry],
      collect() {
        this.set(open.size);
      },
    });
  }

  const ping = setInterval(() => {
    for (const c of open.keys()) c.write(': ping\n\n');
  }, deps.pingMs);
  ping.unref();

  const checkAuthority = () => {
    const now = Date.now();
    const fresh = revocations.fresh();
    for (const s of open.values()) {
      if (s.caller.exp <= now || !fresh || revocations.isRevoked(s.caller.userId, s.caller.sessionId)) s.close();
    }
  };
  const authority = setInterval(checkAuthority, AUTHORITY_CHECK_MS);
  authority.unref();
  const stopWatching = revocations.onChange(checkAuthority);
  const renew = setInterval(() => {
    slots.renew(open.values()).catch((err: unknown) => app.log.warn({ err }, 'event stream slots not renewed'));
  }, SLOT_RENEW_MS);
  renew.unref();

  hub.onLost(() => {
    for (const s of [...open.values()]) s.close();
  });
  // Hijacked responses keep the server open: end them before Fastify waits for in-flight requests.
  app.addHook('preClose', async () => {
    closing = true;
    clearInterval(ping);
    clearInterval(authority);
    clearInterval(renew);
    stopWatching();
    for (const s of [...open.values()]) s.close();
  });
  app.addHook('onClose', async () => hub.close());

  async function replayAfter(req: FastifyRequest, cursor: string): Promise<notification.Event[]> {
    const events: notification.Event[] = [];
    let after = cursor;
    while (events.length < MAX_REPLAY) {
      const page = await clients.notification.listEventsAfter({ afterEventId: after, limit: REPLAY_PAGE }, grpcOpts(req));
      events.push(...page.events);
      const last = page.events[page.events.length - 1];
      if (!page.hasMore || !last) break;
      after = last.eventId;
    }
    return events;
  }

  async function openStream(req: FastifyRequest, reply: FastifyReply, lastEventId: string | undefined): Promise<void> {
    const caller = callerOf(req);
    const { userId } = caller;
    if (closing) throw new HttpError(503, 'The server is shutting down. Reconnect shortly.', 'service_unavailable');
    const streamId = randomUUID();
    let acquired: boolean;
    try {
      acquired = await slots.acquire(userId, streamId);
    } catch (err) {
      req.log.warn({ err }, 'event stream: slot not taken');
      throw new HttpError(503, 'The event stream is unavailable. Try again shortly.', 'service_unavailable');
    }
    if (!acquired) {
      throw new HttpError(429, `At most ${slots.maxPerUser} event streams may be open at once. Close one and try again.`, 'too_many_streams', {
        retryAfter: 10,
      });
    }
    try {
      await attach(req, reply, lastEventId, caller, streamId);
    } catch (err) {
      slots.release(userId, streamId);
      throw err;
    }
  }

  async function attach(req: FastifyRequest, reply: FastifyReply, lastEventId: string | undefined, caller: Caller, streamId: string): Promise<void> {
    const { userId } = caller;
    const cursor = lastEventId?.toLowerCase() ?? uuidV7Floor(Date.now());
    const raw = reply.raw;
    const conn = new StreamConnection(raw, media, req.log as Logger);
    // The client may leave while the replay is read: its 'close' would not come again later.
    let gone = false;
    const leftEarly = () => {
      gone = true;
    };
    raw.once('close', leftEarly);

    // Subscribe first, then read what was missed: nothing falls between the two.
    let release: () => void;
    try {
      release = await hub.subscribe(userId, (e) => conn.push(e));
    } catch (err) {
      raw.off('close', leftEarly);
      req.log.warn({ err }, 'event stream: redis subscription failed');
      throw new HttpError(503, 'The event stream is unavailable. Try again shortly.', 'service_unavailable');
    }
    let replay: notification.Event[];
    try {
      replay = await replayAfter(req, cursor);
    } catch (err) {
      raw.off('close', leftEarly);
      release();
      throw isGrpcError(err) ? (fromGrpc(err) ?? err) : err;
    }

    // From here on the response is ours: Fastify's onSend hooks no longer run, so the headers
    // set so far (CORS, X-Request-Id, rate limit) are copied by hand.
    reply.hijack();
    raw.off('close', leftEarly);
    if (gone || raw.destroyed) {
      release();
      slots.release(userId, streamId);
      return;
    }
    const headers: Record<string, string | number | string[]> = {};
    for (const [k, v] of Object.entries(reply.getHeaders())) if (v !== undefined) headers[k] = v;
    raw.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no', // nginx: pass each event on at once
    });
    raw.flushHeaders();
    const cleanup = () => {
      conn.end();
      if (!open.delete(conn)) return;
      release();
      slots.release(userId, streamId);
    };
    open.set(conn, { caller, userId, streamId, close: cleanup });
    raw.on('close', cleanup);
    if (closing) return cleanup();
    // No Last-Event-ID: the cursor becomes the client's, so a reconnect replays from here.
    conn.write(`retry: ${RETRY_MS}\n${lastEventId ? '' : `id: ${cursor}\n`}\n`);
    conn.start(replay);
  }

  return openStream;
}
