/**
 * `make bench`: Shutter under load on a social-network data set, beside same-run baselines.
 *
 *   1. Data set (bench/dataset): loaded once into shutter_bench_template, reused while its version
 *      and scale match; each run works on a fresh copy (shutter_bench).
 *   2. The stack as `make dev` runs it, behind the real nginx (bench/lib/stack.ts); every Shutter
 *      figure is measured through nginx → gateway → services with tokens from real logins.
 *   3. Baselines in the same run: a bare Fastify hello-world and a Fastify + pg monolith answering
 *      the same feed page with one SQL statement (bench/baselines). Shutter's figures are printed
 *      as ratios to them: absolute req/s on a shared 2-core machine swing 2–4× from day to day.
 *   4. Probes: feed by followee count, post-create by follower count with the fan-out timed on its
 *      own, a latency-by-load sweep of the feed; idle and loaded RSS per process; start-up time.
 *   5. bench/results/latest.json, latest.md, latest-feed.png (git-ignored).
 *
 * Knobs: BENCH_QUICK=1 (≈2-minute smoke run), BENCH_SCALE=n (data set ×n), BENCH_REBUILD=1 (load
 * the data set again), BENCH_PROFILE=1 (a CPU profile per process, bench/results/profiles),
 * BENCH_TRACING=1 (instead of the above: tracing's cost, off against on, measureTracingOverhead),
 * BENCH_SECONDS (per measured route), BENCH_CONNECTIONS (32), BENCH_PG_URL (the Postgres server,
 * default postgres://postgres@127.0.0.1:5432).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Redis from 'ioredis';
import sharp from 'sharp';
import { freePort } from '@shutter/testing/src/backends';
import { READER_FOLLOWEES, PASSWORD, PROBE_FOLLOWERS, type Dataset } from './dataset/generate';
import { OBJECT_PNG, copyDataset, ensureDataset } from './dataset/load';
import { cycle, multipartPost, run, type RouteResult, type Shot } from './lib/cannon';
import { startOtlpSink } from './lib/otlp-sink';
import { summariseProfiles, type ProfileSummary } from './lib/profiles';
import { writeReport, type Report } from './lib/report';
import { profileEnv, rssMb, startStack, type Stack } from './lib/stack';

const QUICK = process.env.BENCH_QUICK === '1';
const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const PROFILE = process.env.BENCH_PROFILE === '1';
const TRACING = process.env.BENCH_TRACING === '1';
const SECONDS = Number(process.env.BENCH_SECONDS ?? (QUICK ? 2 : 10));
const WARM_SECONDS = QUICK ? 1 : 3;
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const PG_URL = (process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432').replace(/\/+$/, '');
/** Readers of the feed mix (the first core users: they follow a Reed98-shaped set each). */
const MIX_READERS = QUICK ? 40 : 200;
const PROBES: readonly number[] = QUICK ? PROBE_FOLLOWERS.filter((k) => k <= 100) : PROBE_FOLLOWERS;
const RESULTS = path.join(__dirname, 'results');
const log = (m: string) => console.log(`bench: ${m}`);

async function main() {
  // The AWS SDK's notice that its 2027 releases need Node 22: noise in every run.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  if (!Number.isFinite(SCALE) || SCALE <= 0) throw new Error(`BENCH_SCALE=${process.env.BENCH_SCALE} is not a positive number`);
  fs.mkdirSync(RESULTS, { recursive: true });
  const profileDir = PROFILE ? path.join(RESULTS, 'profiles') : undefined;
  if (profileDir) {
    fs.rmSync(profileDir, { recursive: true, force: true });
    fs.mkdirSync(profileDir, { recursive: true });
  }
  const started = Date.now();
  // One template per scale, so a ×10 run does not cost the ×1 data set its next reuse.
  const template = `${PG_URL}/shutter_bench_template${SCALE === 1 ? '' : `_x${String(SCALE).replace('.', '_')}`}`;
  const { data, counts, loadedS } = await ensureDataset(template, SCALE, { rebuild: process.env.BENCH_REBUILD === '1', log });
  if (TRACING) return measureTracingOverhead(template, data);
  const databaseUrl = await copyDataset(template, 'shutter_bench');

  const stack = await startStack({ databaseUrl, resultsDir: RESULTS, profileDir, log });
  const children: ChildProcess[] = [];
  let report: Report | undefined;
  try {
    await sleep(2000);
    const idle = Object.fromEntries(Object.entries(stack.pids()).map(([n, pids]) => [n, rssMb(pids)]));
    log(`idle RSS MB: ${JSON.stringify(idle)}`);
    report = await measureAll(stack, data, idle, children);
    report.dataset = { ...counts, scale: SCALE, load_s: loadedS };
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await stack.stop();
  }
  let profiles: ProfileSummary[] = [];
  if (profileDir) profiles = summariseProfiles(profileDir);
  report.profiles = profiles;
  report.total_s = Math.round((Date.now() - started) / 1000);
  const files = await writeReport(RESULTS, report);
  log(`wrote ${files.join(', ')}`);
  const failed = Object.entries({ ...report.routes, ...report.baseline_runs }).filter(([, r]) => r.errors > 0);
  if (failed.length) {
    console.error(`bench: requests failed on ${failed.map(([k, r]) => `${k} (${JSON.stringify(r.failures)})`).join(', ')}`);
    process.exitCode = 1;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function logRow(key: string, r: RouteResult): void {
  log(
    `${key.padEnd(26)} ${String(Math.round(r.rps)).padStart(6)} req/s  p50 ${String(r.p50_ms).padStart(5)} ms  p90 ${String(r.p90_ms).padStart(5)} ms  p99 ${String(r.p99_ms).padStart(5)} ms  errors ${r.errors}`,
  );
}

/** Two runs of the same thing as one: rates and percentiles averaged, counts summed. */
function combine(a: RouteResult, b: RouteResult): RouteResult {
  const avg = (x: number, y: number) => Math.round(((x + y) / 2) * 10) / 10;
  const failures = { ...a.failures };
  for (const [k, v] of Object.entries(b.failures ?? {})) failures[k] = (failures[k] ?? 0) + v;
  return {
    rps: avg(a.rps, b.rps),
    p50_ms: avg(a.p50_ms, b.p50_ms),
    p90_ms: avg(a.p90_ms, b.p90_ms),
    p99_ms: avg(a.p99_ms, b.p99_ms),
    errors: a.errors + b.errors,
    requests: a.requests + b.requests,
    ...(Object.keys(failures).length ? { failures } : {}),
  };
}

/** Runs `fn` over `items` with at most `n` at a time. */
async function pool<T, R>(items: T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

async function login(url: string, email: string): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(`${url}/api/users/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: PASSWORD }),
    });
    const body = (await res.json()) as { data?: { token?: string } };
    if (res.ok && body.data?.token) return body.data.token;
    if (attempt >= 3) throw new Error(`login ${email}: ${res.status} ${JSON.stringify(body)}`);
    await sleep(500);
  }
}

/** A 4032×3024 JPEG (~3.7 MB) of smooth colour noise with EXIF orientation 6, like a phone's. */
async function phonePhoto(): Promise<Buffer> {
  const w = 4032 / 8;
  const h = 3024 / 8;
  const seed = Buffer.from(Array.from({ length: w * h * 3 }, (_, i) => (i * 2654435761) >>> 24));
  return sharp(seed, { raw: { width: w, height: h, channels: 3 } })
    .resize(4032, 3024)
    .jpeg({ quality: 90 })
    .withMetadata({ orientation: 6 })
    .toBuffer();
}

async function measureAll(stack: Stack, d: Dataset, idleRss: Record<string, number>, children: ChildProcess[]): Promise<Report> {
  const url = stack.url;
  const auth = (token: string) => ({ authorization: `Bearer ${token}` });

  // Tokens from real logins (argon2-bound: a few at a time).
  const t = Date.now();
  const probeFollowers = Math.max(...PROBES);
  const loggedIn = Array.from({ length: Math.max(MIX_READERS, probeFollowers) }, (_, i) => i);
  const userTokens = await pool(loggedIn, 4, (i) => login(url, d.users[i]!.email));
  const readerTokens: Record<string, string> = {};
  for (const k of READER_FOLLOWEES) readerTokens[k] = await login(url, d.users[d.readers[k]!]!.email);
  const probeTokens: Record<string, string> = {};
  for (const k of PROBES) probeTokens[k] = await login(url, d.users[d.probes[k]!]!.email);
  log(`${userTokens.length + READER_FOLLOWEES.length + PROBES.length} logins in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  const mixTokens = userTokens.slice(0, MIX_READERS);

  // Warm-up, the production way: each timeline is rebuilt from Postgres on its first read, and
  // content's read models fill from identity / social-graph on their first miss.
  const t2 = Date.now();
  await pool(userTokens, 8, async (token) => {
    const res = await fetch(`${url}/api/posts?limit=10`, { headers: auth(token) });
    if (!res.ok) throw new Error(`warm-up feed: ${res.status} ${await res.text()}`);
  });
  for (const token of Object.values(readerTokens)) await fetch(`${url}/api/posts?limit=10`, { headers: auth(token) });
  log(`warmed ${userTokens.length + 4} timelines in ${((Date.now() - t2) / 1000).toFixed(1)} s`);

  // What the routes point at: public authors and their posts (anyone may see them).
  const authors = d.core + d.extra;
  const publicAuthors = Array.from({ length: authors }, (_, i) => i).filter((i) => d.users[i]!.isPublic);
  const publicPosts = d.posts.filter((p) => d.users[p.author]!.isPublic);
  const pick = <T>(list: T[], n: number, stride = 7919) => Array.from({ length: n }, (_, i) => list[(i * stride) % list.length]!);
  const postSample = pick(publicPosts, 2000).map((p) => p.id);
  const authorSample = pick(publicAuthors, 500).map((i) => d.users[i]!.id);
  const feedPath = '/api/posts?limit=10';

  const routes: Record<string, RouteResult> = {};
  const measure = async (key: string, o: { next: () => Shot; connections?: number; warm?: boolean; base?: string }) => {
    const opts = { url: o.base ?? url, next: o.next, connections: o.connections ?? CONNECTIONS };
    if (o.warm !== false) await run({ ...opts, seconds: WARM_SECONDS });
    const r = await run({ ...opts, seconds: SECONDS });
    logRow(key, r);
    return r;
  };
  const mixAuth = cycle(mixTokens);

  // The feed beside the monolith, reader for reader, in A-B-B-A halves: the load other work puts
  // on a shared machine drifts by the minute, and this way both sides see the same drift.
  const hello = await startBaseline('hello', {}, children);
  const monolith = await startBaseline(
    'monolith',
    { DATABASE_URL: stack.databaseUrl, JWKS_URL: `${stack.gatewayUrl}/.well-known/jwks.json`, ...stack.s3Env },
    children,
  );
  const helloRuns = [await measure('baseline hello', { base: hello, next: () => ({ path: '/' }) })];
  const baselineRuns: Record<string, RouteResult> = {};
  const loadRss: Record<string, number> = {};
  // Under-load RSS: the largest seen while the feed and write routes run, sampled every second.
  const sampler = setInterval(() => {
    for (const [name, pids] of Object.entries(stack.pids())) loadRss[name] = Math.max(loadRss[name] ?? 0, rssMb(pids));
  }, 1000);
  const paired = async (key: string, next: () => Shot) => {
    const half = { next, connections: CONNECTIONS, url };
    await run({ ...half, url: monolith, seconds: WARM_SECONDS });
    await run({ ...half, seconds: WARM_SECONDS });
    const halfS = Math.max(1, SECONDS / 2);
    const m1 = await run({ ...half, url: monolith, seconds: halfS });
    const s1 = await run({ ...half, seconds: halfS });
    const s2 = await run({ ...half, seconds: halfS });
    const m2 = await run({ ...half, url: monolith, seconds: halfS });
    const mono = combine(m1, m2);
    const shutter = combine(s1, s2);
    baselineRuns[`monolith_${key}`] = mono;
    logRow(`monolith ${key}`, mono);
    logRow(key, shutter);
    return { mono, shutter };
  };
  const mix = await paired('feed_mix', () => ({ path: feedPath, headers: auth(mixAuth()) }));
  routes.feed_mix = mix.shutter;
  const baseMix = mix.mono;
  const monolithBy: Record<string, number> = {};
  const monolithP50By: Record<string, number> = {};
  for (const k of READER_FOLLOWEES) {
    const r = await paired(`feed_${k}`, () => ({ path: feedPath, headers: auth(readerTokens[k]!) }));
    routes[`feed_${k}`] = r.shutter;
    monolithBy[k] = r.mono.rps;
    monolithP50By[k] = r.mono.p50_ms;
  }
  helloRuns.push(await measure('baseline hello', { base: hello, next: () => ({ path: '/' }) }));
  const baseHello = combine(helloRuns[0]!, helloRuns[1]!);
  baselineRuns.hello = baseHello;
  for (const c of children.splice(0)) c.kill('SIGTERM');

  const nextAuthor = cycle(authorSample);
  const nextPost = cycle(postSample);
  const hotReads: Record<string, () => Shot> = {
    feed_mix: () => ({ path: feedPath, headers: auth(mixAuth()) }),
    user_posts: () => ({ path: `/api/posts?limit=10&user_id=${nextAuthor()}`, headers: auth(mixAuth()) }),
    post: () => ({ path: `/api/posts/${nextPost()}`, headers: auth(mixAuth()) }),
    profile: () => ({ path: `/api/users/${nextAuthor()}`, headers: auth(mixAuth()) }),
    me: () => ({ path: '/api/users/me', headers: auth(mixAuth()) }),
    unread_count: () => ({ path: '/api/events/unread-count', headers: auth(mixAuth()) }),
  };
  // Two rounds, the second in reverse order, each route's halves combined: the routes compared
  // with one another (profile and post against /me) see the same drift of the machine's load.
  const reads = ['user_posts', 'post', 'profile', 'me', 'unread_count'];
  const halves: Record<string, RouteResult[]> = {};
  for (const key of reads) await run({ url, next: hotReads[key]!, connections: CONNECTIONS, seconds: WARM_SECONDS });
  for (const key of [...reads, ...[...reads].reverse()])
    (halves[key] ??= []).push(await run({ url, next: hotReads[key]!, connections: CONNECTIONS, seconds: Math.max(1, SECONDS / 2) }));
  for (const key of reads) {
    routes[key] = combine(halves[key]![0]!, halves[key]![1]!);
    logRow(key, routes[key]);
  }

  // BENCH_PROFILE: the slowest hot read once more, with every process's profiler on (SIGUSR2
  // switches cpu-profile.cjs on and off), so its profile shows that route alone.
  let profiledRoute: string | null = null;
  if (PROFILE) {
    profiledRoute = Object.keys(hotReads).sort((a, b) => routes[a]!.rps - routes[b]!.rps)[0]!;
    const pids = Object.entries(stack.pids())
      .filter(([name]) => name !== 'nginx' && name !== 'redis')
      .flatMap(([, p]) => p);
    const signal = () => pids.forEach((pid) => process.kill(pid, 'SIGUSR2'));
    signal();
    const r = await run({ url, next: hotReads[profiledRoute]!, connections: CONNECTIONS, seconds: SECONDS });
    signal();
    logRow(`${profiledRoute} (profiled)`, r);
  }

  // Latency by load: the feed mix at fixed rates up to past saturation.
  const sweep: Array<{ target_rps: number; rps: number; p50_ms: number; p99_ms: number; errors: number }> = [];
  const max = routes.feed_mix.rps;
  for (const f of QUICK ? [0.5, 1, 1.25] : [0.25, 0.5, 0.75, 0.9, 1, 1.25]) {
    const target = Math.max(1, Math.round(max * f));
    const r = await run({ url, connections: CONNECTIONS, rate: target, seconds: SECONDS, next: () => ({ path: feedPath, headers: auth(mixAuth()) }) });
    sweep.push({ target_rps: target, rps: r.rps, p50_ms: r.p50_ms, p99_ms: r.p99_ms, errors: r.errors });
    log(`sweep ${String(target).padStart(6)} req/s offered: ${Math.round(r.rps)} served, p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms`);
  }

  // Post-create latency by the author's follower count, and the fan-out alone: a first post
  // waits out whatever the event stream still holds, the second is timed from its 201 until
  // every follower's timeline (each exists: warmed above) holds it. Then the create latency.
  const form = multipartPost('a new photo from the bench', OBJECT_PNG);
  const redis = new Redis(stack.redisUrl);
  const postCreateP99: Record<string, number> = {};
  const fanout: Record<string, { followers: number; seconds: number; after_201_s: number; entries_per_s: number | null }> = {};
  try {
    for (const k of PROBES) {
      const token = probeTokens[k]!;
      if (k > 0) {
        const followers = d.users.slice(0, k).map((u) => u.id);
        await timeFanout(url, redis, token, form, followers);
        fanout[k] = await timeFanout(url, redis, token, form, followers);
        log(
          `fan-out to ${k} timelines: ${fanout[k]!.seconds.toFixed(3)} s from the request, ${fanout[k]!.after_201_s.toFixed(3)} s after the 201 (≥ ${fanout[k]!.entries_per_s} entries/s)`,
        );
      }
      const r = await measure(`create_post (${k} followers)`, {
        connections: 2,
        warm: false,
        next: () => ({ method: 'POST', path: '/api/posts/', headers: { ...auth(token), 'content-type': form.contentType }, body: form.body }),
      });
      postCreateP99[k] = r.p99_ms;
    }
    // The probes' fan-outs drain before the write mix.
    await timeFanout(
      url,
      redis,
      probeTokens[Math.max(...PROBES)]!,
      form,
      d.users.slice(0, Math.max(...PROBES)).map((u) => u.id),
    );
  } finally {
    redis.disconnect();
  }

  // Writes: each request a different (user, target) pair, so most are real changes.
  // Last, so the event backlog they leave (fan-outs, notifications) disturbs no other figure.
  const json = (token: string) => ({ ...auth(token), 'content-type': 'application/json' });
  let n = 0;
  routes.create_post = await measure('create_post', {
    connections: 8,
    warm: false,
    next: () => ({ method: 'POST', path: '/api/posts/', headers: { ...auth(mixAuth()), 'content-type': form.contentType }, body: form.body }),
  });
  // The same with a phone photo (12 MP JPEG tagged "rotate 90°"): the photo pipeline's cost on the write path.
  const photoForm = multipartPost('a phone photo from the bench', await phonePhoto());
  routes.create_post_photo = await measure('create_post (12 MP photo)', {
    connections: 2,
    warm: false,
    next: () => ({ method: 'POST', path: '/api/posts/', headers: { ...auth(mixAuth()), 'content-type': photoForm.contentType }, body: photoForm.body }),
  });
  routes.like = await measure('like', {
    warm: false,
    next: () => ({ method: 'POST', path: `/api/posts/like/${postSample[(n++ * 13) % postSample.length]}`, headers: auth(mixAuth()) }),
  });
  routes.comment = await measure('comment', {
    warm: false,
    next: () => ({ method: 'POST', path: `/api/posts/comment/${nextPost()}`, headers: json(mixAuth()), body: '{"content":"nice light!"}' }),
  });
  const followTargets = pick(
    publicAuthors.filter((i) => i >= d.core),
    3000,
  ).map((i) => d.users[i]!.id);
  routes.follow = await measure('follow', {
    warm: false,
    next: () => ({ method: 'POST', path: `/api/follows/request/${followTargets[(n++ * 17) % followTargets.length]}`, headers: auth(mixAuth()) }),
  });
  const loginBody = cycle(mixTokens.map((_, i) => JSON.stringify({ email: d.users[i]!.email, password: PASSWORD })));
  routes.login = await measure('login', {
    connections: 4,
    warm: false,
    next: () => ({ method: 'POST', path: '/api/users/login', headers: { 'content-type': 'application/json' }, body: loginBody() }),
  });

  clearInterval(sampler);

  const cpu = os.cpus();
  return {
    machine: {
      cores: cpu.length,
      cpu_model: cpu[0]?.model ?? 'unknown',
      memory_gb: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      date: new Date().toISOString(),
      quick: QUICK,
      shared: true,
    },
    dataset: { users: 0, follows: 0, posts: 0, images: 0, likes: 0, comments: 0, scale: SCALE, load_s: null },
    settings: { seconds_per_route: SECONDS, connections: CONNECTIONS, mix_readers: MIX_READERS, page_size: 10 },
    routes,
    baseline_runs: baselineRuns,
    baselines: {
      hello_rps: baseHello.rps,
      monolith_feed_rps: baseMix.rps,
      monolith_feed_p50_ms: baseMix.p50_ms,
      monolith_feed_rps_by_followees: monolithBy,
      monolith_feed_p50_ms_by_followees: monolithP50By,
    },
    feed_rps_by_followees: Object.fromEntries(READER_FOLLOWEES.map((k) => [k, routes[`feed_${k}`]!.rps])),
    feed_p50_ms_by_followees: Object.fromEntries(READER_FOLLOWEES.map((k) => [k, routes[`feed_${k}`]!.p50_ms])),
    feed_p99_ms_by_followees: Object.fromEntries(READER_FOLLOWEES.map((k) => [k, routes[`feed_${k}`]!.p99_ms])),
    post_create_p99_ms_by_followers: postCreateP99,
    fanout_entries_per_s: fanout[String(Math.max(...PROBES))]?.entries_per_s ?? null,
    fanout_by_followers: fanout,
    feed_latency_by_load: sweep,
    idle_rss_mb: idleRss,
    load_rss_mb: loadRss,
    ready_s: Math.round(stack.readyS * 10) / 10,
    profiled_route: profiledRoute,
    profiles: [],
    total_s: 0,
  };
}

/**
 * BENCH_TRACING=1: what tracing costs the hot reads. Two stacks side by side on copies of the
 * data set: one without an OTLP endpoint (tracing off, as `make dev` runs by default), one
 * exporting every span (the SDK's default sampler keeps all) to a sink in this process that
 * accepts and discards them (lib/otlp-sink.ts). The feed mix and a profile page run on each in
 * A-B-B-A halves, so both see the same drift of a shared machine's load; the ratios on/off are
 * printed and written to bench/results/tracing.json.
 */
async function measureTracingOverhead(template: string, d: Dataset): Promise<void> {
  for (const k of ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']) delete process.env[k];
  const sink = await startOtlpSink();
  const stacks: Stack[] = [];
  try {
    const off = await startStack({ databaseUrl: await copyDataset(template, 'shutter_bench'), resultsDir: RESULTS, log });
    stacks.push(off);
    const on = await startStack({
      databaseUrl: await copyDataset(template, 'shutter_bench_traced'),
      resultsDir: RESULTS,
      log,
      name: 'traced',
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url },
    });
    stacks.push(on);
    const emails = Array.from({ length: MIX_READERS }, (_, i) => d.users[i]!.email);
    const publicAuthors = d.users.slice(0, d.core + d.extra).filter((u) => u.isPublic);
    const nextAuthor = cycle(Array.from({ length: 500 }, (_, i) => publicAuthors[(i * 7919) % publicAuthors.length]!.id));
    const sides = await Promise.all(
      [off, on].map(async (stack) => {
        const tokens = await pool(emails, 4, (email) => login(stack.url, email));
        // Each timeline is rebuilt from Postgres on its first read (as in measureAll's warm-up).
        await pool(tokens, 8, async (token) => {
          const res = await fetch(`${stack.url}/api/posts?limit=10`, { headers: { authorization: `Bearer ${token}` } });
          if (!res.ok) throw new Error(`warm-up feed: ${res.status} ${await res.text()}`);
        });
        return { url: stack.url, token: cycle(tokens) };
      }),
    );
    log(`tracing: ${emails.length} readers logged in and warmed on both stacks`);
    const routes: Record<string, () => string> = { feed_mix: () => '/api/posts?limit=10', profile: () => `/api/users/${nextAuthor()}` };
    const result: Record<string, { off: RouteResult; on: RouteResult; rps_ratio: number; p50_ratio: number; p99_ratio: number }> = {};
    for (const [key, target] of Object.entries(routes)) {
      const shots = sides.map((side) => () => ({ path: target(), headers: { authorization: `Bearer ${side.token()}` } }));
      const once = (i: number, seconds: number) => run({ url: sides[i]!.url, next: shots[i]!, connections: CONNECTIONS, seconds });
      await once(0, WARM_SECONDS);
      await once(1, WARM_SECONDS);
      const halfS = Math.max(1, SECONDS / 2);
      const off1 = await once(0, halfS);
      const on1 = await once(1, halfS);
      const on2 = await once(1, halfS);
      const off2 = await once(0, halfS);
      const r = { off: combine(off1, off2), on: combine(on1, on2) };
      const ratio = (a: number, b: number) => Math.round((a / b) * 1000) / 1000;
      result[key] = { ...r, rps_ratio: ratio(r.on.rps, r.off.rps), p50_ratio: ratio(r.on.p50_ms, r.off.p50_ms), p99_ratio: ratio(r.on.p99_ms, r.off.p99_ms) };
      logRow(`${key} tracing off`, r.off);
      logRow(`${key} tracing on`, r.on);
      log(`${key}: tracing on serves ${result[key]!.rps_ratio}× the requests/s of off; p50 ×${result[key]!.p50_ratio}, p99 ×${result[key]!.p99_ratio}`);
    }
    const exported = sink.stats();
    log(`tracing: the sink took ${exported.requests} exports, ${(exported.bytes / 2 ** 20).toFixed(1)} MiB`);
    const cpu = os.cpus();
    const out = {
      machine: {
        cores: cpu.length,
        cpu_model: cpu[0]?.model ?? 'unknown',
        node: process.version,
        date: new Date().toISOString(),
        quick: QUICK,
        shared: true,
        load_avg: os.loadavg(),
      },
      settings: { seconds_per_route: SECONDS, connections: CONNECTIONS, mix_readers: MIX_READERS, scale: SCALE },
      routes: result,
      sink: exported,
    };
    fs.writeFileSync(path.join(RESULTS, 'tracing.json'), `${JSON.stringify(out, null, 2)}\n`);
    log(`wrote ${path.join(RESULTS, 'tracing.json')}`);
    const failed = Object.entries(result).filter(([, r]) => r.off.errors + r.on.errors > 0);
    if (failed.length) {
      console.error(`bench: requests failed on ${failed.map(([k]) => k).join(', ')}`);
      process.exitCode = 1;
    }
    if (exported.requests === 0) {
      console.error('bench: the traced stack exported no spans: its figures measure nothing');
      process.exitCode = 1;
    }
  } finally {
    for (const stack of stacks.reverse()) await stack.stop();
    await sink.stop();
  }
}

/** Posts once as an author whose followers' timelines exist, and times until every one holds the post. */
async function timeFanout(url: string, redis: Redis, token: string, form: { body: Buffer; contentType: string }, followerIds: string[]) {
  const t0 = performance.now();
  const res = await fetch(`${url}/api/posts/`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': form.contentType },
    body: form.body,
  });
  const body = (await res.json()) as { data?: { post_id?: string } };
  const postId = body.data?.post_id;
  if (res.status !== 201 || !postId) throw new Error(`fan-out probe post: ${res.status} ${JSON.stringify(body)}`);
  const t1 = performance.now();
  let waiting = followerIds;
  while (waiting.length) {
    const scores = await redis.pipeline(waiting.map((id) => ['zscore', `feed:${id}`, postId])).exec();
    waiting = waiting.filter((_, i) => scores?.[i]?.[1] === null);
    if (performance.now() - t1 > 120_000) throw new Error(`fan-out: ${waiting.length} of ${followerIds.length} timelines still lack the post after 120 s`);
    if (waiting.length) await sleep(5);
  }
  // Both clocks: after the 201 (the fan-out alone, but it may finish before the 201 is read) and
  // from the request (a lower bound of the rate, the create included).
  const end = performance.now();
  const seconds = (end - t0) / 1000;
  return {
    followers: followerIds.length,
    seconds: Math.round(seconds * 1000) / 1000,
    after_201_s: Math.round(((end - t1) / 1000) * 1000) / 1000,
    entries_per_s: Math.round(followerIds.length / seconds),
  };
}

async function startBaseline(name: 'hello' | 'monolith', env: Record<string, string>, children: ChildProcess[]): Promise<string> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', path.join(__dirname, 'baselines', `${name}.ts`)], {
    env: { ...process.env, ...env, PORT: String(port), ...(PROFILE ? profileEnv(path.join(RESULTS, 'profiles')) : {}) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  children.push(child);
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`baseline ${name} exited with ${child.exitCode}`);
    try {
      await fetch(`${base}/`);
      return base;
    } catch {
      await sleep(100);
    }
  }
  throw new Error(`baseline ${name} did not start`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
