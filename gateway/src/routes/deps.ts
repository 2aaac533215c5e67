import type { FastifyRequest } from 'fastify';
import type { CallOptions } from '@shutter/kit';
import type { ServiceClients } from '../clients';
import type { Media } from '../media';
import type { UploadQuota } from '../upload-quota';

/** What every route plugin is built with (wired in app.ts). */
export interface RouteDeps {
  clients: ServiceClients;
  media: Media;
  /** Per-user upload quotas (the streamed uploads of `media` already count against them). */
  quota: UploadQuota;
}

/**
 * The request id travels to services in gRPC metadata; the verified caller (user, role, session)
 * in the gateway's signed assertion (kit internal auth).
 */
export function grpcOpts(req: FastifyRequest, extra: Partial<CallOptions> = {}): CallOptions {
  return { requestId: req.id, userId: req.caller?.userId, role: req.caller?.role, sessionId: req.caller?.sessionId, ...extra };
}
