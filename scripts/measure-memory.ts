/**
 * The memory budget of the production bundles (docs/deploy.md *Memory*): the smoke stack
 * (scripts/lib/smoke.ts: the Dockerfile's bundles, plain node, heap caps as in compose, nginx)
 * idle after the journey, then its peak under a light mix through nginx (MEASURE_SECONDS=15,
 * MEASURE_CONNECTIONS=8): home feed, post page, own profile, unread count, likes, and logins
 * (argon2id) alongside. Prints RSS per process in MiB.
 *
 *   node --require tsx/cjs scripts/measure-memory.ts
 */
import autocannon from 'autocannon';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { apiClient, ensurePostgres, ensureRedis, REPO_ROOT, png } from '@shutter/testing';
import { buildBundles, smokeFlow, startArtifactStack } from './lib/smoke';

async function main() {
  const bundles = fs.mkdtempSync(path.join(os.tmpdir(), 'shutter-bundles-'));
  const pg = await ensurePostgres({ dataDir: path.join(REPO_ROOT, '.data/smoke-postgres'), persistent: false });
  const redis = await ensureRedis();
  await buildBundles(bundles);
  const stack = await startArtifactStack(bundles, { pgAdminUrl: pg.adminUrl, redisUrl: redis.url }, undefined, { unlimited: true });
  try {
    await smokeFlow(stack.url);
    await new Promise((r) => setTimeout(r, 3000));
    const idle = stack.memory();
    const peak: Record<string, number> = {};
    const sample = () => {
      for (const [name, m] of Object.entries(stack.memory())) peak[name] = Math.max(peak[name] ?? 0, m.rssMiB);
    };
    const timer = setInterval(sample, 250);
    const api = apiClient(stack.url);
    const reg = async (name: string) => {
      const res = await api.post('/api/users/register', { email: `${name}@measure.test`, username: name, password: 'measure-password' });
      return { token: res.body.data.token as string, id: res.body.data.user.user_id as string, email: `${name}@measure.test` };
    };
    const tag = Date.now().toString(36);
    const author = await reg(`ma${tag}`);
    const reader = await reg(`mr${tag}`);
    await api.patch('/api/users', { is_public: true }, { token: author.token });
    await api.post(`/api/follows/request/${author.id}`, undefined, { token: reader.token });
    const postIds: string[] = [];
    for (let i = 0; i < 5; i++) {
      const form = new FormData();
      form.append('content', `post ${i}`);
      form.append('images', new Blob([new Uint8Array(png(640, 480))], { type: 'image/png' }), 'p.png');
      postIds.push((await api.post('/api/posts', form, { token: author.token })).body.data.post_id);
    }
    const auth = { authorization: `Bearer ${reader.token}`, 'content-type': 'application/json' };
    const requests = [
      { method: 'GET' as const, path: '/api/posts', headers: auth },
      ...postIds.map((id) => ({ method: 'GET' as const, path: `/api/posts/${id}`, headers: auth })),
      { method: 'GET' as const, path: '/api/users/me', headers: auth },
      { method: 'GET' as const, path: '/api/events/unread-count', headers: auth },
      ...postIds.map((id) => ({ method: 'POST' as const, path: `/api/posts/like/${id}`, headers: auth })),
    ];
    const seconds = Number(process.env.MEASURE_SECONDS ?? 15);
    let logins = 0;
    const end = Date.now() + seconds * 1000;
    const loginLoop = (async () => {
      while (Date.now() < end) {
        await api.post('/api/users/login', { email: reader.email, password: 'measure-password' });
        logins++;
      }
    })();
    const result = await autocannon({ url: stack.url, connections: Number(process.env.MEASURE_CONNECTIONS ?? 8), duration: seconds, requests });
    await loginLoop;
    console.log(`light mix: ${Math.round(result.requests.average)} req/s for ${seconds} s, ${result.non2xx} non-2xx, ${logins} logins alongside`);
    clearInterval(timer);
    sample();
    console.log('\nmemory (MiB): process, idle RSS after the journey, peak RSS under the bench');
    let idleSum = 0;
    let peakSum = 0;
    for (const [name, m] of Object.entries(idle)) {
      idleSum += m.rssMiB;
      peakSum += peak[name] ?? m.rssMiB;
      console.log(`  ${name.padEnd(13)} ${String(m.rssMiB).padStart(7)} ${String(peak[name]).padStart(7)}`);
    }
    console.log(`  ${'total'.padEnd(13)} ${idleSum.toFixed(1).padStart(7)} ${peakSum.toFixed(1).padStart(7)}`);
  } finally {
    await stack.stop();
    fs.rmSync(bundles, { recursive: true, force: true });
    await redis.stop();
    await pg.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
