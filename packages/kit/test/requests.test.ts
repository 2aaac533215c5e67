import { status } from '@grpc/grpc-js';
import { DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT } from '@shutter/contracts';
import { offsetPage, pageLimit, requireUser, requireUuid, type CallContext, type ServiceError } from '../src';

const failure = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error('expected a failure');
};

describe('request checks', () => {
  it('requireUser: the verified user, else UNAUTHENTICATED', () => {
    expect(requireUser({ userId: 'u1' } as CallContext)).toBe('u1');
    expect(failure(() => requireUser({} as CallContext)).code).toBe(status.UNAUTHENTICATED);
  });

  it('requireUuid: the value, else a validation error naming the field', () => {
    const id = '0190a6b4-0000-7000-8000-000000000000';
    expect(requireUuid('post_id', id)).toBe(id);
    const e = failure(() => requireUuid('post_id', 'nope'));
    expect([e.code, e.field, e.message]).toEqual([status.INVALID_ARGUMENT, 'post_id', 'post_id must be a UUID']);
  });

  it('pageLimit: 0 is the default, large is clamped, negative is refused', () => {
    expect(pageLimit(0)).toBe(DEFAULT_PAGE_LIMIT);
    expect(pageLimit(7)).toBe(7);
    expect(pageLimit(MAX_PAGE_LIMIT + 1)).toBe(MAX_PAGE_LIMIT);
    expect(failure(() => pageLimit(-1)).field).toBe('limit');
  });

  it('offsetPage: page 0 is the first, negative is refused; offset follows the clamped limit', () => {
    expect(offsetPage({ page: 0, limit: 0 })).toEqual({ page: 1, limit: DEFAULT_PAGE_LIMIT, offset: 0 });
    expect(offsetPage({ page: 3, limit: 1000 })).toEqual({ page: 3, limit: MAX_PAGE_LIMIT, offset: 2 * MAX_PAGE_LIMIT });
    expect(failure(() => offsetPage({ page: -1, limit: 10 })).field).toBe('page');
  });
});
