import type { FastifyRequest } from 'fastify';
import type { CallOptions } from '@shutter/kit';
import type { ServiceClients } from '../clients';
import type { Media } from '../media';

/** What every route plugin is built with (wired in app.ts). */
export interface RouteDeps {
  clients: ServiceClients;
  media: Media;
}

/** Request id and caller identity travel to services in gRPC metadata. */
export function grpcOpts(req: FastifyRequest, extra: Partial<CallOptions> = {}): CallOptions {
  return { requestId: req.id, userId: req.caller?.userId, role: req.caller?.role, ...extra };
}
