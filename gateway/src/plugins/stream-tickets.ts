import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from '@shutter/kit';
import { HttpError } from '../errors';
import type { Caller } from './auth';

const keyOf = (ticket: string) => `live:ticket:${createHash('sha256').update(ticket).digest('base64url')}`;

/**
 * Single-use tickets for `GET /api/events/stream?ticket=` (a browser's EventSource cannot send
 * Authorization). A ticket stands for the caller that asked for it, session and token expiry
 * included, so its stream closes when that token would have. Stored hashed in Redis, shared by
 * every gateway process, for `ttlSeconds`; redeeming is one GETDEL, so it works at most once.
 */
export function createStreamTickets(redis: Redis, ttlSeconds: number) {
  return {
    ttlSeconds,

    async issue(caller: Caller): Promise<string> {
      const ticket = randomBytes(32).toString('base64url');
      await redis.set(keyOf(ticket), JSON.stringify(caller), 'EX', ttlSeconds);
      return ticket;
    },

    /** The caller the ticket was issued to, once; null when unknown, used or expired. */
    async redeem(ticket: string): Promise<Caller | null> {
      if (ticket.length > 100) return null;
      const value = await redis.getdel(keyOf(ticket)).catch(() => {
        throw new HttpError(503, 'The event stream is unavailable. Try again shortly.', 'service_unavailable');
      });
      return value ? (JSON.parse(value) as Caller) : null;
    },
  };
}

export type StreamTickets = ReturnType<typeof createStreamTickets>;
