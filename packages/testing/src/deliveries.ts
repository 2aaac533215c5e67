import { GrpcStatus } from '@shutter/kit';
import type { ReplicaBackfill } from '@shutter/kit/db';

/*
 * The harness of the replicas' convergence property tests (docs/architecture.md *Events*): events
 * delivered as a broker under faults delivers them, applied by racing transactions, and a backfill
 * read from an owner that keeps changing while it is read. Each replica's test brings its own
 * owner history and its own check of the result.
 */

export interface FaultyDeliveryOptions {
  /** Chance that an event is delivered a second time. */
  redeliver?: number;
  /** Chance that an event is dead-lettered: replayed only after all the rest, in random order. */
  deadLetter?: number;
  /** How many places an event may be delayed behind later ones. */
  maxDelay?: number;
}

/** `events` in the order a faulty broker might deliver them: some twice, reordered nearby, some replayed last. */
export function faultyDeliveries<E>(rand: () => number, events: E[], opts: FaultyDeliveryOptions = {}): E[] {
  const { redeliver = 0.2, deadLetter = 0.15, maxDelay = 5 } = opts;
  const live: E[] = [];
  const dead: E[] = [];
  for (const e of events) {
    (rand() < deadLetter ? dead : live).push(e);
    if (rand() < redeliver) live.push(e);
  }
  for (let i = 0; i < live.length; i++) {
    const j = Math.min(live.length - 1, i + Math.floor(rand() * (maxDelay + 1)));
    [live[i], live[j]] = [live[j]!, live[i]!];
  }
  return [...live, ...dead.sort(() => rand() - 0.5)];
}

export interface RacingRoundsOptions {
  /** How many units may race in one round (two consumers, a retry, a backfill page). */
  maxRacing?: number;
  /** A unit is one delivery, or a chunk of 2 to `maxChunk` of them as a snapshot page brings them. */
  maxChunk?: number;
  /** Checked after each round, when nothing is in flight. */
  afterRound?: () => Promise<void>;
}

/** Applies `deliveries` in order, in rounds of units applied at once; `apply` gets one unit (one transaction's worth). */
export async function applyInRacingRounds<E>(
  rand: () => number,
  deliveries: E[],
  apply: (unit: E[]) => Promise<unknown>,
  opts: RacingRoundsOptions = {},
): Promise<void> {
  const { maxRacing = 3, maxChunk = 7, afterRound } = opts;
  for (let i = 0; i < deliveries.length;) {
    const units: E[][] = [];
    for (let k = 1 + Math.floor(rand() * maxRacing); k > 0 && i < deliveries.length; k--) {
      const n = maxChunk < 2 || rand() < 0.5 ? 1 : 2 + Math.floor(rand() * (maxChunk - 1));
      units.push(deliveries.slice(i, i + n));
      i += n;
    }
    await Promise.all(units.map(apply));
    await afterRound?.();
  }
}

/** A subject's whole state at the owner's version, as identity's user events and snapshot pages carry it. */
export interface VersionedState {
  version: number;
}

export interface BackfillRaceOptions<S extends VersionedState> {
  rand: () => number;
  /** The subjects, in the owner's snapshot order. */
  ids: string[];
  /** The owner's next state of a subject, at `version`. */
  next: (id: string, version: number) => S;
  /** A state at `version` older than the one held: what a stale page row carries. */
  stale: (current: S, version: number) => S;
  /** Applies states as events are applied (in a transaction of their own). */
  deliver: (states: S[]) => Promise<unknown>;
  /** The replica's backfill, reading the owner through `snapshot`. */
  backfill: (snapshot: () => AsyncIterable<S[]>) => ReplicaBackfill;
  pageSize?: number;
}

/**
 * A replica started EMPTY against an owner with history (its past events are gone): the snapshot
 * read page by page (rows sent twice or stale) while the owner keeps changing, and each change's
 * event delivered at once (racing the next page), after the backfill, or both, reordered.
 * Answers the owner's final states, to compare with what the replica holds.
 */
export async function raceBackfill<S extends VersionedState>(o: BackfillRaceOptions<S>): Promise<Map<string, S>> {
  const { rand, ids, pageSize = 3 } = o;
  const owner = new Map<string, S>();
  const change = (id: string) => {
    const next = o.next(id, Number(owner.get(id)?.version ?? 0) + 1);
    owner.set(id, next);
    return next;
  };
  for (const id of ids) for (let n = 1 + Math.floor(rand() * 3); n > 0; n--) change(id); // the past: never delivered

  const later: S[] = [];
  const inFlight: Array<Promise<unknown>> = [];
  const advance = (n: number) => {
    for (let i = 0; i < n; i++) {
      const s = change(ids[Math.floor(rand() * ids.length)]!);
      if (rand() < 0.5) inFlight.push(o.deliver([s]));
      else later.push(s);
      if (rand() < 0.3) later.push(s);
    }
  };
  async function* snapshot(): AsyncIterable<S[]> {
    for (let i = 0; i < ids.length; i += pageSize) {
      // Read now: the owner may have moved on since the last page.
      const page = ids.slice(i, i + pageSize).map((id) => owner.get(id)!);
      const sent = [...page];
      for (const s of page) {
        if (rand() < 0.3) sent.push(s);
        if (Number(s.version) > 1 && rand() < 0.3) sent.push(o.stale(s, Number(s.version) - 1));
      }
      yield sent.sort(() => rand() - 0.5);
      advance(1 + Math.floor(rand() * 3));
    }
  }
  const b = o.backfill(snapshot);
  b.start();
  await b.completed;
  await b.stop();
  advance(5);
  await Promise.all(inFlight);
  for (let i = later.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [later[i], later[j]] = [later[j]!, later[i]!];
  }
  for (const s of later) await o.deliver([s]);
  return owner;
}

/** Whether a backfill started again after a completed one reads its owner's snapshot (it must not). */
export async function backfillReadsAgain<S>(backfill: (snapshot: () => AsyncIterable<S[]>) => ReplicaBackfill): Promise<boolean> {
  let read = false;
  const again = backfill(async function* () {
    read = true;
    yield [];
  });
  again.start();
  await again.completed;
  await again.stop();
  return read;
}

/** The gRPC status a server stream ends with (OK once read to its end, else the error's code). */
export async function streamStatus(pages: AsyncIterable<unknown>): Promise<number> {
  try {
    for await (const _ of pages);
    return GrpcStatus.OK;
  } catch (err) {
    return (err as { code: number }).code;
  }
}
