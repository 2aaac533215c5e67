import { Counter, Histogram } from 'prom-client';
import type { Logger, Metrics, Redis } from '@shutter/kit';
import type { Knex } from '@shutter/kit/db';
import type { PostsRepository } from '../posts/posts-repository';
import type { PostRead, PostReads } from '../posts/read-path';
import { canSeePostsOf } from '../visibility';

/**
 * Home timelines in Redis, fanned out on write (docs/architecture.md *Feed*).
 *
 * `feed:<user>` is a sorted set of post ids scored by their creation time in ms (the UUIDv7
 * timestamp, so score order is id order; equal scores sort by member, which is id order too).
 * Its member `~` is a sentinel scored below every post: -2 while being rebuilt, -1 when ready and
 * complete, -3 when ready but capped (older posts exist beyond it: pages past its end read
 * Postgres). A fan-out adds only to a timeline that has the sentinel, so a missing timeline is
 * never mistaken for an empty one; it is rebuilt from Postgres on its next read.
 */
const SENTINEL = '~';
const BUILDING = -2;
const READY = -1;
const TRUNCATED = -3;

const feedKey = (userId: string) => `feed:${userId}`;
const BIG_KEY = 'feed:big';
/** How often one process refreshes a read timeline's TTL (far below FEED_TTL_SECONDS). */
const REFRESH_EVERY_MS = 10 * 60_000;

/** The ms timestamp of a UUIDv7. */
export const scoreOf = (id: string) => parseInt(id.slice(0, 8) + id.slice(9, 13), 16);

// KEYS[1] timeline; ARGV: max items, ttl, then score/member pairs. Adds only to an existing
// timeline (building or ready), caps it (the sentinel keeps rank 0) and marks it truncated if
// the cap removed anything.
const ADD_SCRIPT = `
if not redis.call('ZSCORE', KEYS[1], '${SENTINEL}') then return 0 end
for i = 3, #ARGV, 2 do redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1]) end
if redis.call('ZREMRANGEBYRANK', KEYS[1], 1, -(tonumber(ARGV[1]) + 2)) > 0 then
  redis.call('ZADD', KEYS[1], 'XX', ${TRUNCATED}, '${SENTINEL}')
end
return 1`;

// KEYS[1] timeline; ARGV: max items, ttl, state (-1 or -3), then score/member pairs. Ends a rebuild.
const FINISH_SCRIPT = `
for i = 4, #ARGV, 2 do redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1]) end
local state = tonumber(ARGV[3])
if redis.call('ZREMRANGEBYRANK', KEYS[1], 1, -(tonumber(ARGV[1]) + 2)) > 0 then state = ${TRUNCATED} end
local was = redis.call('ZSCORE', KEYS[1], '${SENTINEL}')
if was and tonumber(was) == ${TRUNCATED} then state = ${TRUNCATED} end
redis.call('ZADD', KEYS[1], state, '${SENTINEL}')
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1`;

export interface FeedConfig {
  maxItems: number;
  fanoutMaxFollowers: number;
  ttlSeconds: number;
}

/** A post id with its viewer fields, as a home feed page shows it. */
export type FeedRow = PostRead;

export function createFeed(deps: { redis: Redis; posts: PostsRepository; reads: PostReads; log: Logger; config: FeedConfig; metrics?: Metrics }) {
  const { redis, posts, reads, log, config } = deps;
  const observed = feedMetrics(deps.metrics);

  const pairs = (ids: string[]) => ids.flatMap((id) => [scoreOf(id), id]);

  async function addTo(userId: string, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await redis.eval(ADD_SCRIPT, 1, feedKey(userId), config.maxItems, config.ttlSeconds, ...pairs(ids));
  }

  // Timelines whose TTL this process refreshed lately: an EXPIRE per read would be one more
  // command on the hot path for a TTL of days.
  const refreshed = new Map<string, number>();
  function refreshTtl(viewerId: string): void {
    const now = Date.now();
    if ((refreshed.get(viewerId) ?? 0) > now - Math.min(REFRESH_EVERY_MS, (config.ttlSeconds * 1000) / 4)) return;
    if (refreshed.size >= 100_000) refreshed.clear();
    refreshed.set(viewerId, now);
    void redis.expire(feedKey(viewerId), config.ttlSeconds).catch((err: unknown) => log.warn({ err }, 'could not refresh a timeline TTL'));
  }

  /** Rebuilds a missing timeline from Postgres; answers whether it is capped. */
  async function rebuild(viewerId: string): Promise<{ truncated: boolean }> {
    const key = feedKey(viewerId);
    observed.rebuilds?.inc();
    // The sentinel goes first, so fan-outs from now on land here; then Postgres (which has every
    // post committed before this read), then the ready mark. A post is in one or the other.
    await redis.zadd(key, 'NX', BUILDING, SENTINEL);
    await redis.expire(key, config.ttlSeconds);
    const ids = await posts.homeFeedIds(viewerId, config.maxItems);
    const done = ids.length >= config.maxItems ? TRUNCATED : READY;
    await redis.eval(FINISH_SCRIPT, 1, key, config.maxItems, config.ttlSeconds, done, ...pairs(ids));
    return { truncated: done === TRUNCATED };
  }

  /**
   * The authors not fanned out: `big_authors`, mirrored in the Redis set `feed:big` (with the
   * member `~` once loaded whole, so an empty list is told from a missing or partial set) to
   * spare feeds a statement when there are none.
   */
  async function bigAuthors(members: string[]): Promise<string[]> {
    if (members.includes(SENTINEL)) return members.filter((m) => m !== SENTINEL);
    const ids = await posts.bigAuthorIds();
    await redis.sadd(BIG_KEY, SENTINEL, ...ids);
    return ids;
  }

  /** In the home feed: the viewer's own posts and their agree followees' they may see. */
  const inHome = (viewerId: string, r: FeedRow) =>
    (r.author_id === viewerId || r.viewer_follows) &&
    canSeePostsOf(viewerId, { authorId: r.author_id, isPublic: r.is_public, status: r.status }, r.viewer_follows);

  return {
    scoreOf,

    /**
     * The newest `want` home-feed posts older than `cursor` (a post id), with their viewer rows.
     * Costs O(page): Redis range reads of the timeline and, per chunk of candidates, the read
     * forms and the viewer's likes and follows (post-path.ts) — no SQL in the steady state; one
     * statement for big authors only when the viewer follows one. Visibility is decided here, at
     * read time, so a timeline that still holds an unfollowed author's post never shows it.
     */
    async page(viewerId: string, want: number, cursor?: string): Promise<FeedRow[]> {
      const key = feedKey(viewerId);
      const max = cursor ? String(scoreOf(cursor)) : '+inf';
      // A little over a page: reads rarely drop candidates, and each one costs the statement work.
      const chunkSize = want + 2;
      // One round trip (auto-pipelining): the timeline's state, its first chunk, the big authors.
      const [state, firstRange, bigMembers] = await Promise.all([
        redis.zscore(key, SENTINEL),
        redis.zrevrangebyscore(key, max, 0, 'LIMIT', 0, chunkSize),
        redis.smembers(BIG_KEY),
      ]);
      const ready = state !== null && Number(state) !== BUILDING;
      let truncated = Number(state) === TRUNCATED;
      if (ready) refreshTtl(viewerId);
      else truncated = (await rebuild(viewerId)).truncated;
      const bigIds = await bigAuthors(bigMembers);
      const followedBig = bigIds.length ? [...(await reads.followeesAmong(viewerId, bigIds))] : [];
      const big = followedBig.length ? await posts.bigFolloweeIds(viewerId, followedBig, want, cursor) : [];
      const out: FeedRow[] = [];
      const seen = new Set<string>();
      let bigLeft = big;
      let offset = 0;
      let last = cursor;
      for (;;) {
        const range = offset === 0 && ready ? firstRange : await redis.zrevrangebyscore(key, max, 0, 'LIMIT', offset, chunkSize);
        offset += range.length;
        const more = range.length === chunkSize;
        const chunk = range.filter((id) => !cursor || id < cursor);
        if (chunk.length) last = chunk[chunk.length - 1];
        if (!more && truncated) {
          // Past the end of a capped timeline: the older posts come from Postgres.
          chunk.push(...(await posts.homeFeedIds(viewerId, want - out.length, last)));
        }
        // Big authors' posts merge in down to the oldest timeline post read so far.
        const bound = more ? last : undefined;
        const candidates = [...chunk, ...bigLeft.filter((id) => !bound || id >= bound)].filter((id) => !seen.has(id) && (seen.add(id), true));
        bigLeft = bound ? bigLeft.filter((id) => id < bound) : [];
        candidates.sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
        const rows = new Map((await reads.views(candidates, viewerId)).map((r) => [r.id, r]));
        const stale: string[] = [];
        for (const id of candidates) {
          const r = rows.get(id);
          if (r && inHome(viewerId, r)) out.push(r);
          // A deleted post never comes back: its id is cleaned lazily. (An unfollowed author's are
          // not: the edge may be back in an uncommitted follow event whose add already landed;
          // follow.removed removes them instead, see unfollowed.)
          else if (!r) stale.push(id);
        }
        if (stale.length) void redis.zrem(key, ...stale).catch((err: unknown) => log.warn({ err }, 'could not clean a timeline'));
        if (out.length >= want || !more) break;
      }
      return out.slice(0, want);
    },

    /** post.created: into the author's timeline and each agree follower's (unless a big author). */
    async postCreated(trx: Knex, postId: string, authorId: string): Promise<void> {
      await addTo(authorId, [postId]);
      if (await posts.isBigAuthor(trx, authorId)) return;
      // Content's own complete replica of the graph, one statement (read-models/follow-graph.ts).
      const followers = await posts.followerIds(authorId, config.fanoutMaxFollowers, trx);
      if (followers.length > config.fanoutMaxFollowers) {
        await posts.markBigAuthor(trx, authorId);
        // A set without `~` is reloaded from Postgres by the next read, so this add is never lost.
        await redis.sadd(BIG_KEY, authorId);
        return;
      }
      await Promise.all(followers.map((f) => addTo(f, [postId])));
      observed.entries?.inc(followers.length + 1);
      // The post id is a UUIDv7: its first 48 bits are the creation time in milliseconds.
      observed.lag?.observe(Math.max(0, Date.now() - scoreOf(postId)) / 1000);
    },

    /** follow accepted (or created agree): the followee's recent posts join the follower's timeline. */
    async followed(trx: Knex, followerId: string, followeeId: string): Promise<void> {
      if (await posts.isBigAuthor(trx, followeeId)) return;
      const ids = await posts.authorIds(followeeId, config.maxItems, undefined, trx);
      await addTo(followerId, ids);
      // More than a timeline holds: older pages of this timeline must read Postgres.
      if (ids.length >= config.maxItems) await redis.zadd(feedKey(followerId), 'XX', TRUNCATED, SENTINEL);
    },

    /**
     * follow.removed: the followee's recent posts leave the follower's timeline. Reads never
     * depended on it (they check the edge); this keeps timelines from filling with skipped ids.
     */
    async unfollowed(trx: Knex, followerId: string, followeeId: string): Promise<void> {
      const ids = await posts.authorIds(followeeId, config.maxItems, undefined, trx);
      if (ids.length) await redis.zrem(feedKey(followerId), ...ids);
    },

    /** Drops timelines (a backfill's changed followers, tests, an operator's tool): the next read of each rebuilds it. */
    async forget(userIds: string[]): Promise<void> {
      if (userIds.length) await redis.unlink(...userIds.map(feedKey));
    },
  };
}

export type Feed = ReturnType<typeof createFeed>;

/** Fan-out and timeline metrics (docs/operations.md): entries written, lag behind the post, rebuilds. */
function feedMetrics(metrics: Metrics | undefined): { entries?: Counter; lag?: Histogram; rebuilds?: Counter } {
  if (!metrics) return {};
  const registers = [metrics.registry];
  return {
    entries: new Counter({ name: 'feed_fanout_entries_total', help: "Timeline entries written by fan-out (the author's and each follower's)", registers }),
    lag: new Histogram({
      name: 'feed_fanout_lag_seconds',
      help: "From a post's creation until its fan-out reached every follower's timeline",
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    rebuilds: new Counter({ name: 'feed_timeline_rebuilds_total', help: 'Home timelines rebuilt from Postgres on a read (missing from Redis)', registers }),
  };
}
