import { status as GrpcStatus, type ServiceError as GrpcError } from '@grpc/grpc-js';
import { INTERNAL_AUTH_REASON } from '@shutter/kit';

/** An error the gateway itself answers with (auth, path rules): status, sentence, code. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly code: string,
    readonly extra: { errors?: Array<{ field: string; message: string }>; retryAfter?: number } = {},
  ) {
    super(message);
  }
}

export const notAuthenticated = () => new HttpError(401, 'Not authenticated', 'not_authenticated');
export const invalidCredentials = () => new HttpError(401, 'Could not validate credentials', 'invalid_token');
export const forbidden = (message = 'You are not allowed to do this.') => new HttpError(403, message, 'forbidden');
export const notFound = (message = 'Not found.') => new HttpError(404, message, 'not_found');
export const validation = (field: string, message: string) => new HttpError(422, message, 'validation_error', { errors: [{ field, message }] });

/** The one gRPC status → HTTP table (docs/architecture.md *Contracts*). */
export const HTTP_STATUS_OF: Readonly<Partial<Record<GrpcStatus, number>>> = {
  [GrpcStatus.INVALID_ARGUMENT]: 400,
  [GrpcStatus.UNAUTHENTICATED]: 401,
  [GrpcStatus.PERMISSION_DENIED]: 403,
  [GrpcStatus.NOT_FOUND]: 404,
  [GrpcStatus.ALREADY_EXISTS]: 409,
  [GrpcStatus.FAILED_PRECONDITION]: 409,
  [GrpcStatus.RESOURCE_EXHAUSTED]: 429,
  [GrpcStatus.UNAVAILABLE]: 503,
  [GrpcStatus.DEADLINE_EXCEEDED]: 504,
};

/** Reasons that select an HTTP status gRPC has no code for. */
const HTTP_STATUS_OF_REASON: Readonly<Record<string, number>> = {
  validation_error: 422,
  payload_too_large: 413,
  unsupported_media_type: 415,
};

const DEFAULT_CODE: Readonly<Record<number, string>> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  429: 'too_many_requests',
  503: 'service_unavailable',
  504: 'gateway_timeout',
};

export function isGrpcError(err: unknown): err is GrpcError {
  const e = err as GrpcError;
  return typeof e?.code === 'number' && typeof e.details === 'string' && typeof e.metadata?.get === 'function';
}

/** Turns a service's gRPC error into the HTTP error the client sees; unknown statuses → null (500). */
export function fromGrpc(err: GrpcError): HttpError | null {
  const first = (k: string) => {
    const v = err.metadata.get(k)[0];
    return typeof v === 'string' ? v : undefined;
  };
  const reason = first('x-error-reason');
  // A service refused the gateway's own internal credential: a deployment fault (500), not the client's.
  if (reason === INTERNAL_AUTH_REASON) return null;
  const status = (reason && HTTP_STATUS_OF_REASON[reason]) ?? HTTP_STATUS_OF[err.code];
  if (!status) return null;
  // Details of 503/504 come from the transport, not from a service: say it plainly.
  if (status === 503) return new HttpError(503, 'A service is unavailable. Try again shortly.', 'service_unavailable');
  if (status === 504) return new HttpError(504, 'A service took too long to answer.', 'gateway_timeout');
  const field = first('x-error-field');
  const retryAfter = first('retry-after');
  return new HttpError(status, err.details, reason ?? DEFAULT_CODE[status] ?? 'error', {
    ...(field ? { errors: [{ field: `body.${field}`, message: err.details }] } : {}),
    ...(retryAfter ? { retryAfter: Number(retryAfter) } : {}),
  });
}
