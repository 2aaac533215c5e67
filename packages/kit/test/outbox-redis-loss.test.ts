import { blockingConnection, createRedis } from '../src';
import { commitEvent, effects, groupInfo, memoryLog, outboxFixture, pendingCount, recordEffect, redisPrefix, streamEntries, waitFor } from './outbox-helpers';

// These tests stop and restart a private redis-server (no persistence: a restart loses everything);
// the shared Redis of the run is never touched.

describe('outbox across Redis failures', () => {
  const fx = outboxFixture({ privateRedis: true });
  const { open } = fx;

  it('delivers events committed while Redis is down once it is back, in order', async () => {
    const { db, redis, stream } = fx;
    const { log, lines } = memoryLog();
    const relay = fx.relay(log);
    const consumer = fx.consumer({ log, group: 'g', handle: recordEffect('g') });
    relay.start();
    consumer.start();
    const ids = [await commitEvent(db, 'before')];
    await waitFor('first effect', async () => (await effects(db, 'g')).length === 1);

    await fx.restartEmpty(async () => {
      for (const key of ['down1', 'down2', 'down3']) ids.push(await commitEvent(db, key));
      await waitFor('relay tried and failed', () => lines.some((l) => l.msg === 'outbox relay failed; retrying'));
      expect(await db('outbox').whereNull('sent_at').count('* as n').first()).toEqual({ n: 3 });
    });

    await waitFor('all four effects', async () => (await effects(db, 'g')).length >= 4);
    expect((await effects(db, 'g')).map((e) => e.event_id)).toEqual(ids);
    // The empty Redis got the retained event replayed first, then the new ones: order kept.
    expect((await streamEntries(redis, stream)).map((e) => e.fields.id)).toEqual(ids);
  });

  it('re-publishes retained events after Redis restarts empty; each is applied once', async () => {
    const { db, redis, stream } = fx;
    const { log, lines } = memoryLog();
    const relay = fx.relay(log);
    let handled = 0;
    const consumer = fx.consumer({
      log,
      group: 'g',
      handle: async (e, trx) => {
        handled++;
        await recordEffect('g')(e, trx);
      },
    });
    const ids = [await commitEvent(db, 'a'), await commitEvent(db, 'b'), await commitEvent(db, 'c')];
    relay.start();
    consumer.start();
    await waitFor('three effects', async () => (await effects(db, 'g')).length === 3);

    await fx.restartEmpty();
    // No new commit: the relay's periodic check alone must notice the loss and replay.
    await waitFor('retained events re-published', () => lines.some((l) => l.msg === 'stream was lost: re-published the retained events'));
    const replayed = await streamEntries(redis, stream);
    expect(replayed.map((e) => e.fields.id)).toEqual(ids);
    // The consumer recreated its group and read the replay to the end, skipping what it had applied.
    await waitFor('replay read and acknowledged', async () => {
      const info = await groupInfo(redis, stream, 'g');
      return info?.['last-delivered-id'] === replayed[2]?.streamId && info?.pending === 0;
    });
    expect(handled).toBe(3);
    // A group that starts now still gets every retained event.
    const late = fx.consumer({ log, group: 'late', handle: recordEffect('late') });
    late.start();
    await waitFor('late group applied the replay', async () => (await effects(db, 'late')).length === 3);

    ids.push(await commitEvent(db, 'd'));
    await waitFor('fourth effect', async () => (await effects(db, 'g')).length === 4);
    expect((await effects(db, 'g')).map((e) => e.event_id)).toEqual(ids);
    await waitFor('late group applied the fourth', async () => (await effects(db, 'late')).length === 4);
    expect((await effects(db, 'late')).map((e) => e.event_id)).toEqual(ids);
  });

  it('does not apply twice when a consumer dies between its commit and its XACK', async () => {
    const { db, redis, stream } = fx;
    const { log, lines } = memoryLog();
    // A Redis user that may do everything but XACK: consumer A commits its effect, then cannot ack.
    await redis.call('ACL', 'SETUSER', 'noack', 'on', '>secret', '~*', '&*', '+@all', '-xack');
    const noAckRedis = createRedis(`redis://noack:secret@127.0.0.1:${fx.server.port}`, redisPrefix());
    open.add(() => noAckRedis.quit());
    const relay = fx.relay(log);
    const a = fx.consumer({ redis: noAckRedis, log, group: 'g', consumer: 'a', handle: recordEffect('g'), claimEveryMs: 60_000 });
    const id = await commitEvent(db, 'once');
    relay.start();
    a.start();
    await waitFor('A committed the effect', async () => (await effects(db, 'g')).length === 1);
    await waitFor('A failed to ack', () => lines.some((l) => l.msg === 'event consumer failed; retrying' && /NOPERM/.test(l.err?.message ?? '')));
    await a.stop();
    expect(await pendingCount(redis, stream, 'g')).toBe(1);

    let calls = 0;
    const b = fx.consumer({
      log,
      group: 'g',
      consumer: 'b',
      handle: async (e, trx) => {
        calls++;
        await recordEffect('g')(e, trx);
      },
    });
    b.start();
    await waitFor('B claimed and acknowledged it', async () => (await pendingCount(redis, stream, 'g')) === 0);
    expect(calls).toBe(0);
    expect(await effects(db, 'g')).toEqual([{ event_id: id, key: 'once' }]);
  });

  it('a blocking read queued while Redis is down settles once its connection is closed (stop() cannot hang)', async () => {
    const { redis, stream } = fx;
    const reader = blockingConnection(redis);
    open.add(async () => reader.disconnect());
    await reader.ping();
    await fx.restartEmpty(async () => {
      await waitFor('reader is reconnecting', () => reader.status === 'reconnecting');
      // Queued offline (nothing to send it on), then the reconnect that would have sent it is cancelled.
      const read = reader.xreadgroup('GROUP', 'g', 'c', 'BLOCK', 100, 'STREAMS', stream, '>');
      reader.disconnect();
      await expect(read).resolves.toBeNull(); // ioredis's blocking bound: empty, like a BLOCK that timed out
    });
  });

  it('a consumer whose Redis is gone still stops', async () => {
    const { redis, stream } = fx;
    const { log, lines } = memoryLog();
    const consumer = fx.consumer({ log, group: 'g', handle: recordEffect('g') });
    consumer.start();
    await waitFor('group created', async () => (await groupInfo(redis, stream, 'g')) !== undefined);
    await fx.restartEmpty(async () => {
      await waitFor('consumer saw the outage', () => lines.some((l) => l.msg === 'event consumer failed; retrying'));
      await expect(consumer.stop()).resolves.toBeUndefined();
    });
  });
});
