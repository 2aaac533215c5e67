/**
 * `make fuzz`: generated requests against the real stack (fuzz/fuzzer.ts says what is checked).
 *
 * Target: FUZZ_URL (a running stack: `make dev`, compose behind nginx); without it, this starts
 * `scripts/dev.ts` itself with the limits lifted (so the requests reach the code, not the 429),
 * waits for /readyz, and stops it afterwards. FUZZ_REQUESTS (10 000), FUZZ_SEED (random; printed,
 * so a failing run can be replayed). Writes fuzz/results.json; exits 1 on any finding.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { waitFor } from '../packages/testing/src/http';
import { runFuzz } from './fuzzer';

const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 10_000);
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));

/** Every count-based limit lifted: the fuzzer's two users send thousands of requests a minute. */
export const LIFTED_LIMITS = {
  RATE_LIMIT_SCALE: '1000000',
  LOGIN_MAX_ATTEMPTS: '1000000',
  LOGIN_ADDRESS_MAX_ATTEMPTS: '1000000',
  UPLOAD_QUOTA_FILES_PER_HOUR: '1000000',
  UPLOAD_QUOTA_BYTES_PER_DAY: String(1e12),
};

async function startStack(): Promise<{ url: string; child?: ChildProcess }> {
  if (process.env.FUZZ_URL) return { url: process.env.FUZZ_URL };
  const url = `http://127.0.0.1:${process.env.PORT ?? 8080}`;
  const child = spawn(path.join(__dirname, '../node_modules/.bin/tsx'), [path.join(__dirname, '../scripts/dev.ts')], {
    env: { ...process.env, LOG_LEVEL: 'warn', LOG_FORMAT: 'json', ...LIFTED_LIMITS },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitFor(async () => (await fetch(`${url}/readyz`)).ok, 120_000, 250);
  return { url, child };
}

async function main() {
  const { url, child } = await startStack();
  try {
    console.log(`fuzz: ${url}, ${REQUESTS} requests, seed ${SEED} (FUZZ_SEED=${SEED} replays it)`);
    const report = await runFuzz({ baseUrl: url, seed: SEED, requests: REQUESTS, log: (l) => console.log(`fuzz: ${l}`) });
    fs.writeFileSync(path.join(__dirname, 'results.json'), JSON.stringify({ at: new Date().toISOString(), url, ...report }, null, 2));
    const statuses = Object.entries(report.byStatus)
      .map(([s, n]) => `${s}×${n}`)
      .join(' ');
    console.log(
      `fuzz: ${report.requests} requests in ${Math.round(report.ms / 1000)} s, ${report.serverErrors} × 5xx, ${report.findings.length} findings; statuses ${statuses}`,
    );
    const kinds = report.findings.reduce<Record<string, number>>((acc, f) => ({ ...acc, [f.kind]: (acc[f.kind] ?? 0) + 1 }), {});
    if (report.findings.length) console.log(`fuzz: findings by kind ${JSON.stringify(kinds)} (all in fuzz/results.json); the first ones:`);
    for (const f of report.findings.slice(0, 10))
      console.log(
        JSON.stringify({
          ...f,
          request: { ...f.request, headers: { ...f.request.headers, authorization: f.request.headers.authorization?.slice(0, 20) } },
        }).slice(0, 1500),
      );
    if (report.findings.length || report.requests < REQUESTS * 0.99) process.exitCode = 1;
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
