import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createLogger, createRedis, type Redis } from '@shutter/kit';
import { createEventConsumer, createOutboxRelay, enqueueEvent, migrate, outboxMigration, outboxTraceMigration, type Knex } from '@shutter/kit/db';
import { startRedisServer, testDb, unique, waitFor } from '@shutter/testing';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { renderAcl, ROLES } = require('../redis/acl.js') as {
  renderAcl(env: Record<string, string>, opts?: { outboxSchemas?: Record<string, string> }): string;
  ROLES: string[];
};

/**
 * infra/redis/acl.js against a private redis-server started with it: each process's user does
 * its job through the same code paths the services use (relay, consumer group, scripts, Pub/Sub)
 * and cannot touch another's keys or write the events stream unless it publishes events.
 */
const PREFIX = 'shutter:';
const password = (role: string) => `pw-${role}-0123456789abcdef`;
const env: Record<string, string> = { REDIS_KEY_PREFIX: PREFIX };
for (const r of ['gateway', 'identity', 'social-graph', 'content', 'notification']) env[`REDIS_PASSWORD_${r.toUpperCase().replace(/-/g, '_')}`] = password(r);
const log = createLogger('acl-test', 'silent');

let server: Awaited<ReturnType<typeof startRedisServer>>;
let dir: string;
let producerSchema: string;
let consumerSchema: string;
let producerDb: Knex;
let consumerDb: Knex;
const conns: Redis[] = [];

/** A connection as `role`, with the deployment's key prefix (as each process makes it). */
function as(role: string, pass = password(role)): Redis {
  const r = createRedis(`redis://${encodeURIComponent(role)}:${encodeURIComponent(pass)}@127.0.0.1:${server.port}`, PREFIX);
  r.on('error', () => undefined);
  conns.push(r);
  return r;
}
const refused = (p: Promise<unknown>) =>
  p.then(
    () => 'allowed',
    (err: Error) => (/NOPERM|no permissions|can't access|NOAUTH|WRONGPASS/.test(err.message) ? 'refused' : `error: ${err.message}`),
  );

beforeAll(async () => {
  producerSchema = unique('acl_producer_');
  consumerSchema = unique('acl_consumer_');
  producerDb = testDb(producerSchema);
  consumerDb = testDb(consumerSchema);
  await migrate(producerDb, producerSchema, [outboxMigration, outboxTraceMigration]);
  await migrate(consumerDb, consumerSchema, [outboxMigration, outboxTraceMigration]);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'redis-acl-'));
  const file = path.join(dir, 'users.acl');
  // content's relay publishes from this test's throw-away schema.
  fs.writeFileSync(file, renderAcl(env, { outboxSchemas: { content: producerSchema } }));
  server = await startRedisServer(undefined, { args: ['--aclfile', file] });
});

afterAll(async () => {
  for (const c of conns) c.disconnect();
  await server?.stop();
  await producerDb?.raw('DROP SCHEMA IF EXISTS ?? CASCADE', [producerSchema]);
  await consumerDb?.raw('DROP SCHEMA IF EXISTS ?? CASCADE', [consumerSchema]);
  await producerDb?.destroy();
  await consumerDb?.destroy();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('Redis ACL (infra/redis/acl.js)', () => {
  it('needs a process user and its password: the default user is off', async () => {
    const anonymous = createRedis(`redis://127.0.0.1:${server.port}`, PREFIX);
    anonymous.on('error', () => undefined);
    conns.push(anonymous);
    expect(await refused(anonymous.get('feed:x'))).toBe('refused');
    expect(await refused(as('content', 'wrong-password-wrong-password').get('feed:x'))).toBe('refused');
  });

  it('lets each process do its job', async () => {
    const gateway = as('gateway');
    const identity = as('identity');
    const graph = as('social-graph');
    const content = as('content');
    const notification = as('notification');

    // identity: login throttle, the disabled-accounts set (in MULTI, as revocation.ts writes it).
    await identity.incr('login:fail:email:a@b.c');
    await identity.expire('login:fail:email:a@b.c', 60);
    expect(await identity.get('login:fail:email:a@b.c')).toBe('1');
    await identity.multi().sadd('auth:disabled-users', 'u1').srem('auth:disabled-users', 'u2').exec();

    // identity: a session revocation and its message, in one MULTI (revocation.ts).
    const subscriber = gateway.duplicate({ enableAutoPipelining: false });
    subscriber.on('error', () => undefined);
    conns.push(subscriber);
    const received: string[] = [];
    subscriber.on('message', (_channel: string, message: string) => received.push(message));
    await subscriber.subscribe(`${PREFIX}auth:revocations`, `${PREFIX}notif:live:u1`);
    await identity
      .multi()
      .zadd('auth:revoked-sessions', Date.now() + 60_000, 's1')
      .incr('auth:revocations-version')
      .publish(`${PREFIX}auth:revocations`, 'revoked')
      .exec();
    await waitFor(() => received.includes('revoked'));

    // gateway: reads the revocation state, counts in its rate-limit script, holds stream slots and
    // tickets, subscribes to live events.
    const [version, disabled] = (await gateway.multi().get('auth:revocations-version').smembers('auth:disabled-users').exec())!;
    expect([version![1], disabled![1]]).toEqual(['1', ['u1']]);
    const rl = await gateway.eval(
      "local c = redis.call('INCR', KEYS[1]) if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end return {c, redis.call('PTTL', KEYS[1])}",
      1,
      'ratelimit:user:u1',
      '60000',
    );
    expect((rl as number[])[0]).toBe(1);
    await gateway
      .multi()
      .zadd('live:streams:u1', Date.now() + 30_000, 'stream-1')
      .zcard('live:streams:u1')
      .pexpire('live:streams:u1', 30_000)
      .exec();
    await gateway.set('live:ticket:abc', '{}', 'EX', 60);
    expect(await gateway.getdel('live:ticket:abc')).toBe('{}');
    await notification.publish(`${PREFIX}notif:live:u1`, 'hello');
    await waitFor(() => received.includes('hello'));

    // social-graph and content: their caches; notification: its unread hash through a script.
    expect(await graph.set('graph:user:u1', '{}', 'EX', 60, 'NX')).toBe('OK');
    await content.zadd('feed:u1', 1, 'p1');
    expect(await content.zrevrangebyscore('feed:u1', '+inf', '-inf')).toEqual(['p1']);
    await content.multi().set('post:p1', '{}', 'EX', 60).set('content:profile:u1', '{}', 'EX', 60).exec();
    expect(await content.mget('post:p1', 'content:profile:u1')).toEqual(['{}', '{}']);
    await notification.eval("redis.call('HSET', KEYS[1], 'c', ARGV[1]) return redis.call('EXPIRE', KEYS[1], 60)", 1, 'notif:unread:u1', '3');
    expect(await notification.hget('notif:unread:u1', 'c')).toBe('3');
  });

  it('carries events from a producer to a consumer group, dead letters included', async () => {
    const relay = createOutboxRelay({ db: producerDb, schema: producerSchema, redis: as('content'), log, pollMs: 50 });
    const handled: string[] = [];
    const consumer = createEventConsumer({
      db: consumerDb,
      redis: as('notification'),
      group: 'notification',
      log,
      blockMs: 100,
      claimIdleMs: 100,
      claimEveryMs: 100,
      maxDeliveries: 1,
      handle: async (event) => {
        if (event.key === 'poison') throw new Error('cannot apply');
        handled.push(event.key);
      },
    });
    relay.start();
    consumer.start();
    try {
      for (const key of ['k1', 'poison', 'k2'])
        await producerDb.transaction((trx) => enqueueEvent(trx, { type: 'test.happened', key, payload: Buffer.from('x') }));
      await waitFor(() => handled.length === 2);
      expect(handled).toEqual(['k1', 'k2']);
      const notification = as('notification');
      await waitFor(async () => (await notification.xlen('events:dead')) === 1);
    } finally {
      await consumer.stop();
      await relay.stop();
    }
  });

  it("refuses every process another's keys, and the events stream to all but its producers", async () => {
    const keyOf: Record<string, string> = {
      gateway: 'ratelimit:user:x',
      identity: 'login:fail:ip:1.2.3.4',
      'social-graph': 'graph:user:x',
      content: 'post:x',
      notification: 'notif:unread:x',
    };
    const outcomes: Record<string, string> = {};
    for (const role of ROLES) {
      const r = as(role);
      for (const [owner, key] of Object.entries(keyOf)) {
        if (owner === role) continue;
        outcomes[`${role} GET ${owner}`] = await refused(r.get(key));
        outcomes[`${role} SET ${owner}`] = await refused(r.set(key, 'forged'));
        outcomes[`${role} DEL ${owner} (script)`] = await refused(r.eval("return redis.call('DEL', KEYS[1])", 1, key));
      }
      outcomes[`${role} XADD events`] = await refused(r.xadd('events', '*', 'id', 'forged', 'type', 'user.disabled'));
      outcomes[`${role} DEL events`] = await refused(r.del('events'));
      outcomes[`${role} XRANGE events`] = await refused(r.xrange('events', '-', '+'));
      outcomes[`${role} FLUSHALL`] = await refused(r.flushall());
      outcomes[`${role} KEYS`] = await refused(r.keys('*'));
      outcomes[`${role} CONFIG`] = await refused(r.config('GET', 'requirepass'));
    }
    // The gateway only reads the revocation state: it cannot clear it nor announce a change.
    outcomes['gateway SREM auth'] = await refused(as('gateway').srem('auth:disabled-users', 'u1'));
    outcomes['gateway ZREM auth'] = await refused(as('gateway').zrem('auth:revoked-sessions', 's1'));
    outcomes['gateway PUBLISH revocations'] = await refused(as('gateway').publish(`${PREFIX}auth:revocations`, 'forged'));
    outcomes['gateway PUBLISH live'] = await refused(as('gateway').publish(`${PREFIX}notif:live:u1`, 'forged'));
    outcomes['notification PUBLISH revocations'] = await refused(as('notification').publish(`${PREFIX}auth:revocations`, 'forged'));
    outcomes['content SUBSCRIBE revocations'] = await refused(as('content').subscribe(`${PREFIX}auth:revocations`));

    const producers = new Set(['identity', 'social-graph', 'content']);
    const expected = Object.fromEntries(
      Object.keys(outcomes).map((k) => [k, k.endsWith('XADD events') && producers.has(k.split(' ')[0]!) ? 'allowed' : 'refused']),
    );
    expect(outcomes).toEqual(expected);
  });
});
