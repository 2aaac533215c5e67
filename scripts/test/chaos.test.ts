import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { REPO_ROOT, testBackends } from '@shutter/testing';
import { createDatabase, dropDatabase, withDatabase } from '@shutter/testing/src/backends';
import { Load } from '../lib/chaos-load';
import { FAULTS, runFault } from '../lib/chaos-run';
import { startChaosStack, type ChaosStack } from '../lib/chaos-stack';

/**
 * The short fault of `make chaos` that CI runs: the stack as `make dev` supervises it (on a
 * database and Redis key prefix of its own beside this jest run's, and the run's S3), a light
 * load, notification killed with SIGKILL. Nothing acknowledged may be lost, and notification must
 * serve again by itself. Its own database and prefix: on the run's, its relays would hold the
 * outbox leadership and its consumers take events for a minute, away from the other suites' stacks.
 */

let stack: ChaosStack | undefined;
const database = `shutter_chaos_${randomBytes(4).toString('hex')}`;
const adminUrl = () => process.env.TEST_PG_ADMIN_URL ?? '';

afterAll(async () => {
  await stack?.stop();
  await dropDatabase(adminUrl(), database).catch(() => undefined);
});

it('SIGKILL notification under load: restarted, unrelated routes keep answering, no write or event lost', async () => {
  const b = testBackends();
  const e = process.env;
  await createDatabase(adminUrl(), database);
  stack = await startChaosStack({
    logFile: path.join(REPO_ROOT, '.data/chaos/ci-stack.log'),
    backends: {
      databaseUrl: withDatabase(adminUrl(), database),
      redisUrl: b.redisUrl,
      redisPrefix: `${b.redisPrefix}chaos:`,
      s3Env: {
        S3_ENDPOINT: e.TEST_S3_ENDPOINT ?? '',
        S3_REGION: e.TEST_S3_REGION ?? 'us-east-1',
        S3_BUCKET: e.TEST_S3_BUCKET ?? 'shutter-media',
        S3_ACCESS_KEY_ID: e.TEST_S3_ACCESS_KEY_ID ?? '',
        S3_SECRET_ACCESS_KEY: e.TEST_S3_SECRET_ACCESS_KEY ?? '',
        S3_FORCE_PATH_STYLE: 'true',
      },
    },
  });
  const load = new Load(stack.url, { users: 6, workers: 2, pauseMs: 50, run: Date.now().toString(36) });
  await load.seed();
  const fault = FAULTS.find((f) => f.part === 'notification');
  if (!fault) throw new Error('no notification fault');
  const row = await runFault(stack, load, fault, { baselineMs: 1000, settleMs: 1000, verifyBoundMs: 20_000, recoveryBoundMs: 60_000 });

  expect(row.verdict.missing.examples).toEqual([]);
  expect(row.lostWrites).toBe(0);
  expect(row.lostEvents).toBe(0);
  expect(row.recoveryS).not.toBeNull();
  // The target is 10 s; CI machines are shared, so the bound here leaves room for a slow start.
  expect(row.recoveryS!).toBeLessThanOrEqual(20);
  // Posts, likes, comments, follows and feeds do not need notification.
  expect(row.unrelated.total).toBeGreaterThan(0);
  expect(row.unrelated.failed).toBe(0);
  // The supervisor started a new process.
  expect(
    stack.processes
      .find((p) => p.name === 'notification')
      ?.current()
      .running(),
  ).toBe(true);
}, 300_000);
