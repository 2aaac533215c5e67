import type { ApiResponse } from '@shutter/testing';

/** A fault's envelope names no stack, address, SQL or gRPC transport text. */
export function expectNoInternals(res: ApiResponse): void {
  const detail = String(res.body.detail);
  expect(detail).not.toMatch(
    /\bat .+:\d+:\d+|\d{1,3}(\.\d{1,3}){3}|:\d{2,5}\b|ECONN|ETIMEDOUT|\b(select|insert|update) .+ from\b|knex|redis|grpc|no connection established|deadline exceeded/i,
  );
  expect(detail).not.toMatch(/UNAVAILABLE|DEADLINE_EXCEEDED|INTERNAL|Error:/);
  expect(Object.keys(res.body).sort()).toEqual(['code', 'detail', 'request_id']);
}

export async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = Date.now();
  const res = await fn();
  return [res, Date.now() - t0];
}
