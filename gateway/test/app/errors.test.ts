import { ServiceError, GrpcStatus, payloadTooLarge, resourceExhausted, unsupportedMediaType, validationFailed } from '@shutter/kit';
import { expectError } from '@shutter/testing';
import { testApp, type TestApp } from './test-app';

/**
 * What a service's gRPC status becomes on the wire (docs/api.md *Conventions*, STYLE habit 6): the
 * one table in src/errors.ts, the error envelope, the request id, and nothing internal leaking.
 * The table itself is unit-tested in ../errors.test.ts; here it is seen through a real route.
 */

let t: TestApp;
let token: string;
beforeAll(async () => {
  t = await testApp();
  token = (await t.signIn()).token;
});
afterAll(() => t?.stop());

/** The profile route with identity's GetProfile failing as `err`. */
async function profileFailing(err: Error) {
  t.fakes.use({
    identity: {
      getProfile: async () => {
        throw err;
      },
    },
  });
  return t.api.get('/api/users/0190a8d2-0000-7000-8000-000000000000', { token });
}

describe('gRPC status → HTTP', () => {
  it.each([
    [GrpcStatus.INVALID_ARGUMENT, 400, 'bad_request'],
    [GrpcStatus.UNAUTHENTICATED, 401, 'unauthorized'],
    [GrpcStatus.PERMISSION_DENIED, 403, 'forbidden'],
    [GrpcStatus.NOT_FOUND, 404, 'not_found'],
    [GrpcStatus.ALREADY_EXISTS, 409, 'conflict'],
    [GrpcStatus.FAILED_PRECONDITION, 409, 'conflict'],
    [GrpcStatus.UNAVAILABLE, 503, 'service_unavailable'],
  ])('status %s → %s in the envelope, with the service’s reason as its code', async (code, http, reason) => {
    const res = await profileFailing(new ServiceError(code, 'The service says no.', reason));
    expectError(res, http);
    expect(res.body.code).toBe(reason);
    expect(Object.keys(res.body).sort()).toEqual(['code', 'detail', 'request_id']);
  });

  it('a reason selects 413, 415 and 422 (naming the field); RESOURCE_EXHAUSTED carries Retry-After', async () => {
    expectError(await profileFailing(payloadTooLarge('Too big.')), 413);
    expectError(await profileFailing(unsupportedMediaType('Not an image.')), 415);
    const invalid = await profileFailing(validationFailed('username', 'username must be 3–30 characters'));
    expectError(invalid, 422, /^username must be 3–30 characters$/);
    expect(invalid.body.errors).toEqual([{ field: 'body.username', message: 'username must be 3–30 characters' }]);
    const throttled = await profileFailing(resourceExhausted('Slow down.', 30));
    expectError(throttled, 429);
    expect(throttled.headers.get('retry-after')).toBe('30');
  });

  it('INTERNAL and UNKNOWN are a 500 whose detail says nothing of the cause', async () => {
    for (const code of [GrpcStatus.INTERNAL, GrpcStatus.UNKNOWN]) {
      const res = await profileFailing(new ServiceError(code, 'select * from identity.users exploded at 10.0.0.3:5432', 'internal'));
      expectError(res, 500, /^Internal server error\.$/);
    }
  });

  it('a service that does not answer → 503, with no transport text', async () => {
    const gone = await testApp({ env: { IDENTITY_ADDR: '127.0.0.1:1' } });
    try {
      // Keys come from identity too: a token cannot even be checked.
      const res = await gone.api.get('/api/users/me', { token: (await gone.signIn()).token });
      expectError(res, 503);
      expect(res.body.detail).not.toMatch(/ECONN|127\.0\.0\.1|:1\b|grpc|No connection/i);
    } finally {
      await gone.stop();
    }
  });

  it('a service slower than the deadline → 504', async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slow = await testApp({
      env: { GRPC_DEADLINE_MS: '200' },
      fakes: {
        identity: {
          getProfile: async () => {
            await held; // answers only after the test is over
            throw new ServiceError(GrpcStatus.NOT_FOUND, 'late', 'not_found');
          },
        },
      },
    });
    try {
      const res = await slow.api.get('/api/users/0190a8d2-0000-7000-8000-000000000000', { token: (await slow.signIn()).token });
      expectError(res, 504);
      expect(res.body.code).toBe('gateway_timeout');
    } finally {
      release();
      await slow.stop();
    }
  });
});

describe('the envelope', () => {
  it('an unknown route is a 404 in the envelope; the request id is echoed, or made', async () => {
    const res = await t.api.get('/api/nothing-here', { token, headers: { 'x-request-id': 'req-123' } });
    expectError(res, 404);
    expect(res.body.request_id).toBe('req-123');
    const made = await t.api.get('/healthz', { headers: { 'x-request-id': 'not a valid id!' } });
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('the request id reaches the service in the call metadata', async () => {
    await profileFailing(new ServiceError(GrpcStatus.NOT_FOUND, 'No such user.', 'not_found'));
    t.fakes.calls.length = 0;
    await t.api.get('/api/users/0190a8d2-0000-7000-8000-000000000000', { token, headers: { 'x-request-id': 'trace-me' } });
    expect(t.fakes.calls.map((c) => [c.method, c.requestId])).toEqual([['getProfile', 'trace-me']]);
  });
});
