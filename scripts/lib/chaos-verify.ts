import { Client } from 'pg';
import type { Acked, User } from './chaos-load';

/**
 * After a fault: is every acknowledged write in Postgres, and every event it caused applied?
 * Rows are looked up in each service's schema; feeds and counts are read through the API (they
 * live in Redis) and compared with Postgres. Events are asynchronous, so the checks repeat until
 * they hold or `boundMs` passes; what is still missing then is lost.
 */

export interface Missing {
  /** Acknowledged writes without their row: posts, likes, comments, follows. */
  writes: Record<'posts' | 'likes' | 'comments' | 'follows', number>;
  /** Effects of events that never came: notifications, content's follow replica, feed entries, unsent outbox rows. */
  events: Record<'notifications' | 'replica' | 'feeds' | 'outbox', number>;
  /** Counters that disagree with the rows they count (Postgres and what the API shows). */
  counts: Record<'post_counts' | 'follow_counts' | 'api_post_counts' | 'unread_counts', number>;
  /** A few of the discrepancies, to start debugging from. */
  examples: string[];
}

export interface Verdict {
  ok: boolean;
  missing: Missing;
  /** Seconds from the start of the check until everything held (undefined if it never did). */
  convergedAfterS?: number;
  checked: { posts: number; likes: number; comments: number; follows: number; users: number };
}

/**
 * Only the load's own users and posts are checked (the CI test shares its database with other
 * test files); `checkOutbox` also requires every service's outbox to be drained, which holds only
 * on a database of one's own.
 */
export async function verify(opts: { url: string; databaseUrl: string; users: User[]; acked: Acked; boundMs: number; checkOutbox: boolean }): Promise<Verdict> {
  const t0 = Date.now();
  const a = opts.acked;
  const checked = { posts: a.posts.size, likes: a.likes.size, comments: a.comments.size, follows: a.follows.size, users: opts.users.length };
  let last: Missing | undefined;
  for (;;) {
    try {
      last = await check(opts);
      if (total(last) === 0) return { ok: true, missing: last, convergedAfterS: (Date.now() - t0) / 1000, checked };
    } catch (err) {
      // Postgres or the API still coming back: try again until the bound.
      last ??= emptyMissing();
      last.examples = [`check failed: ${err instanceof Error ? err.message : String(err)}`];
    }
    if (Date.now() - t0 > opts.boundMs) return { ok: false, missing: last, checked };
    await new Promise((r) => setTimeout(r, 500));
  }
}

export function total(m: Missing): number {
  return [m.writes, m.events, m.counts].flatMap((o) => Object.values(o)).reduce((x, y) => x + y, 0);
}

function emptyMissing(): Missing {
  return {
    writes: { posts: 0, likes: 0, comments: 0, follows: 0 },
    events: { notifications: 0, replica: 0, feeds: 0, outbox: 0 },
    counts: { post_counts: 0, follow_counts: 0, api_post_counts: 0, unread_counts: 0 },
    examples: [],
  };
}

async function check(opts: { url: string; databaseUrl: string; users: User[]; acked: Acked; checkOutbox: boolean }): Promise<Missing> {
  const m = emptyMissing();
  const note = (s: string) => {
    if (m.examples.length < 8) m.examples.push(s);
  };
  const bump = <K extends string>(bucket: Record<K, number>, key: K, example: string, n = 1) => {
    bucket[key] += n;
    note(example);
  };
  const a = opts.acked;
  const db = new Client({ connectionString: opts.databaseUrl, connectionTimeoutMillis: 3000 });
  await db.connect();
  try {
    const q = async (sql: string): Promise<Record<string, any>[]> => (await db.query(sql)).rows;

    // Writes.
    const posts = new Map((await q('select id, author_id, like_count, comment_count from content.posts')).map((r) => [r.id as string, r]));
    const likes = new Set((await q('select post_id, user_id from content.likes')).map((r) => `${r.post_id}:${r.user_id}`));
    const comments = new Set((await q('select id from content.comments')).map((r) => r.id as string));
    const follows = new Map(
      (await q("select id, follower_id, followee_id from graph.follows where status = 'agree'")).map((r) => [
        `${r.follower_id}:${r.followee_id}`,
        r.id as string,
      ]),
    );
    for (const id of a.posts.keys()) if (!posts.has(id)) bump(m.writes, 'posts', `post ${id} missing`);
    for (const k of a.likes) if (!likes.has(k)) bump(m.writes, 'likes', `like ${k} missing`);
    for (const id of a.comments.keys()) if (!comments.has(id)) bump(m.writes, 'comments', `comment ${id} missing`);
    for (const [k, id] of a.follows) if (follows.get(k) !== id) bump(m.writes, 'follows', `follow ${k} (${id}) missing`);

    // Counters kept beside the rows.
    const likeCounts = countBy((await q('select post_id from content.likes')).map((r) => r.post_id as string));
    const commentCounts = countBy((await q('select post_id from content.comments')).map((r) => r.post_id as string));
    for (const id of a.posts.keys()) {
      const p = posts.get(id);
      if (p && (p.like_count !== (likeCounts.get(id) ?? 0) || p.comment_count !== (commentCounts.get(id) ?? 0))) {
        bump(
          m.counts,
          'post_counts',
          `post ${id}: like_count ${p.like_count} vs ${likeCounts.get(id) ?? 0} rows, comment_count ${p.comment_count} vs ${commentCounts.get(id) ?? 0}`,
        );
      }
    }
    const followers = countBy([...follows.keys()].map((k) => k.split(':')[1]!));
    const following = countBy([...follows.keys()].map((k) => k.split(':')[0]!));
    const mine = new Set(opts.users.map((u) => u.id));
    for (const r of await q('select user_id, follower_count, following_count from graph.follow_counts')) {
      if (mine.has(r.user_id) && (r.follower_count !== (followers.get(r.user_id) ?? 0) || r.following_count !== (following.get(r.user_id) ?? 0)))
        bump(m.counts, 'follow_counts', `follow_counts of ${r.user_id} disagree with the edges`);
    }

    // Events: notifications, content's replica of the follow graph, outboxes drained.
    const notes = new Set(
      (await q('select type, recipient_id, actor_id, post_id, comment_id, follows_id from notification.notifications')).map((r) =>
        [r.type, r.recipient_id, r.actor_id, r.post_id ?? '', r.comment_id ?? '', r.follows_id ?? ''].join('|'),
      ),
    );
    for (const k of a.likes) {
      const [postId, userId] = k.split(':') as [string, string];
      const author = a.posts.get(postId);
      if (author && author !== userId && !notes.has(['like', author, userId, postId, '', ''].join('|')))
        bump(m.events, 'notifications', `no like notification for ${k}`);
    }
    for (const [id, c] of a.comments) {
      const author = a.posts.get(c.postId);
      if (author && author !== c.userId && !notes.has(['comment', author, c.userId, c.postId, id, ''].join('|')))
        bump(m.events, 'notifications', `no comment notification for ${id}`);
    }
    for (const [k, id] of a.follows) {
      const [follower, followee] = k.split(':') as [string, string];
      if (!notes.has(['follow', followee, follower, '', '', id].join('|'))) bump(m.events, 'notifications', `no follow notification for ${id}`);
    }
    const replica = new Set((await q('select follower_id, followee_id from content.follows')).map((r) => `${r.follower_id}:${r.followee_id}`));
    for (const k of a.follows.keys()) if (!replica.has(k)) bump(m.events, 'replica', `content's follow replica lacks ${k}`);
    for (const schema of opts.checkOutbox ? ['identity', 'graph', 'content', 'notification'] : []) {
      const exists = await q(`select 1 from information_schema.tables where table_schema = '${schema}' and table_name = 'outbox'`);
      if (!exists.length) continue;
      const [row] = await q(`select count(*)::int as n from "${schema}".outbox where sent_at is null`);
      if (row?.n) bump(m.events, 'outbox', `${schema}.outbox has ${row.n} unsent rows`, row.n as number);
    }

    // Through the API: feeds, post counters, unread counts.
    const unread = countBy((await q('select recipient_id from notification.notifications where not is_read')).map((r) => r.recipient_id as string));
    for (const u of opts.users) {
      const expected = [...a.posts].filter(([, author]) => author === u.id || a.follows.has(`${u.id}:${author}`)).map(([id]) => id);
      const feed = await readFeed(opts.url, u.token);
      for (const id of expected) if (!feed.has(id)) bump(m.events, 'feeds', `post ${id} missing from ${u.username}'s feed`);
      const res = await get(opts.url, '/api/events/unread-count', u.token);
      if (res.data?.count !== (unread.get(u.id) ?? 0))
        bump(m.counts, 'unread_counts', `${u.username}: unread-count ${res.data?.count} vs ${unread.get(u.id) ?? 0} rows`);
    }
    const reader = opts.users[0];
    if (reader) {
      for (const id of a.posts.keys()) {
        const res = await get(opts.url, `/api/posts/${id}`, reader.token);
        const want = { like_count: likeCounts.get(id) ?? 0, comment_count: commentCounts.get(id) ?? 0 };
        if (res.data?.like_count !== want.like_count || res.data?.comment_count !== want.comment_count) {
          bump(
            m.counts,
            'api_post_counts',
            `GET /api/posts/${id}: like_count ${res.data?.like_count} comment_count ${res.data?.comment_count}, Postgres ${want.like_count}/${want.comment_count}`,
          );
        }
      }
    }
  } finally {
    await db.end().catch(() => undefined);
  }
  return m;
}

function countBy(xs: string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const x of xs) out.set(x, (out.get(x) ?? 0) + 1);
  return out;
}

async function get(url: string, path: string, token: string): Promise<any> {
  const res = await fetch(url + path, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
  return res.json();
}

/** Every post id of a home feed, page by page. */
async function readFeed(url: string, token: string): Promise<Set<string>> {
  const ids = new Set<string>();
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const res = await get(url, `/api/posts?limit=100${cursor ? `&cursor_post_id=${cursor}` : ''}`, token);
    for (const p of res.data.posts as Array<{ post_id: string }>) ids.add(p.post_id);
    cursor = res.data.pagination.has_more ? res.data.pagination.cursor_post_id : null;
    if (!cursor) break;
  }
  return ids;
}
