import type { FastifyRequest } from 'fastify';

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
