import { DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT } from '@shutter/contracts';
import { unauthenticated, validationFailed } from '../errors';
import { isUuid } from '../ids';
import type { CallContext } from './server';

/*
 * Checks every handler makes of a request. Proto3 sends 0 and '' for what the caller left out,
 * so those mean "the default"; anything else out of range is the caller's error (INVALID_ARGUMENT).
 */

/** The verified end user of the call (kit internal auth); UNAUTHENTICATED without one. */
export function requireUser(ctx: CallContext): string {
  if (!ctx.userId) throw unauthenticated('Not authenticated');
  return ctx.userId;
}

/** The value if it is a UUID, else a validation error naming the field. */
export function requireUuid(field: string, value: string): string {
  if (!isUuid(value)) throw validationFailed(field, `${field} must be a UUID`);
  return value;
}

/** A list's `limit`: 0 → DEFAULT_PAGE_LIMIT, clamped to MAX_PAGE_LIMIT; negative is refused. */
export function pageLimit(limit: number): number {
  if (limit < 0) throw validationFailed('limit', 'limit must be at least 1');
  return Math.min(limit || DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT);
}

/** Offset paging: `page` from 1 (0 → 1; negative is refused) and `limit` as pageLimit. */
export function offsetPage(req: { page: number; limit: number }): { page: number; limit: number; offset: number } {
  if (req.page < 0) throw validationFailed('page', 'page must be at least 1');
  const page = req.page || 1;
  const limit = pageLimit(req.limit);
  return { page, limit, offset: (page - 1) * limit };
}
