import type { Output } from './dev-output';
import { startNodeProcess, stopProcess, waitUntilReady, type Proc } from './dev-procs';

/**
 * One child of `make dev`, kept running the way compose's `restart: unless-stopped` keeps a
 * container: once start-up is over (`supervise()`), a process that exits is started again after a
 * backoff (1 s, doubling up to 30 s; back to 1 s once it had run for a minute) and the others keep
 * serving. Before that, an exit is a start-up failure: a bad variable would otherwise restart
 * forever. `stop()` ends supervision first, so Ctrl-C never races a restart.
 */

const BASE_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 30_000;
/** A process that ran this long before exiting starts its backoff again from the bottom. */
const STABLE_AFTER_MS = 60_000;
const READY_AFTER_RESTART_MS = 120_000;

export interface SupervisedProcess {
  readonly name: string;
  /** The live child (a new one after each restart). */
  current(): Proc;
  /** Start-up is over: from now on an exit restarts the process. */
  supervise(): void;
  stop(deadlineMs: number): Promise<void>;
}

export function startSupervised(opts: {
  name: string;
  entry: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  out: Output;
  /** Its readiness URL and the port it listens on there (to tell it from another process's). */
  ready: { url: string; port: number };
  /** An exit during start-up: the launcher stops everything. */
  onStartupExit(reason: string): void;
}): SupervisedProcess {
  const { name, out } = opts;
  let supervising = false;
  let stopping = false;
  let crashes = 0;
  let pending: NodeJS.Timeout | undefined;

  const run = (): Proc => {
    const proc = startNodeProcess(name, opts.entry, { cwd: opts.cwd, env: opts.env, out });
    const startedAt = Date.now();
    void proc.exited.then(({ code, signal }) => {
      if (stopping) return;
      const how = signal ? `signal ${signal}` : `exit code ${code}`;
      if (!supervising) return opts.onStartupExit(`${name} exited unexpectedly (${how}); stopping everything`);
      crashes = Date.now() - startedAt >= STABLE_AFTER_MS ? 1 : crashes + 1;
      const delay = Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** (crashes - 1));
      const downAt = Date.now();
      out.error(`${name} exited (${how}); restarting it in ${delay / 1000} s, the other processes keep serving`);
      pending = setTimeout(() => {
        pending = undefined;
        if (stopping) return;
        const next = run();
        current = next;
        const deadline = Date.now() + READY_AFTER_RESTART_MS;
        const gone = () => stopping || !next.running();
        waitUntilReady(opts.ready.url, deadline, gone, { pid: next.child.pid, port: opts.ready.port }).then(
          () => {
            if (!gone()) out.info(`${name} is serving again, ${((Date.now() - downAt) / 1000).toFixed(1)} s after it exited`);
          },
          () => out.error(`${name} restarted but is not ready after ${READY_AFTER_RESTART_MS / 1000} s (${opts.ready.url})`),
        );
      }, delay);
    });
    return proc;
  };

  let current = run();
  return {
    name,
    current: () => current,
    supervise: () => {
      supervising = true;
    },
    async stop(deadlineMs) {
      stopping = true;
      if (pending) clearTimeout(pending);
      await stopProcess(current, deadlineMs, out);
    },
  };
}
