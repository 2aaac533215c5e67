import { enqueueEvent, type StreamEvent } from '../src/index-db';
import { commitEvent, effects, groupInfo, memoryLog, outboxFixture, pendingCount, recordEffect, streamEntries, waitFor } from './outbox-helpers';

describe('outbox relay and event consumer', () => {
  const fx = outboxFixture();

  it('delivers committed events in order and never a rolled-back one', async () => {
    const { db, schema, redis, stream } = fx;
    const { log } = memoryLog();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await commitEvent(db, `k${i}`));
    let rolledBack = '';
    await expect(
      db.transaction(async (trx) => {
        rolledBack = await enqueueEvent(trx, { type: 'test.happened', key: 'gone', payload: new Uint8Array([1]) });
        throw new Error('rollback');
      }),
    ).rejects.toThrow('rollback');
    const otherType = await commitEvent(db, 'other', 'test.unrelated');
    ids.push(await commitEvent(db, 'k5'));

    const seen: StreamEvent[] = [];
    const relay = fx.relay(log);
    const consumer = fx.consumer({
      log,
      group: 'g',
      types: ['test.happened'],
      handle: async (e, trx) => {
        seen.push(e);
        await recordEffect('g')(e, trx);
      },
    });
    relay.start();
    consumer.start();

    await waitFor('six effects', async () => (await effects(db, 'g')).length === 6);
    expect((await effects(db, 'g')).map((e) => e.event_id)).toEqual(ids);
    expect(seen.map((e) => e.key)).toEqual(['k0', 'k1', 'k2', 'k3', 'k4', 'k5']);
    expect(seen[0]?.payload).toEqual(Buffer.from([0, 1, 254, 255])); // binary survives the trip
    // The filtered type was acknowledged without reaching the handler.
    await waitFor('nothing pending', async () => (await pendingCount(redis, stream, 'g')) === 0);
    expect(seen.map((e) => e.id)).not.toContain(otherType);

    const published = await streamEntries(redis, stream);
    expect(published.map((e) => e.fields.id)).toEqual([...ids.slice(0, 5), otherType, ids[5]]);
    expect(published.every((e) => e.fields.source === schema)).toBe(true);
    expect(published.map((e) => e.fields.id)).not.toContain(rolledBack);
    expect(await db('outbox').where({ id: rolledBack }).first()).toBeUndefined();
    expect(await db('outbox').whereNull('sent_at').count('* as n').first()).toEqual({ n: 0 });
  });

  it('wakes on NOTIFY at commit, without waiting for the poll', async () => {
    const { db, redis, stream } = fx;
    const { log } = memoryLog();
    await commitEvent(db, 'first');
    // A poll of a minute: only the NOTIFY sent at commit can explain a quick second delivery.
    const relay = fx.relay(log, { pollMs: 60_000 });
    relay.start();
    await waitFor('first event published', async () => (await redis.xlen(stream)) === 1);
    const second = await commitEvent(db, 'second');
    await waitFor('second event published', async () => (await redis.xlen(stream)) === 2);
    expect((await streamEntries(redis, stream))[1]?.fields.id).toBe(second);
  });

  it('applies the same event once when the stream holds it twice', async () => {
    const { db, redis, stream } = fx;
    const { log } = memoryLog();
    const id = '01890a5d-ac96-774b-bcce-b302099a8057';
    const add = () => redis.xadd(stream, '*', 'id', id, 'type', 'test.happened', 'key', 'dup', 'payload', Buffer.from([7]), 'source', 'test');
    const first = await add();
    const second = await add();
    let calls = 0;
    const consumer = fx.consumer({
      log,
      group: 'g',
      handle: async (e, trx) => {
        calls++;
        await recordEffect('g')(e, trx);
      },
    });
    consumer.start();
    await waitFor('both entries read and acknowledged', async () => {
      const info = await groupInfo(redis, stream, 'g');
      return info?.['last-delivered-id'] === second && info.pending === 0;
    });
    expect(first).not.toBe(second);
    expect(calls).toBe(1);
    expect(await effects(db, 'g')).toEqual([{ event_id: id, key: 'dup' }]);
  });

  it('dead-letters an event whose handler keeps failing after maxDeliveries, then moves on', async () => {
    const { db, schema, redis, stream } = fx;
    const { log } = memoryLog();
    const poison = await commitEvent(db, 'bad', 'test.poison', Buffer.from([9, 0, 9]));
    const good = await commitEvent(db, 'good');
    let attempts = 0;
    const relay = fx.relay(log);
    const consumer = fx.consumer({
      log,
      group: 'g',
      maxDeliveries: 3,
      handle: async (e, trx) => {
        if (e.type === 'test.poison') {
          attempts++;
          await trx('effects').insert({ consumer: 'g', event_id: e.id, key: 'partial' }); // rolled back
          throw new Error('cannot apply poison');
        }
        await recordEffect('g')(e, trx);
      },
    });
    relay.start();
    consumer.start();

    await waitFor('poison dead-lettered', async () => (await redis.xlen(`${stream}:dead`)) === 1);
    const [dead] = await streamEntries(redis, `${stream}:dead`);
    expect(dead?.fields).toMatchObject({ id: poison, type: 'test.poison', group: 'g', error: 'cannot apply poison', deliveries: '3', source: schema });
    const rawDead = await redis.xrangeBuffer(`${stream}:dead`, '-', '+');
    expect(rawDead[0]?.[1][7]).toEqual(Buffer.from([9, 0, 9])); // payload copied intact
    expect(attempts).toBe(3);
    await waitFor('nothing pending', async () => (await pendingCount(redis, stream, 'g')) === 0);
    expect(await db('applied_events').where({ event_id: poison }).first()).toBeUndefined();

    // Later events keep flowing.
    const after = await commitEvent(db, 'after');
    await waitFor('events after the poison applied', async () => (await effects(db, 'g')).length === 2);
    expect((await effects(db, 'g')).map((e) => e.event_id)).toEqual([good, after]);
    expect(attempts).toBe(3);
  });

  it('publishes through one relay per schema: each event once, in order, with failover', async () => {
    const { db, redis, stream } = fx;
    const { log } = memoryLog();
    const a = fx.relay(log);
    const b = fx.relay(log);
    a.start();
    b.start();
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push(await commitEvent(db, `k${i}`));
    await waitFor('30 published', async () => (await redis.xlen(stream)) >= 30);
    await a.stop(); // whichever held the lock, the other takes over
    for (let i = 30; i < 35; i++) ids.push(await commitEvent(db, `k${i}`));
    await waitFor('35 published', async () => (await redis.xlen(stream)) >= 35);
    await b.flush();
    expect((await streamEntries(redis, stream)).map((e) => e.fields.id)).toEqual(ids);
  });

  it('deletes sent rows after the retention period', async () => {
    const { db, redis, stream } = fx;
    const { log } = memoryLog();
    await commitEvent(db, 'k0');
    const relay = fx.relay(log, { retentionDays: 0, cleanupEveryMs: 50 });
    relay.start();
    await waitFor('sent row deleted', async () => (await db('outbox').count('* as n').first())?.n === 0);
    expect(await redis.xlen(stream)).toBe(1);
  });
});
