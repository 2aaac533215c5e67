import type { FastifyRequest } from 'fastify';
import { HttpError } from '../errors';

// busboy's own errors are plain Errors: these are the ones a malformed form raises.
const BUSBOY_MALFORMED =
  /^(Multipart: Boundary not found|Unexpected end of multipart data|.* terminated early due to unexpected end of multipart data|Malformed)/;

/** A parser error about the form itself (no boundary, truncated) as a 400; anything else: null. */
export function malformedMultipart(err: unknown): HttpError | null {
  if (!(err instanceof Error) || err instanceof HttpError || !BUSBOY_MALFORMED.test(err.message)) return null;
  return new HttpError(400, 'The multipart form is malformed (a missing boundary or a truncated part).', 'malformed_multipart');
}

/**
 * After a refusal the client may still be sending files: the parser is detached and the rest is
 * read and dropped, so the client gets the error response instead of a stalled upload.
 */
export function discardRestOfBody(req: FastifyRequest): void {
  const raw = req.raw;
  if (raw.readableEnded) return;
  raw.unpipe();
  raw.resume();
}
