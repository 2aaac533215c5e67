import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import cors from '@fastify/cors';
import multipart from '@fastify/multipart';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { MAX_IMAGE_BYTES, MAX_IMAGES } from '@shutter/contracts';
import { tracingEnabled, type Logger, type Metrics, type Redis } from '@shutter/kit';
import { FastifyOtelInstrumentation } from '@fastify/otel';
import type { GatewayConfig } from './config';
import type { ServiceClients } from './clients';
import { HttpError, fromGrpc, isGrpcError } from './errors';
import { malformedMultipart } from './routes/multipart';
import authPlugin, { createTokenVerifier } from './plugins/auth';
import docsPlugin from './plugins/docs';
import httpMetrics from './plugins/http-metrics';
import rateLimitPlugin from './plugins/rate-limit';
import { createRevocations, observeRevocations } from './plugins/revocations';
import { createStreamSlots } from './plugins/stream-slots';
import { createStreamTickets } from './plugins/stream-tickets';
import { buildValidator, describeValidationError } from './plugins/validation';
import { ErrorBody } from './schemas/common';
import { createMedia } from './media';
import { createUploadQuota, withUploadQuota } from './upload-quota';
import eventsRoutes from './routes/events';
import rootRoutes from './routes/root';
import followsRoutes from './routes/follows';
import mediaRoutes from './routes/media';
import postsRoutes from './routes/posts';
import usersRoutes from './routes/users';

export interface AppDeps {
  config: GatewayConfig;
  clients: ServiceClients;
  redis: Redis;
  logger: Logger;
  metrics: Metrics;
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;
const PROBES = new Set(['/healthz', '/readyz']);

/** Builds the gateway (no listening: see server.ts). Tests import this. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, clients, redis, logger } = deps;
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Trust X-Forwarded-For from at most TRUST_PROXY hops (nginx in front: 1).
    trustProxy: (_addr: string, hop: number) => hop < config.TRUST_PROXY,
    bodyLimit: config.BODY_LIMIT_BYTES,
    routerOptions: { ignoreTrailingSlash: true },
    schemaController: { compilersFactory: { buildValidator: buildValidator as never } },
    requestIdHeader: false,
    // Logs name the request id as every service does; probes are not logged per request.
    logController: new LogController({ requestIdLogLabel: 'request_id', disableRequestLogging: (req) => PROBES.has(req.url ?? '') }),
    // Requests the router refuses before any hook (a broken percent-encoding) answer in the envelope.
    frameworkErrors: (err, req, reply) => {
      const e = toHttpError(err) ?? new HttpError(400, 'The request could not be processed.', 'bad_request');
      const r = reply as FastifyReply;
      void r.code(e.statusCode).header('x-request-id', req.id).send({ detail: e.message, code: e.code, request_id: req.id });
    },
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.addSchema(ErrorBody);
  await app.register(httpMetrics, { metrics: deps.metrics });
  // A SERVER span per request (W3C traceparent honoured); the gRPC calls it makes are its children.
  if (tracingEnabled()) await app.register(new FastifyOtelInstrumentation({ ignorePaths: (r) => PROBES.has(r.url) }).plugin());

  // JSON and multipart only: a text/plain body would reach handlers unvalidated.
  app.removeContentTypeParser('text/plain');
  // Seed 000's client sends Content-Type: application/json on bodyless requests: empty = no body.
  // Fastify types the default parser as either kind; it is the callback kind (it reports through `done`).
  const parseJson = app.getDefaultJsonParser('error', 'ignore') as (req: unknown, body: string, done: (err: Error | null, body?: unknown) => void) => void;
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = body.toString();
    if (text.trim() === '') return done(null, undefined);
    parseJson(req, text, done);
  });

  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
    // The query parser keeps a broken escape as literal text; it is a malformed request instead.
    const q = req.url.indexOf('?');
    if (q !== -1 && !isValidlyEncoded(req.url.slice(q + 1))) throw new HttpError(400, 'The query string is not validly percent-encoded UTF-8.', 'bad_url');
  });

  await app.register(cors, {
    origin: config.CORS_ORIGINS === '*' ? true : config.CORS_ORIGINS.split(',').map((s) => s.trim()),
    methods: ['GET', 'POST', 'PATCH', 'DELETE', 'OPTIONS'],
    allowedHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key', 'X-Request-Id', 'Last-Event-ID'],
    exposedHeaders: ['X-Request-Id', 'Retry-After', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'],
    maxAge: 600,
  });
  // Image files are streamed: busboy caps each part; the rest is checked by content.
  await app.register(multipart, { limits: { fileSize: MAX_IMAGE_BYTES, files: MAX_IMAGES, fields: 20, fieldSize: 64 * 1024 }, throwFileSizeLimit: true });
  await app.register(docsPlugin, { config });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const e = toHttpError(err);
    if (!e) {
      req.log.error({ err }, 'unhandled error');
      return reply.code(500).send({ detail: 'Internal server error.', code: 'internal_error', request_id: req.id });
    }
    if (e.statusCode >= 500) req.log.warn({ err }, 'dependency error');
    if (e.extra.retryAfter !== undefined) reply.header('retry-after', String(e.extra.retryAfter));
    return reply.code(e.statusCode).send({ detail: e.message, code: e.code, request_id: req.id, ...(e.extra.errors ? { errors: e.extra.errors } : {}) });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ detail: 'Not found.', code: 'not_found', request_id: req.id }));

  const revocations = createRevocations(redis, logger, { resyncMs: config.REVOCATION_RESYNC_MS, maxStalenessMs: config.REVOCATION_MAX_STALENESS_MS });
  // Serve once the first resync is done, or failed (Redis down: requests get 503 until it is read).
  app.addHook('onReady', async () => {
    await Promise.race([revocations.ready, new Promise((r) => setTimeout(r, 3000).unref())]);
  });
  app.addHook('onClose', async () => revocations.close());
  observeRevocations(deps.metrics, revocations);
  const verifier = createTokenVerifier(clients, revocations);
  const tickets = createStreamTickets(redis, config.EVENTS_TICKET_TTL_SECONDS);
  await app.register(authPlugin, { verifier, tickets });
  await app.register(rateLimitPlugin, { redis, config });
  await app.register(rootRoutes, { config, clients, redis, verifier, revocations });
  const quota = createUploadQuota(redis, { filesPerHour: config.UPLOAD_QUOTA_FILES_PER_HOUR, bytesPerDay: config.UPLOAD_QUOTA_BYTES_PER_DAY }, logger);
  const routeDeps = { clients, media: withUploadQuota(createMedia(clients.content), quota), quota };
  await app.register(usersRoutes, routeDeps);
  await app.register(eventsRoutes, {
    ...routeDeps,
    redis,
    logger,
    pingMs: config.EVENTS_PING_MS,
    revocations,
    tickets,
    slots: createStreamSlots(redis, config.EVENTS_MAX_STREAMS_PER_USER),
    metrics: deps.metrics,
  });
  await app.register(followsRoutes, routeDeps);
  await app.register(postsRoutes, routeDeps);
  await app.register(mediaRoutes, routeDeps);
  return app;
}

/** Fastify's and @fastify/multipart's error codes: status, sentence, code and (422) the field. */
const FASTIFY_STATUS: Record<string, [number, string, string, string?]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'Request body is too large.', 'payload_too_large'],
  FST_REQ_FILE_TOO_LARGE: [413, 'File is too large (at most 20 MiB).', 'payload_too_large'],
  FST_FILES_LIMIT: [422, 'images must have at most 10 files', 'validation_error', 'body.images'],
  FST_PARTS_LIMIT: [413, 'The form has too many parts.', 'payload_too_large'],
  FST_FIELDS_LIMIT: [413, 'The form has too many fields.', 'payload_too_large'],
  FST_PROTO_VIOLATION: [400, 'The form has a forbidden field name.', 'bad_request'],
  FST_MP_PREMATURE_CLOSE: [400, 'The multipart form ended early.', 'malformed_multipart'],
  FST_ERR_BAD_URL: [400, 'The URL is not validly percent-encoded.', 'bad_url'],
  FST_ERR_ASYNC_CONSTRAINT: [400, 'The request could not be routed.', 'bad_request'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'Unsupported Content-Type.', 'unsupported_media_type'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'Content-Length does not match the body.', 'bad_request'],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'Request body is not valid JSON.', 'malformed_json'],
  FST_INVALID_MULTIPART_CONTENT_TYPE: [415, 'Expected a multipart/form-data request.', 'unsupported_media_type'],
};

function isValidlyEncoded(query: string): boolean {
  if (!query.includes('%')) return true;
  try {
    decodeURIComponent(query);
    return true;
  } catch {
    return false;
  }
}

/** Every 422 names a field (docs/api.md): a service's field-less one names the body. */
function withField(e: HttpError | null): HttpError | null {
  if (!e || e.statusCode !== 422 || e.extra.errors?.length) return e;
  return new HttpError(422, e.message, e.code, { ...e.extra, errors: [{ field: 'body', message: e.message }] });
}

/** Every error the gateway can meet, as the HTTP error the client sees (null: a real 500). */
function toHttpError(err: FastifyError): HttpError | null {
  if (err instanceof HttpError) return withField(err);
  if (err.validation) {
    const errors = err.validation.map((v) => describeValidationError(v, err.validationContext ?? 'body'));
    return new HttpError(422, errors[0]?.message ?? 'Invalid request.', 'validation_error', { errors });
  }
  if (isGrpcError(err)) return withField(fromGrpc(err));
  const known = err.code ? FASTIFY_STATUS[err.code] : undefined;
  if (known) return new HttpError(known[0], known[1], known[2], known[3] ? { errors: [{ field: known[3], message: known[1] }] } : {});
  const malformed = malformedMultipart(err);
  if (malformed) return malformed;
  if (err instanceof SyntaxError) return new HttpError(400, 'Request body is not valid JSON.', 'malformed_json');
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    return new HttpError(err.statusCode, 'The request could not be processed.', 'bad_request');
  }
  return null;
}
