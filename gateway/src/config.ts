import { env, internalAuthConfig, loadConfig } from '@shutter/kit';
import { z } from 'zod';

export const gatewayConfigShape = {
  LOG_LEVEL: env.logLevel(),
  HOST: env.str('0.0.0.0'),
  PORT: env.port(8080),
  METRICS_PORT: env.port(9100),
  /** The URL clients use, printed and put in the OpenAPI document; default http://127.0.0.1:PORT. */
  PUBLIC_URL: env.optionalStr(),
  REDIS_URL: env.str('redis://127.0.0.1:6379'),
  REDIS_KEY_PREFIX: z.string().default(''),
  IDENTITY_ADDR: env.str('127.0.0.1:50051'),
  SOCIAL_GRAPH_ADDR: env.str('127.0.0.1:50052'),
  CONTENT_ADDR: env.str('127.0.0.1:50053'),
  NOTIFICATION_ADDR: env.str('127.0.0.1:50054'),
  GRPC_DEADLINE_MS: env.int(5000),
  /** Keys the gateway signs its calls to services with (kit internal-auth.ts). */
  ...internalAuthConfig,
  /** Comma-separated allowed origins, or `*` (the API uses bearer tokens, not cookies). */
  CORS_ORIGINS: z.string().default('*'),
  /** Trust X-Forwarded-* from this many proxies (nginx in front: 1). */
  TRUST_PROXY: env.hops(0),
  BODY_LIMIT_BYTES: env.int(1 << 20),
  /** Requests per caller (user, or IP before sign-in) per window, across all gateway processes. */
  RATE_LIMIT_MAX: env.int(600),
  RATE_LIMIT_WINDOW_MS: env.int(60_000),
  /** Interval of the `: ping` comment on /api/events/stream (keeps proxies from closing it idle). */
  EVENTS_PING_MS: env.int(15_000),
  /** Most open event streams per user, across gateway processes (one more: 429). */
  EVENTS_MAX_STREAMS_PER_USER: env.int(5),
  /** Lifetime of a stream ticket (POST /api/events/stream-ticket). */
  EVENTS_TICKET_TTL_SECONDS: env.int(60),
  /** How often the in-memory revocation state is checked against Redis (pub/sub applies changes at once). */
  REVOCATION_RESYNC_MS: env.int(2000),
  /**
   * How old the revocation state may get while Redis cannot be read before authenticated requests
   * answer 503 and event streams close (fail closed; README *Security*).
   */
  REVOCATION_MAX_STALENESS_MS: env.int(10_000),
  SHUTDOWN_TIMEOUT_MS: env.int(10000),
};

export type GatewayConfig = Readonly<z.infer<z.ZodObject<typeof gatewayConfigShape>>>;

export const loadGatewayConfig = (e: NodeJS.ProcessEnv = process.env): GatewayConfig => loadConfig(gatewayConfigShape, e);
