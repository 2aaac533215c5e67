import { status, Metadata } from '@grpc/grpc-js';

export { status as GrpcStatus };

/**
 * The one error type services throw. It carries a gRPC status, a human sentence, a snake_case
 * `reason` (the public `code` of the error envelope) and optionally the field at fault.
 */
export class ServiceError extends Error {
  constructor(
    readonly code: status,
    message: string,
    readonly reason: string,
    readonly field?: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'ServiceError';
  }

  /** The trailing metadata that carries reason/field/retry-after to the caller. */
  toMetadata(): Metadata {
    const md = new Metadata();
    md.set('x-error-reason', this.reason);
    if (this.field) md.set('x-error-field', this.field);
    if (this.retryAfterSeconds !== undefined) md.set('retry-after', String(this.retryAfterSeconds));
    return md;
  }
}

export const invalidArgument = (message: string, reason = 'bad_request') => new ServiceError(status.INVALID_ARGUMENT, message, reason);
/** A field rule broken: the gateway answers 422 with the field named. */
export const validationFailed = (field: string, message: string) => new ServiceError(status.INVALID_ARGUMENT, message, 'validation_error', field);
export const notFound = (message: string, reason = 'not_found') => new ServiceError(status.NOT_FOUND, message, reason);
export const alreadyExists = (message: string, reason = 'conflict') => new ServiceError(status.ALREADY_EXISTS, message, reason);
export const failedPrecondition = (message: string, reason = 'conflict') => new ServiceError(status.FAILED_PRECONDITION, message, reason);
export const permissionDenied = (message: string, reason = 'forbidden') => new ServiceError(status.PERMISSION_DENIED, message, reason);
export const unauthenticated = (message: string, reason = 'unauthorized') => new ServiceError(status.UNAUTHENTICATED, message, reason);
export const resourceExhausted = (message: string, retryAfterSeconds: number, reason = 'too_many_requests') =>
  new ServiceError(status.RESOURCE_EXHAUSTED, message, reason, undefined, retryAfterSeconds);
/** Payload too large / unsupported media type have no gRPC status: the reason selects 413/415. */
/** The caller went away or its deadline passed: an expected end of a call, not a server error. */
export const callCancelled = () => new ServiceError(status.CANCELLED, 'The call was cancelled.', 'cancelled');
export const payloadTooLarge = (message: string) => new ServiceError(status.INVALID_ARGUMENT, message, 'payload_too_large');
export const unsupportedMediaType = (message: string) => new ServiceError(status.INVALID_ARGUMENT, message, 'unsupported_media_type');

/** Postgres unique violation, for repositories translating driver errors. */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const e = err as { code?: string; constraint?: string };
  return e?.code === '23505' && (constraint === undefined || e.constraint === constraint);
}

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);
// knex prefixes a driver's message with the statement (`COMMIT; - Connection terminated
// unexpectedly`): pg's connection losses are matched after that prefix too (make chaos met them
// as 500s while Postgres restarted).
const UNREACHABLE_MESSAGES = [
  /^Command timed out$/,
  /^Stream isn't writeable/,
  /^Connection is closed\.?$/,
  /(^| - )Connection terminated/,
  /Client has encountered a connection error and is not queryable/,
  /timeout exceeded when trying to connect/i,
];

/**
 * A backing store (Postgres, Redis) that is down, unreachable or refusing connections: the
 * service is unavailable (UNAVAILABLE → 503), not broken (INTERNAL → 500). Covers the network
 * errors, Postgres' connection-exception and shutdown SQLSTATEs, knex's pool acquire timeout and
 * ioredis' offline, timeout and retries-exhausted errors.
 */
export function isBackendUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; name?: unknown; message?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  const code = typeof e.code === 'string' ? e.code : '';
  if (UNREACHABLE_CODES.has(code)) return true;
  if (/^08...$/.test(code) || ['57P01', '57P02', '57P03', '53300'].includes(code)) return true;
  if (e.name === 'KnexTimeoutError' || e.name === 'MaxRetriesPerRequestError') return true;
  const message = typeof e.message === 'string' ? e.message : '';
  return UNREACHABLE_MESSAGES.some((re) => re.test(message));
}
