/**
 * `make bench`: load-tests the hot read paths through the real stack with autocannon.
 *
 * Target: BENCH_URL (a running stack, e.g. `make dev` or compose behind nginx); without it, this
 * starts `scripts/dev.ts` itself, waits for /readyz, and stops it afterwards.
 * Knobs: BENCH_SECONDS (10 per route), BENCH_CONNECTIONS (32), BENCH_AUTHORS (20).
 * Prints one line per route: requests/s, p50/p99 latency, non-2xx count; writes bench/results.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import autocannon from 'autocannon';
import { apiClient, waitFor, type ApiClient } from '../packages/testing/src/http';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const AUTHORS = Number(process.env.BENCH_AUTHORS ?? 20);
// A 1×1 PNG: enough for a real image through the whole upload path.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');

async function startStack(): Promise<{ url: string; child?: ChildProcess }> {
  if (process.env.BENCH_URL) return { url: process.env.BENCH_URL };
  const url = `http://127.0.0.1:${process.env.PORT ?? 8080}`;
  const child = spawn(path.join(__dirname, '../node_modules/.bin/tsx'), [path.join(__dirname, '../scripts/dev.ts')], {
    // The per-user limit would turn most of one user's load into 429s: lift it for the run.
    env: { ...process.env, LOG_LEVEL: 'warn', LOG_FORMAT: 'json', RATE_LIMIT_SCALE: '1000000' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitFor(async () => (await fetch(`${url}/readyz`)).ok, 120_000, 250);
  return { url, child };
}

async function signup(api: ApiClient, name: string) {
  const res = await api.post('/api/users/register', { email: `${name}@bench.test`, username: name, password: 'bench-password' });
  if (res.status !== 201) throw new Error(`register: ${res.status} ${JSON.stringify(res.body)}`);
  return { token: res.body.data.token as string, id: res.body.data.user.user_id as string };
}

/** A reader following AUTHORS public accounts with two posts each. */
async function seed(api: ApiClient) {
  const run = Date.now().toString(36);
  const reader = await signup(api, `reader_${run}`);
  let postId = '';
  for (let i = 0; i < AUTHORS; i++) {
    const author = await signup(api, `author_${run}_${i}`);
    await api.patch('/api/users', { is_public: true }, { token: author.token });
    await api.post(`/api/follows/request/${author.id}`, undefined, { token: reader.token });
    for (let p = 0; p < 2; p++) {
      const form = new FormData();
      form.set('content', `post ${p} by author ${i}`);
      form.append('images', new Blob([PNG], { type: 'image/png' }), 'p.png');
      const res = await api.post('/api/posts/', form, { token: author.token });
      if (res.status !== 201) throw new Error(`post: ${res.status} ${JSON.stringify(res.body)}`);
      postId = res.body.data.post_id;
    }
  }
  return { reader, postId, someone: reader.id };
}

async function measure(url: string, title: string, route: string, token: string) {
  const result = await autocannon({
    url: url + route,
    connections: CONNECTIONS,
    duration: SECONDS,
    headers: { authorization: `Bearer ${token}` },
  });
  const row = {
    route: title,
    path: route,
    rps: Math.round(result.requests.average),
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
  };
  console.log(`${title.padEnd(28)} ${String(row.rps).padStart(6)} req/s   p50 ${String(row.p50_ms).padStart(4)} ms   p99 ${String(row.p99_ms).padStart(4)} ms   non-2xx ${row.non2xx}`);
  return row;
}

async function main() {
  const { url, child } = await startStack();
  try {
    const api = apiClient(url);
    const { reader, postId } = await seed(api);
    console.log(`bench: ${url}, ${CONNECTIONS} connections, ${SECONDS} s per route, reader follows ${AUTHORS} authors`);
    const rows = [
      await measure(url, 'GET /api/users/me', '/api/users/me', reader.token),
      await measure(url, 'GET /api/users/{id}', `/api/users/${reader.id}`, reader.token),
      await measure(url, 'GET /api/events/unread-count', '/api/events/unread-count', reader.token),
      await measure(url, 'GET /api/posts/{id}', `/api/posts/${postId}`, reader.token),
      await measure(url, 'GET /api/posts (feed, 10)', '/api/posts?limit=10', reader.token),
    ];
    fs.writeFileSync(path.join(__dirname, 'results.json'), JSON.stringify({ at: new Date().toISOString(), url, connections: CONNECTIONS, seconds: SECONDS, rows }, null, 2));
    if (rows.some((r) => r.non2xx > 0 || r.errors > 0)) {
      console.error('bench: some requests failed (non-2xx or errors)');
      process.exitCode = 1;
    }
  } finally {
    if (child) {
      child.kill('SIGINT');
      await new Promise((r) => child.once('exit', r));
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
