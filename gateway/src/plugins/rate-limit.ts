import fp from 'fastify-plugin';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Redis } from '@shutter/kit';
import type { GatewayConfig, Rate } from '../config';
import { HttpError } from '../errors';

/** API.md's classes of route, each limited per user and per client address. */
export type RouteClass = 'signup' | 'auth' | 'writes' | 'uploads' | 'search' | 'reads';

const UNLIMITED = new Set(['/healthz', '/readyz', '/', '/openapi.json', '/.well-known/jwks.json']);
const AUTH_ROUTES = new Set(['POST /api/users/login', 'POST /api/users/refresh', 'PATCH /api/users/password']);

/**
 * The class of a request, from its route pattern (not its raw URL: `/api/users/<id>` is one
 * route), method and, for the two that search, its query. Null: not limited.
 */
export function routeClass(req: FastifyRequest): RouteClass | null {
  const route = req.routeOptions.url;
  const path = route ?? req.url.split('?')[0] ?? '';
  if (req.method === 'OPTIONS' || UNLIMITED.has(path) || path.startsWith('/docs')) return null;
  const key = `${req.method} ${path.replace(/\/$/, '')}`;
  if (key === 'POST /api/users/register') return 'signup';
  if (AUTH_ROUTES.has(key)) return 'auth';
  if (key === 'POST /api/media/uploads' || ((key === 'POST /api/posts' || key === 'PATCH /api/users') && req.isMultipart())) return 'uploads';
  const query = req.query as Record<string, unknown> | undefined;
  if (key === 'GET /api/users' || (key === 'GET /api/posts' && query?.search !== undefined)) return 'search';
  return req.method === 'GET' || req.method === 'HEAD' ? 'reads' : 'writes';
}

type Who = 'user' | 'address';

/** The configured limit of a class for users or addresses (sign-up has no user). */
function rateOf(config: GatewayConfig, cls: RouteClass, who: Who): Rate | null {
  const name = `RATE_LIMIT_${cls.toUpperCase()}_${who === 'user' ? 'USER' : 'ADDRESS'}` as keyof GatewayConfig;
  return (config[name] as Rate | undefined) ?? null;
}

function setHeaders(reply: FastifyReply, limit: number, res: RateLimiterRes): void {
  reply.header('x-ratelimit-limit', String(limit));
  reply.header('x-ratelimit-remaining', String(Math.max(0, res.remainingPoints)));
  reply.header('x-ratelimit-reset', String(Math.max(0, Math.ceil(res.msBeforeNext / 1000))));
}

/**
 * Per-class limits (API.md *Conventions*): each request takes one point from its class's window
 * for its user (when signed in) and for its client address, in Redis shared by every gateway
 * process (rate-limiter-flexible: one atomic Lua step per key). It runs in preParsing, after
 * authentication and before any body is read, so a refused upload costs no bytes. Responses carry
 * X-RateLimit-* of the tighter window; over either → 429 with Retry-After. Redis down: served
 * (the gateway keeps working; identity's login throttle fails closed on its own).
 */
export default fp<{ redis: Redis; config: GatewayConfig }>(
  async (app, { redis, config }) => {
    const limiters = new Map<string, { limiter: RateLimiterRedis; points: number }>();
    const limiterOf = (cls: RouteClass, who: Who) => {
      const id = `${cls}:${who}`;
      let entry = limiters.get(id);
      if (!entry) {
        const rate = rateOf(config, cls, who);
        if (!rate) return null;
        const points = Math.max(1, Math.floor(rate.points * config.RATE_LIMIT_SCALE));
        entry = { limiter: new RateLimiterRedis({ storeClient: redis, keyPrefix: `ratelimit:${id}`, points, duration: rate.seconds }), points };
        limiters.set(id, entry);
      }
      return entry;
    };
    let lastWarned = 0;

    app.addHook('preParsing', async (req, reply, payload) => {
      const cls = routeClass(req);
      if (!cls) return payload;
      const checks: Array<{ entry: { limiter: RateLimiterRedis; points: number }; key: string }> = [];
      const byUser = req.caller ? limiterOf(cls, 'user') : null;
      if (byUser && req.caller) checks.push({ entry: byUser, key: req.caller.userId });
      const byAddress = limiterOf(cls, 'address');
      if (byAddress) checks.push({ entry: byAddress, key: req.ip });
      const results = await Promise.allSettled(checks.map((c) => c.entry.limiter.consume(c.key)));

      let tightest: { limit: number; res: RateLimiterRes } | undefined;
      let refused: { limit: number; res: RateLimiterRes } | undefined;
      results.forEach((r, i) => {
        const limit = checks[i]!.entry.points;
        if (r.status === 'fulfilled') {
          if (!tightest || r.value.remainingPoints < tightest.res.remainingPoints) tightest = { limit, res: r.value };
        } else if (r.reason instanceof RateLimiterRes) {
          if (!refused || r.reason.msBeforeNext > refused.res.msBeforeNext) refused = { limit, res: r.reason };
        } else if (Date.now() - lastWarned > 10_000) {
          lastWarned = Date.now();
          req.log.warn({ err: r.reason }, 'rate limit not applied: Redis unavailable');
        }
      });
      if (refused) {
        setHeaders(reply, refused.limit, refused.res);
        const seconds = Math.max(1, Math.ceil(refused.res.msBeforeNext / 1000));
        throw new HttpError(429, `Too many requests. Try again in ${seconds} second${seconds === 1 ? '' : 's'}.`, 'rate_limited', { retryAfter: seconds });
      }
      if (tightest) setHeaders(reply, tightest.limit, tightest.res);
      return payload;
    });
  },
  { name: 'rate-limit', dependencies: ['auth'] },
);
