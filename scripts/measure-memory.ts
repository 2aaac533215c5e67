/**
 * The memory budget of the production bundles (docs/deploy.md *Memory*): the smoke stack
 * (scripts/lib/smoke.ts: the Dockerfile's bundles, plain node, heap caps as in compose, nginx)
 * idle after the journey, then its peak while `make bench` runs against it through nginx with a
 * light load (BENCH_SECONDS=5, BENCH_CONNECTIONS=8 unless set). Prints RSS per process in MiB.
 *
 *   node --require tsx/cjs scripts/measure-memory.ts
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensurePostgres, ensureRedis, REPO_ROOT } from '@shutter/testing';
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
    const bench = spawn(process.execPath, ['--require', 'tsx/cjs', path.join(REPO_ROOT, 'bench/run.ts')], {
      cwd: REPO_ROOT,
      env: { ...process.env, BENCH_URL: stack.url, BENCH_SECONDS: process.env.BENCH_SECONDS ?? '5', BENCH_CONNECTIONS: process.env.BENCH_CONNECTIONS ?? '8' },
      stdio: 'inherit',
    });
    await new Promise((resolve) => bench.once('exit', resolve));
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
