import * as os from 'node:os';
import { spawnSync } from 'node:child_process';
import { groupConsumers } from '../src/outbox/stream-entries';
import { commitEvent, effects, memoryLog, outboxFixture, pendingCount, recordEffect, waitFor } from './outbox-helpers';

/**
 * A process killed with entries read but not acknowledged (`make chaos`: SIGKILL notification)
 * is restarted under another pid, so another consumer name: its entries must not wait claimIdleMs.
 * Nor must an entry whose handler met an outage (a peer restarting, Postgres down).
 */
describe('a consumer restarted after a crash', () => {
  const fx = outboxFixture();

  it("takes over the entries of this host's dead consumer at once and removes it from the group", async () => {
    const { db, redis, stream } = fx;
    const { log } = memoryLog();
    const ids = [await commitEvent(db, 'a'), await commitEvent(db, 'b')];
    const relay = fx.relay(log);
    relay.start();
    await waitFor('published', async () => (await redis.xlen(stream)) === 2);

    // The predecessor: a consumer named <host>-<pid> of a process that has exited, holding both entries.
    const deadPid = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    const dead = `${os.hostname()}-${deadPid}`;
    await redis.call('xgroup', 'CREATE', `${redis.options.keyPrefix ?? ''}${stream}`, 'g', '0', 'MKSTREAM');
    await redis.xreadgroup('GROUP', 'g', dead, 'COUNT', 10, 'STREAMS', stream, '>');
    expect(await pendingCount(redis, stream, 'g')).toBe(2);

    // claimIdleMs of a minute: only the take-over can explain a delivery within the wait below.
    const consumer = fx.consumer({ log, group: 'g', claimIdleMs: 60_000, handle: recordEffect('g') });
    consumer.start();
    await waitFor('both applied', async () => (await effects(db, 'g')).length === 2);
    expect((await effects(db, 'g')).map((e) => e.event_id)).toEqual(ids);
    await waitFor('nothing pending', async () => (await pendingCount(redis, stream, 'g')) === 0);
    await waitFor('the dead consumer left the group', async () => !(await groupConsumers(redis, stream, 'g')).some((c) => c.name === dead));
  });

  it("leaves a live process's entries alone until claimIdleMs", async () => {
    const { db, redis, stream } = fx;
    const { log } = memoryLog();
    await commitEvent(db, 'a');
    const relay = fx.relay(log);
    relay.start();
    await waitFor('published', async () => (await redis.xlen(stream)) === 1);
    // This very process: alive, perhaps just slow.
    const live = `${os.hostname()}-${process.pid}`;
    await redis.call('xgroup', 'CREATE', `${redis.options.keyPrefix ?? ''}${stream}`, 'g', '0', 'MKSTREAM');
    await redis.xreadgroup('GROUP', 'g', live, 'COUNT', 10, 'STREAMS', stream, '>');
    const consumer = fx.consumer({ log, group: 'g', consumer: 'other', claimIdleMs: 60_000, handle: recordEffect('g') });
    consumer.start();
    // A later event applied means the consumer has turned (each start begins with a claim pass).
    const later = await commitEvent(db, 'later');
    await waitFor('the later event applied', async () => (await effects(db, 'g')).length > 0);
    expect((await effects(db, 'g')).map((e) => e.event_id)).toEqual([later]);
    expect((await groupConsumers(redis, stream, 'g')).map((c) => c.name)).toContain(live);
  });

  it('retries an entry whose handler met an outage in place, without waiting claimIdleMs or spending deliveries', async () => {
    const { db, redis, stream } = fx;
    const { log } = memoryLog();
    const id = await commitEvent(db, 'a');
    const relay = fx.relay(log);
    relay.start();
    let calls = 0;
    const consumer = fx.consumer({
      log,
      group: 'g',
      claimIdleMs: 60_000,
      maxDeliveries: 2,
      handle: async (e, trx) => {
        calls++;
        // A gRPC peer restarting: UNAVAILABLE, three times.
        if (calls <= 3) throw Object.assign(new Error('14 UNAVAILABLE: No connection established'), { code: 14 });
        await recordEffect('g')(e, trx);
      },
    });
    consumer.start();
    await waitFor('applied', async () => (await effects(db, 'g')).length === 1);
    expect((await effects(db, 'g')).map((e) => e.event_id)).toEqual([id]);
    expect(calls).toBe(4);
    await waitFor('nothing pending', async () => (await pendingCount(redis, stream, 'g')) === 0);
    expect(await redis.xlen(`${stream}:dead`)).toBe(0);
  });
});
