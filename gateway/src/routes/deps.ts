import type { FastifyRequest } from 'fastify';
import type { CallOptions } from '@shutter/kit';
import type { ServiceClients } from '../clients';
import type { Media } from '../media';
import type { ProfileExtras } from '../profiles';

/** What every route plugin is built with (wired in app.ts). */
export interface RouteDeps {
  clients: ServiceClients;
  media: Media;
  profiles: ProfileExtras;
}

/**
 * The request id travels to services in gRPC metadata; the verified caller (user, role and the
 * session once access tokens name one) in the gateway's signed assertion (kit internal auth).
 */
export function grpcOpts(req: FastifyRequest, extra: Partial<CallOptions> = {}): CallOptions {
  const caller = req.caller as (typeof req.caller & { sessionId?: string }) | null;
  return { requestId: req.id, userId: caller?.userId, role: caller?.role, sessionId: caller?.sessionId, ...extra };
}
