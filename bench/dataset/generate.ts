/**
 * The benchmark's data set, made deterministically from a seed (same seed and scale → same rows,
 * same ids), shaped like the socfb-Reed98 graph that DeathStarBench's social network uses.
 *
 * Users, in this order (their index is their name: `u<i>`, email `u<i>@bench.test`):
 *   core      962×scale users, ~18 800×scale directed follow edges among them (Chung–Lu graph over
 *             Pareto weights: a few users have hundreds of followers, most a handful)
 *   extra     4 100×scale more authors, so that 5 000 followees exist
 *   readers   `reader_10`, `reader_100`, `reader_1000`, `reader_5000`: follow exactly that many
 *             authors (a fixed shuffle of core + extra), author nothing
 *   probes    `probe_0`, `probe_100`, `probe_1000`: public authors with exactly that many
 *             followers (the first core/extra users), no posts (the post-create probe writes them)
 * Every core and extra user authors 20 posts (1–3 images each); likes (mean 5 per post) and
 * comments (mean 2 per post) have heavy-tailed counts per post. Every password is PASSWORD.
 * Cost: ~2 s and ~200 MB of memory at scale 1 (the rows are held until inserted).
 */

import { prng } from '@shutter/testing/src/random';

export const PASSWORD = 'bench-password';
export const DATASET_VERSION = 3;
const CORE_USERS = 962;
const CORE_EDGES = 18_812;
const EXTRA_AUTHORS = 4_100;
const POSTS_PER_AUTHOR = 20;
const LIKES_PER_POST = 5;
const COMMENTS_PER_POST = 2;
export const READER_FOLLOWEES = [10, 100, 1000, 5000] as const;
export const PROBE_FOLLOWERS = [0, 100, 1000] as const;
/** The posts span these days before T_END (ids are UUIDv7: their time is their order). */
const DAYS = 120;
const T_END = Date.parse('2026-11-01T00:00:00.000Z');

/** A UUIDv7 for this ms timestamp with random bits from `rand`. */
export function uuidv7(ms: number, rand: () => number): string {
  const hex = (n: number, len: number) => Math.floor(n).toString(16).padStart(len, '0');
  const ts = hex(ms, 12);
  const r = () => hex(rand() * 0x10000, 4);
  const variant = hex(0x8000 | Math.floor(rand() * 0x4000), 4);
  return `${ts.slice(0, 8)}-${ts.slice(8)}-7${r().slice(1)}-${variant}-${r()}${r()}${r()}`;
}

/** A Pareto-distributed weight ≥ 1 (tail exponent alpha): the heavy tail of degrees and counts. */
const pareto = (rand: () => number, alpha: number) => Math.pow(1 - rand(), -1 / (alpha - 1));

export interface BenchUser {
  id: string;
  username: string;
  email: string;
  isPublic: boolean;
  createdAt: Date;
}

export interface Dataset {
  scale: number;
  users: BenchUser[];
  /** Index ranges into `users`. */
  core: number;
  extra: number;
  readers: Record<string, number>;
  probes: Record<string, number>;
  /** Directed agree edges (user indexes). */
  follows: Array<[number, number]>;
  posts: { id: string; author: number; content: string; createdAt: Date }[];
  images: { post: number; position: number; object: number; width: number; height: number }[];
  likes: { post: number; user: number; createdAt: Date }[];
  comments: { id: string; post: number; author: number; content: string; createdAt: Date }[];
}

/** Picks `k` distinct values of [0, n) (k ≤ n), by rejection when k is small, else by a partial shuffle. */
function pickDistinct(rand: () => number, n: number, k: number, exclude?: number): number[] {
  if (k * 3 < n) {
    const s = new Set<number>();
    while (s.size < k) {
      const v = Math.floor(rand() * n);
      if (v !== exclude) s.add(v);
    }
    return [...s];
  }
  const all = Array.from({ length: n }, (_, i) => i).filter((v) => v !== exclude);
  for (let i = 0; i < Math.min(k, all.length); i++) {
    const j = i + Math.floor(rand() * (all.length - i));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all.slice(0, k);
}

export function generate(scale: number, seed = 98): Dataset {
  const rand = prng(seed * 7919 + scale);
  const core = Math.round(CORE_USERS * scale);
  const extra = Math.round(EXTRA_AUTHORS * scale);
  const authors = core + extra;
  const users: BenchUser[] = [];
  const addUser = (username: string, isPublic: boolean) => {
    const createdAt = T_END - (DAYS + 30) * 86_400_000 + users.length * 1000;
    users.push({ id: uuidv7(createdAt, rand), username, email: `${username}@bench.test`, isPublic, createdAt: new Date(createdAt) });
    return users.length - 1;
  };
  // One in ten authors is private: their followers (all edges here are agree) still see them.
  for (let i = 0; i < authors; i++) addUser(`u${i}`, rand() >= 0.1);
  const readers: Record<string, number> = {};
  for (const k of READER_FOLLOWEES) readers[String(k)] = addUser(`reader_${k}`, true);
  const probes: Record<string, number> = {};
  for (const k of PROBE_FOLLOWERS) probes[String(k)] = addUser(`probe_${k}`, true);

  // Core graph (Chung–Lu): out-degree ∝ weight, targets drawn ∝ weight; duplicates and self
  // edges dropped, so the total lands a little under the target; it is topped up to it.
  const weights = Array.from({ length: core }, () => pareto(rand, 2.3));
  const total = weights.reduce((a, b) => a + b, 0);
  const cumulative: number[] = [];
  let acc = 0;
  for (const w of weights) cumulative.push((acc += w));
  const drawTarget = () => {
    const x = rand() * total;
    let lo = 0;
    let hi = core - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const edgeTarget = Math.round(CORE_EDGES * scale);
  const out: Array<Set<number>> = Array.from({ length: core }, () => new Set());
  let edges = 0;
  for (let i = 0; i < core; i++) {
    const want = Math.min(core - 1, Math.round((weights[i]! / total) * edgeTarget));
    for (let tries = 0; out[i]!.size < want && tries < want * 4; tries++) {
      const t = drawTarget();
      if (t !== i && !out[i]!.has(t)) {
        out[i]!.add(t);
        edges++;
      }
    }
  }
  while (edges < edgeTarget) {
    const f = Math.floor(rand() * core);
    const t = drawTarget();
    if (t !== f && !out[f]!.has(t)) {
      out[f]!.add(t);
      edges++;
    }
  }
  const follows: Array<[number, number]> = [];
  for (let i = 0; i < core; i++) for (const t of out[i]!) follows.push([i, t]);
  // Readers follow a fixed shuffle's first k authors (nested: reader_100's include reader_10's).
  const order = pickDistinct(rand, authors, authors);
  for (const k of READER_FOLLOWEES) for (const a of order.slice(0, Math.min(k, authors))) follows.push([readers[String(k)]!, a]);
  for (const k of PROBE_FOLLOWERS) for (let f = 0; f < Math.min(k, authors); f++) follows.push([f, probes[String(k)]!]);

  const posts: Dataset['posts'] = [];
  const images: Dataset['images'] = [];
  for (let a = 0; a < authors; a++) {
    for (let p = 0; p < POSTS_PER_AUTHOR; p++) {
      const t = T_END - DAYS * 86_400_000 + Math.floor(rand() * DAYS * 86_400_000);
      const idx = posts.length;
      posts.push({
        id: uuidv7(t, rand),
        author: a,
        content: `photo ${p} by u${a}: ${WORDS[Math.floor(rand() * WORDS.length)]} #${WORDS[Math.floor(rand() * WORDS.length)]}`,
        createdAt: new Date(t),
      });
      const n = 1 + Math.floor(rand() * 3);
      for (let i = 0; i < n; i++) images.push({ post: idx, position: i, object: Math.floor(rand() * OBJECTS), width: 1080, height: 1350 });
    }
  }

  // Likes and comments: a Pareto count per post scaled to the mean; likers drawn from all authors.
  const likes: Dataset['likes'] = [];
  const comments: Dataset['comments'] = [];
  const likeCounts = heavyTailedCounts(rand, posts.length, LIKES_PER_POST, Math.min(authors - 1, 2000));
  const commentCounts = heavyTailedCounts(rand, posts.length, COMMENTS_PER_POST, 500);
  for (let i = 0; i < posts.length; i++) {
    const post = posts[i]!;
    const t0 = post.createdAt.getTime();
    const nLikes = likeCounts[i]!;
    for (const u of pickDistinct(rand, authors, nLikes, post.author))
      likes.push({ post: i, user: u, createdAt: new Date(t0 + 1000 + Math.floor(rand() * 86_400_000)) });
    const nComments = commentCounts[i]!;
    for (let c = 0; c < nComments; c++) {
      const t = t0 + 1000 + Math.floor(rand() * 86_400_000);
      comments.push({
        id: uuidv7(t, rand),
        post: i,
        author: Math.floor(rand() * authors),
        content: `${WORDS[Math.floor(rand() * WORDS.length)]}!`,
        createdAt: new Date(t),
      });
    }
  }
  return { scale, users, core, extra, readers, probes, follows, posts, images, likes, comments };
}

/** `n` integer counts with this mean and cap, Pareto-tailed (most posts get a few, some very many). */
function heavyTailedCounts(rand: () => number, n: number, mean: number, cap: number): number[] {
  const w = Array.from({ length: n }, () => pareto(rand, 2.1) - 0.9);
  let k = mean / (w.reduce((a, b) => a + b, 0) / n);
  // The cap removes mass from the tail: rescale until the mean holds.
  for (let i = 0; i < 8; i++) {
    const sum = w.reduce((a, b) => a + Math.min(cap, b * k), 0);
    k *= (mean * n) / sum;
  }
  // Fractions are rounded at random so that small counts keep the mean.
  return w.map((x) => {
    const v = Math.min(cap, x * k);
    return Math.floor(v) + (rand() < v - Math.floor(v) ? 1 : 0);
  });
}

/** How many distinct S3 objects the image rows point at (uploaded once by the loader). */
export const OBJECTS = 4;

const WORDS = [
  'sunset',
  'coffee',
  'street',
  'harbour',
  'forest',
  'snow',
  'market',
  'bridge',
  'garden',
  'rain',
  'night',
  'river',
  'mountain',
  'portrait',
  'city',
  'beach',
];
