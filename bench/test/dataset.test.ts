import { Client } from 'pg';
import { dropDatabase, withDatabase } from '@shutter/testing/src/backends';
import { testBackends } from '@shutter/testing/src/fixtures';
import { PROBE_FOLLOWERS, READER_FOLLOWEES, generate } from '../dataset/generate';
import { copyDataset, ensureDataset } from '../dataset/load';

describe('bench data set', () => {
  const d = generate(1);

  it('is the same for the same seed and scale', () => {
    const again = generate(1);
    expect(again.users.map((u) => u.id)).toEqual(d.users.map((u) => u.id));
    expect(again.likes.length).toBe(d.likes.length);
    expect(again.posts[500]).toEqual(d.posts[500]);
  });

  it('has socfb-Reed98 proportions with a heavy tail', () => {
    expect(d.core).toBe(962);
    expect(d.core + d.extra).toBeGreaterThanOrEqual(5000);
    expect(d.posts.length).toBe((d.core + d.extra) * 20);
    expect(d.likes.length / d.posts.length).toBeCloseTo(5, 0);
    expect(d.comments.length / d.posts.length).toBeCloseTo(2, 0);
    const inDegree = new Map<number, number>();
    for (const [f, t] of d.follows) if (f < d.core && t < d.core) inDegree.set(t, (inDegree.get(t) ?? 0) + 1);
    const degrees = [...inDegree.values()].sort((a, b) => b - a);
    // About Reed98's 18 812 (each user's rounded out-degree can overshoot it a little).
    expect(Math.abs(degrees.reduce((a, b) => a + b, 0) - 18_812)).toBeLessThan(200);
    // A few users hold many followers; the median holds few.
    expect(degrees[0]!).toBeGreaterThan(10 * degrees[Math.floor(degrees.length / 2)]!);
  });

  it('gives readers and probe authors exactly their counts, without self or repeated edges', () => {
    const key = (f: number, t: number) => `${f}>${t}`;
    const seen = new Set<string>();
    for (const [f, t] of d.follows) {
      expect(f).not.toBe(t);
      expect(seen.has(key(f, t))).toBe(false);
      seen.add(key(f, t));
    }
    for (const k of READER_FOLLOWEES) expect(d.follows.filter(([f]) => f === d.readers[k]).length).toBe(k);
    for (const k of PROBE_FOLLOWERS) expect(d.follows.filter(([, t]) => t === d.probes[k]).length).toBe(k);
    const likePairs = new Set(d.likes.map((l) => `${l.post}:${l.user}`));
    expect(likePairs.size).toBe(d.likes.length);
  });

  it('loads with each schema’s invariants, once, and copies per run', async () => {
    const base = testBackends().databaseUrl;
    const name = `bench_test_${process.pid}`;
    const url = withDatabase(base, name);
    const logs: string[] = [];
    try {
      const first = await ensureDataset(url, 0.05, { rebuild: false, log: (m) => logs.push(m) });
      expect(first.loadedS).not.toBeNull();
      const c = new Client({ connectionString: url });
      await c.connect();
      try {
        const q = async (sql: string) => (await c.query(sql)).rows[0] as Record<string, unknown>;
        expect(await q('SELECT count(*)::int AS n FROM identity.users')).toEqual({ n: first.counts.users });
        expect(await q('SELECT count(*)::int AS n FROM content.authors')).toEqual({ n: first.counts.users });
        // content's replica of the edges, as its backfill leaves it (no backfill at the run's start).
        expect(await q('SELECT count(*)::int AS n FROM content.follows')).toEqual({ n: first.counts.follows });
        expect(
          await q(
            "SELECT count(*)::int AS n FROM graph.follows g JOIN content.follow_edges e ON e.follows_id = g.id AND e.follower_id = g.follower_id AND e.status = 'agree'",
          ),
        ).toEqual({ n: first.counts.follows });
        expect(await q('SELECT count(*)::int AS n FROM content.replica_state')).toEqual({ n: 2 });
        expect(
          await q('SELECT count(*)::int AS n FROM content.posts p WHERE p.like_count <> (SELECT count(*) FROM content.likes l WHERE l.post_id = p.id)'),
        ).toEqual({ n: 0 });
        expect(
          await q('SELECT count(*)::int AS n FROM content.posts p WHERE p.comment_count <> (SELECT count(*) FROM content.comments c WHERE c.post_id = p.id)'),
        ).toEqual({ n: 0 });
        expect(
          await q(`SELECT count(*)::int AS n FROM graph.follow_counts fc
                    WHERE fc.follower_count <> (SELECT count(*) FROM graph.follows f WHERE f.followee_id = fc.user_id AND f.status = 'agree')
                       OR fc.following_count <> (SELECT count(*) FROM graph.follows f WHERE f.follower_id = fc.user_id AND f.status = 'agree')`),
        ).toEqual({ n: 0 });
        expect(
          await q(
            'SELECT count(*)::int AS n FROM content.post_images i LEFT JOIN content.media m ON m.id = i.media_id WHERE m.processed_key IS DISTINCT FROM i.key',
          ),
        ).toEqual({ n: 0 });
      } finally {
        await c.end();
      }
      const again = await ensureDataset(url, 0.05, { rebuild: false, log: (m) => logs.push(m) });
      expect(again.loadedS).toBeNull();
      const copy = await copyDataset(url, `${name}_copy`);
      const c2 = new Client({ connectionString: copy });
      await c2.connect();
      expect((await c2.query('SELECT count(*)::int AS n FROM content.posts')).rows[0]).toEqual({ n: first.counts.posts });
      await c2.end();
    } finally {
      const admin = withDatabase(base, 'postgres');
      await dropDatabase(admin, `${name}_copy`);
      await dropDatabase(admin, name);
    }
  }, 60_000);
});
