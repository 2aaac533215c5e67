import { Metadata, status } from '@grpc/grpc-js';
import { fromGrpc } from '../src/errors';
import { describeValidationError } from '../src/plugins/validation';

const grpcError = (code: status, details: string, md: Record<string, string> = {}) => {
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(md)) metadata.set(k, v);
  return Object.assign(new Error(details), { code, details, metadata });
};

describe('the gRPC status → HTTP table', () => {
  it.each([
    [status.INVALID_ARGUMENT, 400],
    [status.UNAUTHENTICATED, 401],
    [status.PERMISSION_DENIED, 403],
    [status.NOT_FOUND, 404],
    [status.ALREADY_EXISTS, 409],
    [status.FAILED_PRECONDITION, 409],
    [status.RESOURCE_EXHAUSTED, 429],
    [status.UNAVAILABLE, 503],
    [status.DEADLINE_EXCEEDED, 504],
  ])('%s → %s', (code, http) => {
    expect(fromGrpc(grpcError(code, 'x'))?.statusCode).toBe(http);
  });

  it('leaves INTERNAL and UNKNOWN to the 500 path', () => {
    expect(fromGrpc(grpcError(status.INTERNAL, 'db exploded'))).toBeNull();
    expect(fromGrpc(grpcError(status.UNKNOWN, 'x'))).toBeNull();
  });

  it('lets a reason select 413/415/422 and carries field and Retry-After', () => {
    expect(fromGrpc(grpcError(status.INVALID_ARGUMENT, 'too big', { 'x-error-reason': 'payload_too_large' }))?.statusCode).toBe(413);
    expect(fromGrpc(grpcError(status.INVALID_ARGUMENT, 'gif', { 'x-error-reason': 'unsupported_media_type' }))?.statusCode).toBe(415);
    const v = fromGrpc(grpcError(status.INVALID_ARGUMENT, 'email must be valid', { 'x-error-reason': 'validation_error', 'x-error-field': 'email' }));
    expect(v).toMatchObject({ statusCode: 422, code: 'validation_error', extra: { errors: [{ field: 'body.email', message: 'email must be valid' }] } });
    expect(fromGrpc(grpcError(status.RESOURCE_EXHAUSTED, 'slow down', { 'retry-after': '30' }))?.extra.retryAfter).toBe(30);
  });

  it('never passes transport details of 503/504 to the client', () => {
    const e = fromGrpc(grpcError(status.UNAVAILABLE, 'No connection established. Last error: connect ECONNREFUSED 10.0.0.3:50051'));
    expect(e?.message).not.toMatch(/ECONNREFUSED|10\.0\.0\.3/);
  });
});

describe('validation messages', () => {
  const err = (keyword: string, instancePath: string, params: Record<string, unknown>, parentSchema?: object) =>
    ({ keyword, instancePath, params, parentSchema, schemaPath: '', message: '' }) as never;

  it('names the field and the rule in words', () => {
    expect(describeValidationError(err('minLength', '/password', { limit: 8 }), 'body')).toEqual({
      field: 'body.password',
      message: 'password must be at least 8 characters',
    });
    expect(describeValidationError(err('required', '', { missingProperty: 'email' }), 'body')).toEqual({ field: 'body.email', message: 'email is required' });
    expect(describeValidationError(err('minimum', '/page', { limit: 1 }), 'querystring')).toEqual({ field: 'query.page', message: 'page must be at least 1' });
    expect(describeValidationError(err('type', '', { type: 'object' }), 'body').message).toBe('request body must be an object');
  });

  it("uses a schema's errorMessage for patterns and formats", () => {
    const e = describeValidationError(err('pattern', '/username', { pattern: '^x$' }, { errorMessage: 'username must be nice' }), 'body');
    expect(e.message).toBe('username must be nice');
  });
});
