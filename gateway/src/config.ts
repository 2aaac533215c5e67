import { env, internalAuthConfig, loadConfig } from '@shutter/kit';
import { z } from 'zod';

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** A limit as `<count>/<window>`: `600/1m`, `20/1h`, `5/30s`. */
const rate = (def: string) =>
  z
    .string()
    .default(def)
    .transform((v, ctx) => {
      const m = /^\s*(\d+)\s*\/\s*(\d*)\s*([smhd])\s*$/.exec(v);
      if (!m || Number(m[1]) < 1) {
        ctx.addIssue({ code: 'custom', message: 'must be <count>/<window>, like 600/1m, 20/1h or 5/30s' });
        return z.NEVER;
      }
      return { points: Number(m[1]), seconds: Number(m[2] || 1) * UNIT_SECONDS[m[3]!]! };
    });

export type Rate = { points: number; seconds: number };

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
  /**
   * Requests per class of route (API.md), per signed-in user and per client address, across all
   * gateway processes (README *Limits*). Sign-up has no user yet: per address only.
   */
  RATE_LIMIT_SIGNUP_ADDRESS: rate('20/1h'),
  RATE_LIMIT_AUTH_USER: rate('10/1m'),
  RATE_LIMIT_AUTH_ADDRESS: rate('30/1m'),
  RATE_LIMIT_WRITES_USER: rate('120/1m'),
  RATE_LIMIT_WRITES_ADDRESS: rate('600/1m'),
  RATE_LIMIT_UPLOADS_USER: rate('60/1h'),
  RATE_LIMIT_UPLOADS_ADDRESS: rate('300/1h'),
  RATE_LIMIT_SEARCH_USER: rate('60/1m'),
  RATE_LIMIT_SEARCH_ADDRESS: rate('300/1m'),
  RATE_LIMIT_READS_USER: rate('600/1m'),
  RATE_LIMIT_READS_ADDRESS: rate('3000/1m'),
  /** Multiplies every count above (load tests and the test suite lift them with a large one). */
  RATE_LIMIT_SCALE: z.coerce.number().positive().default(1),
  /** Image files a user may upload (multipart or direct) per hour, and their bytes per day. */
  UPLOAD_QUOTA_FILES_PER_HOUR: env.int(100),
  UPLOAD_QUOTA_BYTES_PER_DAY: env.int(2 * 1024 ** 3),
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
