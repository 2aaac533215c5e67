/**
 * `make smoke`: builds the five bundles exactly as the Dockerfile does, starts them with plain
 * `node` behind the real nginx (rendered production config) and runs the user journey through it
 * (scripts/lib/smoke.ts). Prints each step and the memory of every process.
 *
 *   SMOKE_KEEP=1   keep the stack running until Ctrl-C (its URL is printed)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensurePostgres, ensureRedis, REPO_ROOT } from '@shutter/testing';
import { buildBundles, smokeFlow, startArtifactStack } from './lib/smoke';

async function main() {
  const t0 = Date.now();
  const bundles = fs.mkdtempSync(path.join(os.tmpdir(), 'shutter-bundles-'));
  const pg = await ensurePostgres({ dataDir: path.join(REPO_ROOT, '.data/smoke-postgres'), persistent: false });
  const redis = await ensureRedis();
  try {
    await buildBundles(bundles);
    console.log(`smoke: bundles built in ${Date.now() - t0} ms (${bundles})`);
    const stack = await startArtifactStack(bundles, { pgAdminUrl: pg.adminUrl, redisUrl: redis.url }, (m) => console.log(`smoke: ${m}`));
    try {
      for (const step of await smokeFlow(stack.url)) console.log(`  ✓ ${step}`);
      console.log('smoke: memory (MiB) after the journey');
      for (const [name, m] of Object.entries(stack.memory()))
        console.log(`  ${name.padEnd(13)} rss ${String(m.rssMiB).padStart(6)}  peak ${String(m.peakMiB).padStart(6)}`);
      console.log(`smoke: passed in ${Date.now() - t0} ms`);
      if (process.env.SMOKE_KEEP === '1') {
        console.log(`smoke: stack on ${stack.url}; Ctrl-C stops it`);
        await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
      }
    } finally {
      await stack.stop();
    }
  } finally {
    fs.rmSync(bundles, { recursive: true, force: true });
    await redis.stop();
    await pg.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
