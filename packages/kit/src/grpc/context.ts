import type { Metadata } from '@grpc/grpc-js';

/** What travels in gRPC metadata: request id, caller identity. */
export const MD_REQUEST_ID = 'x-request-id';
export const MD_USER_ID = 'x-user-id';
export const MD_USER_ROLE = 'x-user-role';
export const MD_IDEMPOTENCY_KEY = 'idempotency-key';

/** Per-call context on both sides of a call. */
export interface CallMeta {
  requestId?: string;
  userId?: string;
  role?: string;
  idempotencyKey?: string;
}

export function readMeta(md: Metadata): CallMeta {
  const get = (k: string) => {
    const v = md.get(k)[0];
    return typeof v === 'string' && v !== '' ? v : undefined;
  };
  return { requestId: get(MD_REQUEST_ID), userId: get(MD_USER_ID), role: get(MD_USER_ROLE), idempotencyKey: get(MD_IDEMPOTENCY_KEY) };
}
