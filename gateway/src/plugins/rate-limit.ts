import fp from 'fastify-plugin';
import rateLimit from '@fastify/rate-limit';
import type { Redis } from '@shutter/kit';
import { HttpError } from '../errors';

const UNLIMITED = new Set(['/healthz', '/readyz', '/', '/openapi.json', '/.well-known/jwks.json']);

/**
 * Per-caller rate limit (ARCHITECTURE.md: nginx limits by IP, the gateway by user): a fixed
 * window in Redis shared by every gateway process, keyed by user id (by IP before sign-in).
 * Runs after authentication (preHandler) so the caller is known; preflights, health and docs
 * are not limited. Every limited response carries X-RateLimit-Limit/-Remaining/-Reset.
 */
export default fp<{ redis: Redis; max: number; windowMs: number }>(
  async (app, { redis, max, windowMs }) => {
    await app.register(rateLimit, {
      global: true,
      hook: 'preHandler',
      max,
      timeWindow: windowMs,
      redis,
      nameSpace: 'ratelimit:',
      skipOnError: true, // Redis down: serve rather than refuse everyone
      keyGenerator: (req) => (req.caller ? `user:${req.caller.userId}` : `ip:${req.ip}`),
      allowList: (req) => req.method === 'OPTIONS' || UNLIMITED.has(req.url.split('?')[0] ?? '') || req.url.startsWith('/docs'),
      errorResponseBuilder: (_req, ctx) =>
        new HttpError(429, `Too many requests. Try again in ${ctx.after}.`, 'rate_limited', { retryAfter: Math.max(1, Math.ceil(ctx.ttl / 1000)) }),
    });
  },
  { name: 'rate-limit', dependencies: ['auth'] },
);
