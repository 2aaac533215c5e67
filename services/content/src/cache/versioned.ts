import { cacheCounter, isBackendUnavailable, type Logger, type Metrics, type Redis } from '@shutter/kit';
import type { Knex } from '@shutter/kit/db';
import { recordPendingMark } from './pending-marks';

/**
 * Versioned copies in Redis of rows whose truth is in content's Postgres (docs/architecture.md
 * *Hot paths*): the post and author read forms (`<version>|<json>` strings) and per-viewer sets (the
 * posts a viewer liked, the authors a viewer follows), each with the version of its row.
 *
 * The invalidation story, one rule for all of them:
 * - Every change bumps the row's version in its transaction, and before committing writes a
 *   *marker* at the new version (a form with no body; for a set: the version floor, set dropped).
 * - A miss (no copy, or a marker) is read from Postgres with the version in the same statement and
 *   written back only if its version is newer than what Redis holds (or equal to a marker's).
 * So a fill that read Postgres before a change committed can never overwrite that change: its
 * version is lower than the marker. A marker whose transaction rolled back expires after
 * MARKER_TTL_SECONDS (the copy is read from Postgres until then). Redis down: every read is a miss
 * answered by Postgres; a write that could not place its marker fails (the change rolls back),
 * unless it passes its transaction as `deferTo`: then the marker is recorded in it and placed
 * once Redis answers (pending-marks.ts, which states the risk this leaves). Only writes whose
 * copies decide no access may defer; event consumers fail and retry instead.
 *
 * Each cache counts its look-ups under its `name` (`cache_requests_total{cache=name}`), the name
 * pending-marks.ts records too.
 */

/** Longest possible version: a deleted post's tombstone outranks every fill. */
export const TOMBSTONE_VERSION = Number.MAX_SAFE_INTEGER;
const MARKER_TTL_SECONDS = 120;
const READY = '~';

// KEYS[1] form; ARGV: version, body, ttl. Writes unless Redis holds a newer version (or the same one with a body).
const FILL_FORM = `
local cur = redis.call('GET', KEYS[1])
local n = tonumber(ARGV[1])
if cur then
  local bar = string.find(cur, '|', 1, true)
  local v = tonumber(string.sub(cur, 1, bar - 1))
  if v > n or (v == n and bar < #cur) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'EX', ARGV[3])
return 1`;

// KEYS[1] form; ARGV: version, ttl. A marker (no body) at the version, unless a newer one is held.
const MARK_FORM = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local v = tonumber(string.sub(cur, 1, string.find(cur, '|', 1, true) - 1))
  if v > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|', 'EX', ARGV[2])
return 1`;

// KEYS[1] set, KEYS[2] its version; ARGV: version, ttl, members... Replaces the set unless a newer
// version (or the same one, loaded) is held.
const FILL_SET = `
local cur = tonumber(redis.call('GET', KEYS[2]) or '-1')
local n = tonumber(ARGV[1])
if cur > n or (cur == n and redis.call('EXISTS', KEYS[1]) == 1) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SADD', KEYS[1], '${READY}')
for i = 3, #ARGV, 500 do
  redis.call('SADD', KEYS[1], unpack(ARGV, i, math.min(i + 499, #ARGV)))
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], n, 'EX', ARGV[2])
return 1`;

// KEYS[1] set, KEYS[2] its version; ARGV: version, ttl. Drops the set and raises the floor.
const MARK_SET = `
local cur = tonumber(redis.call('GET', KEYS[2]) or '-1')
redis.call('DEL', KEYS[1])
if cur < tonumber(ARGV[1]) then redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2]) end
return 1`;

type Evaluator = Redis & {
  fillForm(key: string, version: number, body: string, ttl: number): Promise<number>;
  markForm(key: string, version: number, ttl: number): Promise<number>;
  fillSet(key: string, versionKey: string, version: number, ttl: number, ...members: string[]): Promise<number>;
  markSet(key: string, versionKey: string, version: number, ttl: number): Promise<number>;
};

function withScripts(redis: Redis): Evaluator {
  const r = redis as Evaluator;
  if (typeof r.fillForm !== 'function') {
    redis.defineCommand('fillForm', { numberOfKeys: 1, lua: FILL_FORM });
    redis.defineCommand('markForm', { numberOfKeys: 1, lua: MARK_FORM });
    redis.defineCommand('fillSet', { numberOfKeys: 2, lua: FILL_SET });
    redis.defineCommand('markSet', { numberOfKeys: 2, lua: MARK_SET });
  }
  return r;
}

/** A marker write; with Redis unreachable and a transaction to defer to, recorded there instead of failing. */
async function deferrable(write: Promise<unknown>, deferTo: Knex | undefined, cache: string, id: string, version: number): Promise<void> {
  try {
    await write;
  } catch (err) {
    if (!deferTo || !isBackendUnavailable(err)) throw err;
    await recordPendingMark(deferTo, cache, id, version);
  }
}

/** Parses `<version>|<json>`; undefined for a marker (or nothing). */
export function parseForm<T>(raw: string | null | undefined): { version: number; value: T | null } | undefined {
  if (!raw) return undefined;
  const bar = raw.indexOf('|');
  if (bar < 0 || bar === raw.length - 1) return undefined;
  return { version: Number(raw.slice(0, bar)), value: JSON.parse(raw.slice(bar + 1)) as T | null };
}

/** Parsed forms kept per process, by id: the hot ones are read by every page. */
const MAX_PARSED = 5000;

/**
 * Forms: one JSON document per row, `<prefix><id>`. `load` reads misses from Postgres in one
 * statement (rows with their version); a row it does not answer is absent (null).
 *
 * Redis stays the truth: each read fetches the form's text, and a form parsed before is reused
 * only when that text is exactly the same (JSON.parse of the page was ~5 % of content's CPU on
 * the feed). Forms handed out are therefore shared: callers never modify them.
 */
export function createVersionedForms<T>(deps: {
  redis: Redis;
  log: Logger;
  name: string;
  prefix: string;
  ttlSeconds: number;
  load: (ids: string[]) => Promise<Array<{ id: string; version: number; value: T }>>;
  metrics?: Metrics;
}) {
  const { log, name, prefix, ttlSeconds, load } = deps;
  const redis = withScripts(deps.redis);
  const key = (id: string) => prefix + id;
  const count = cacheCounter(deps.metrics, name);
  const mark = (id: string, version: number) =>
    version >= TOMBSTONE_VERSION ? redis.fillForm(key(id), TOMBSTONE_VERSION, 'null', ttlSeconds) : redis.markForm(key(id), version, MARKER_TTL_SECONDS);
  const parsed = new Map<string, { raw: string; form: { version: number; value: T | null } }>();
  function parsedOf(id: string, raw: string | null | undefined) {
    if (!raw) return undefined;
    const hit = parsed.get(id);
    if (hit?.raw === raw) return hit.form;
    const form = parseForm<T>(raw);
    if (!form) return undefined;
    if (hit) parsed.delete(id);
    else if (parsed.size >= MAX_PARSED) parsed.delete(parsed.keys().next().value as string);
    parsed.set(id, { raw, form });
    return form;
  }

  return {
    name,
    key,

    /** The forms of these ids (absent rows are left out), from Redis, misses from Postgres. */
    async get(ids: string[]): Promise<Map<string, T>> {
      const out = new Map<string, T>();
      const unique = [...new Set(ids)];
      if (unique.length === 0) return out;
      const cached = await redis.mget(unique.map(key)).catch((err: unknown) => {
        if (!isBackendUnavailable(err)) throw err;
        log.warn({ err }, `${prefix}* unavailable: reading Postgres`);
        return null;
      });
      const missing: string[] = [];
      unique.forEach((id, i) => {
        const form = parsedOf(id, cached?.[i]);
        if (!form) missing.push(id);
        else if (form.value !== null) out.set(id, form.value);
      });
      if (!cached) count('unavailable', unique.length);
      else {
        count('hit', unique.length - missing.length);
        count('miss', missing.length);
      }
      if (missing.length === 0) return out;
      const rows = await load(missing);
      for (const r of rows) out.set(r.id, r.value);
      if (cached && rows.length) {
        await Promise.all(rows.map((r) => redis.fillForm(key(r.id), r.version, JSON.stringify(r.value), ttlSeconds))).catch((err: unknown) =>
          log.warn({ err }, `could not store ${prefix}* forms`),
        );
      }
      return out;
    },

    /** In the changing transaction, with the row's new version: fills of older versions are refused from now on. */
    async invalidate(id: string, version: number, deferTo?: Knex): Promise<void> {
      await deferrable(mark(id, version), deferTo, name, id, version);
    },

    /** The row is gone for good (a deleted post): no fill can bring it back until the TTL. */
    async tombstone(id: string, deferTo?: Knex): Promise<void> {
      await deferrable(mark(id, TOMBSTONE_VERSION), deferTo, name, id, TOMBSTONE_VERSION);
    },

    /** Places a marker recorded while Redis was unreachable (pending-marks.ts). */
    async replayMark(id: string, version: number): Promise<void> {
      await mark(id, version);
    },
  };
}

/**
 * Per-owner sets (`<prefix><owner>`, version in `<prefix><owner>:v`): complete or absent, the
 * member `~` telling a loaded empty set from a missing one. `load` answers the owner's members
 * and version in one statement.
 */
export function createVersionedSets(deps: {
  redis: Redis;
  log: Logger;
  name: string;
  prefix: string;
  ttlSeconds: number;
  load: (owner: string) => Promise<{ version: number; members: string[] }>;
  metrics?: Metrics;
}) {
  const { log, name, prefix, ttlSeconds, load } = deps;
  const redis = withScripts(deps.redis);
  const key = (owner: string) => prefix + owner;
  const versionKey = (owner: string) => `${prefix}${owner}:v`;
  const count = cacheCounter(deps.metrics, name);
  const mark = (owner: string, version: number) => redis.markSet(key(owner), versionKey(owner), version, ttlSeconds);

  return {
    name,
    key,

    /** Which of `members` the owner's set holds: one SMISMEMBER, Postgres on a miss. */
    async has(owner: string, members: string[]): Promise<Set<string>> {
      const out = new Set<string>();
      const flags = await redis.smismember(key(owner), READY, ...members).catch((err: unknown) => {
        if (!isBackendUnavailable(err)) throw err;
        log.warn({ err }, `${prefix}* unavailable: reading Postgres`);
        return null;
      });
      count(!flags ? 'unavailable' : flags[0] === 1 ? 'hit' : 'miss');
      if (flags && flags[0] === 1) {
        members.forEach((m, i) => flags[i + 1] === 1 && out.add(m));
        return out;
      }
      const loaded = await load(owner);
      const all = new Set(loaded.members);
      for (const m of members) if (all.has(m)) out.add(m);
      if (flags) {
        await redis
          .fillSet(key(owner), versionKey(owner), loaded.version, ttlSeconds, ...loaded.members)
          .catch((err: unknown) => log.warn({ err }, `could not store ${prefix}* set`));
      }
      return out;
    },

    /** In the changing transaction, with the owner's new version. */
    async invalidate(owner: string, version: number, deferTo?: Knex): Promise<void> {
      await deferrable(mark(owner, version), deferTo, name, owner, version);
    },

    /** Places a marker recorded while Redis was unreachable (pending-marks.ts). */
    async replayMark(owner: string, version: number): Promise<void> {
      await mark(owner, version);
    },
  };
}

export type VersionedForms<T> = ReturnType<typeof createVersionedForms<T>>;
export type VersionedSets = ReturnType<typeof createVersionedSets>;
