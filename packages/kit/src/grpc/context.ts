import type { Metadata } from '@grpc/grpc-js';

/**
 * What travels in gRPC metadata: request id and idempotency key in plain entries; the caller's
 * identity only inside the signed assertion (`x-shutter-caller`, internal-auth.ts).
 */
export const MD_REQUEST_ID = 'x-request-id';
export const MD_IDEMPOTENCY_KEY = 'idempotency-key';

/** Per-call context on both sides of a call. */
export interface CallMeta {
  requestId?: string;
  /** The end user; on the server, only as the gateway's verified assertion states it. */
  userId?: string;
  role?: string;
  sessionId?: string;
  idempotencyKey?: string;
}

/** The unsigned entries of a call's metadata (never identity). */
export function readMeta(md: Metadata): Pick<CallMeta, 'requestId' | 'idempotencyKey'> {
  const get = (k: string) => {
    const v = md.get(k)[0];
    return typeof v === 'string' && v !== '' ? v : undefined;
  };
  return { requestId: get(MD_REQUEST_ID), idempotencyKey: get(MD_IDEMPOTENCY_KEY) };
}
