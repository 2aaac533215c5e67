import { isBackendUnavailable } from '../src';

describe('isBackendUnavailable', () => {
  it.each([
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
    ['a Postgres connection exception', Object.assign(new Error('x'), { code: '08006' })],
    ['a Postgres shutting down', Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' })],
    ['a connection lost mid-statement (knex prefixes the SQL)', new Error('COMMIT; - Connection terminated unexpectedly')],
    ['a pooled client whose connection broke', new Error('ROLLBACK - Client has encountered a connection error and is not queryable')],
    ["knex's acquire timeout", Object.assign(new Error('Knex: Timeout acquiring a connection.'), { name: 'KnexTimeoutError' })],
    ["ioredis' offline error", new Error("Stream isn't writeable and enableOfflineQueue options is false")],
    ["ioredis' command timeout", new Error('Command timed out')],
    ["ioredis' retries exhausted", Object.assign(new Error('Reached the max retries per request limit'), { name: 'MaxRetriesPerRequestError' })],
  ])('%s is an outage', (_what, err) => {
    expect(isBackendUnavailable(err)).toBe(true);
  });

  it.each([
    ['a bug', new TypeError("Cannot read properties of undefined (reading 'id')")],
    ['a constraint violation', Object.assign(new Error('duplicate key'), { code: '23505' })],
    ['a syntax error', Object.assign(new Error('syntax error at or near'), { code: '42601' })],
    ['not an error', 'boom'],
  ])('%s is not', (_what, err) => {
    expect(isBackendUnavailable(err)).toBe(false);
  });
});
