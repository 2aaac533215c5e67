import { createLogger, newId, type Redis } from '@shutter/kit';
import { migrate, type Knex } from '@shutter/kit/db';
import { applyInRacingRounds, faultyDeliveries, prng, testDb, testRedis, unique } from '@shutter/testing';
import { migrations } from '../src/migrations';
import { createPostReads } from '../src/posts/read-path';
import { EDGE_STATUS_VERSION } from '@shutter/contracts';
import { createFollowGraph, edgesReplica, type EdgeStatus, type FollowGraph } from '../src/read-models/follow-graph';

/**
 * Property test of content's replica of follow edges (what decides who sees a private author's
 * posts): random follow histories on the owner (request, accept, remove, follow again), their
 * events delivered one by one and in chunks (as a backfill applies a snapshot page), duplicated,
 * reordered, delayed and partly dead-lettered then replayed, always
 * converge to the owner's pairs; and after an event is applied the access decision never rests on
 * an older state of the pair than the newest one applied.
 */

interface EdgeEvent {
  followsId: string;
  followerId: string;
  followeeId: string;
  status: EdgeStatus;
}

const schema = unique('content_replica_');
let db: Knex;
let redis: Redis;
let graph: FollowGraph;

beforeAll(async () => {
  db = testDb(schema);
  await migrate(db, schema, migrations);
  redis = testRedis();
  const log = createLogger('test', 'silent');
  const reads = createPostReads({ db, redis, log, ttlSeconds: 60 });
  graph = createFollowGraph({ db, reads });
});
afterAll(async () => {
  await db?.raw('DROP SCHEMA IF EXISTS ?? CASCADE', [schema]);
  await db?.destroy();
  await redis?.quit();
});

/** A random history of social-graph's edges for a few pairs; answers its events and the final agree pairs. */
function history(rand: () => number, pairs: Array<[string, string]>) {
  const events: EdgeEvent[] = [];
  const live = new Map<string, { id: string; status: EdgeStatus }>();
  for (let i = 0; i < 40; i++) {
    const [follower, followee] = pairs[Math.floor(rand() * pairs.length)]!;
    const k = `${follower}>${followee}`;
    const cur = live.get(k);
    let next: { id: string; status: EdgeStatus };
    if (!cur) next = { id: newId(), status: rand() < 0.5 ? 'pending' : 'agree' };
    else if (cur.status === 'pending') next = { id: cur.id, status: rand() < 0.6 ? 'agree' : 'removed' };
    else next = { id: cur.id, status: 'removed' };
    events.push({ followsId: next.id, followerId: follower, followeeId: followee, status: next.status });
    if (next.status === 'removed') live.delete(k);
    else live.set(k, next);
  }
  const agree = [...live.entries()].filter(([, e]) => e.status === 'agree').map(([k]) => k);
  return { events, agree: agree.sort() };
}

it.each(Array.from({ length: 12 }, (_, i) => i + 1))('seed %i converges and never goes back', async (seed) => {
  const rand = prng(seed);
  const users = Array.from({ length: 3 }, () => newId());
  const pairs: Array<[string, string]> = [
    [users[0]!, users[1]!],
    [users[1]!, users[0]!],
    [users[0]!, users[2]!],
  ];
  const { events, agree } = history(rand, pairs);

  const deliveries = faultyDeliveries(rand, events);

  // The newest edge applied so far per pair (edge ids are UUIDv7: newer edges sort higher), at its best rank.
  const newest = new Map<string, { id: string; rank: number; status: EdgeStatus }>();
  // One event, or a chunk of the next few as a backfilled snapshot page brings them (duplicates, reordering inside).
  const applyChunk = async (chunk: EdgeEvent[]) => {
    await db.transaction((trx) => graph.applyEdges(trx, chunk));
    for (const e of chunk) {
      const k = `${e.followerId}>${e.followeeId}`;
      const cur = newest.get(k);
      if (!cur || e.followsId > cur.id || (e.followsId === cur.id && EDGE_STATUS_VERSION[e.status] > cur.rank))
        newest.set(k, { id: e.followsId, rank: EDGE_STATUS_VERSION[e.status], status: e.status });
    }
  };
  // The access decision reflects the newest applied state of every pair, never an older one.
  const decisionsAreNewest = async () => {
    for (const [pair, n] of newest) {
      const [follower, followee] = pair.split('>');
      expect(await graph.isFollowing(follower!, followee!)).toBe(n.status === 'agree');
    }
  };
  await applyInRacingRounds(rand, deliveries, applyChunk, { maxRacing: 1, maxChunk: 5, afterRound: decisionsAreNewest });
  const held = (await db('follows').whereIn('follower_id', users).select('follower_id', 'followee_id')).map((r) => `${r.follower_id}>${r.followee_id}`);
  expect(held.sort()).toEqual(agree);
});

/**
 * The same replica started EMPTY against an owner that already has edges: the events of the
 * owner's past are gone (only its snapshot has them), the snapshot is read page by page while
 * the owner keeps changing, and the events of those changes arrive during and after the
 * backfill, reordered and duplicated. It always converges to the owner's agree pairs.
 */
it.each(Array.from({ length: 8 }, (_, i) => i + 1))(
  'seed %i: an empty replica backfills from the owner and converges with the events made meanwhile',
  async (seed) => {
    const rand = prng(700 + seed);
    const users = Array.from({ length: 6 }, () => newId());
    const pairs: Array<[string, string]> = [];
    for (const a of users) for (const b of users) if (a !== b && rand() < 0.6) pairs.push([a, b]);
    // The owner: its edges by id (a removed edge is deleted there, as in social-graph).
    const owner = new Map<string, EdgeEvent>();
    const step = (e: EdgeEvent) => {
      if (e.status === 'removed') owner.delete(e.followsId);
      else owner.set(e.followsId, e);
    };
    const { events } = history(rand, pairs);
    const cut = Math.floor(events.length * (0.5 + rand() * 0.3));
    for (const e of events.slice(0, cut)) step(e); // the past: applied on the owner, never delivered
    const future = events.slice(cut);
    // Edges only the snapshot can bring (agree before the cut, untouched after): the test needs some.
    const touched = new Set(future.map((e) => e.followsId));
    expect([...owner.values()].filter((e) => e.status === 'agree' && !touched.has(e.followsId)).length).toBeGreaterThan(0);

    const later: EdgeEvent[] = [];
    const inFlight: Array<Promise<unknown>> = [];
    const deliver = (e: EdgeEvent) => db.transaction((trx) => graph.applyEdges(trx, [e]));
    /** The owner moves on by a few changes; each event is delivered now (racing the next page), later, or both. */
    const advance = async (n: number) => {
      for (const e of future.splice(0, n)) {
        step(e);
        if (rand() < 0.5) inFlight.push(deliver(e));
        else later.push(e);
        if (rand() < 0.3) later.push(e);
      }
    };
    const PAGE = 2;
    async function* snapshot(): AsyncIterable<EdgeEvent[]> {
      let after = '';
      for (;;) {
        const page = [...owner.values()]
          .filter((e) => e.followsId > after)
          .sort((a, b) => (a.followsId < b.followsId ? -1 : 1))
          .slice(0, PAGE);
        if (page.length === 0) return;
        // Applied as one chunk: rows also sent twice, or with an older state of the same edge, in any order.
        const sent = [...page];
        for (const e of page) {
          if (rand() < 0.3) sent.push(e);
          if (e.status === 'agree' && rand() < 0.3) sent.push({ ...e, status: 'pending' });
        }
        yield sent.sort(() => rand() - 0.5);
        await advance(1 + Math.floor(rand() * 3));
        after = page[page.length - 1]!.followsId;
      }
    }
    const name = `follow_edges_${seed}`;
    const backfill = edgesReplica.backfillFrom({
      db,
      log: createLogger('test', 'silent'),
      name,
      snapshot,
      applyMany: async (trx, edges) => void (await graph.applyEdges(trx, edges)),
    });
    backfill.start();
    await backfill.completed;
    await backfill.stop();
    await advance(future.length);
    await Promise.all(inFlight);
    for (let i = later.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [later[i], later[j]] = [later[j]!, later[i]!];
    }
    for (const e of later) await deliver(e);

    const agree = [...owner.values()]
      .filter((e) => e.status === 'agree')
      .map((e) => `${e.followerId}>${e.followeeId}`)
      .sort();
    const held = (await db('follows').whereIn('follower_id', users).select('follower_id', 'followee_id')).map((r) => `${r.follower_id}>${r.followee_id}`);
    expect(held.sort()).toEqual(agree);
  },
);
