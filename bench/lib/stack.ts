/**
 * The stack under test, started the way `make dev` starts it (scripts/dev.ts runs every service
 * and the gateway), behind the real nginx (nginx/render.js), on free ports so it runs beside
 * anyone's `make dev`. Its backing stores are the bench's own: the copied data-set database, a
 * private redis-server (empty: timelines and caches fill on a miss, as after a Redis loss) and a
 * local S3 (s3rver, .data/bench-s3) holding the few objects the image rows point at.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { REPO_ROOT, freePort, startRedisServer } from '@shutter/testing/src/backends';
import { contentS3Env, startLocalS3 } from '@shutter/testing/src/s3';
import { planProcesses } from '../../scripts/lib/dev-plan';
import { OBJECTS } from '../dataset/generate';
import { OBJECT_PNG, objectKeys } from '../dataset/load';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { render } = require('../../nginx/render.js') as { render: (o: Record<string, unknown>) => { args: string[]; outDir: string } };

export interface Stack {
  /** nginx's public URL (the path every Shutter figure is measured on). */
  url: string;
  gatewayUrl: string;
  databaseUrl: string;
  redisUrl: string;
  s3Env: Record<string, string>;
  /** Seconds from spawning scripts/dev.ts to the gateway's first 200 on /readyz. */
  readyS: number;
  /** pid of every process by name (services, gateway, nginx master, redis). */
  pids(): Record<string, number[]>;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitOk(url: string, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`${url}: the process exited (${child.exitCode}) before answering`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`${url} did not answer within ${timeoutMs / 1000} s`);
    await sleep(100);
  }
}

/**
 * `name` tells a second stack of the same run apart (its S3 directory and log file); `env` is
 * added to every process's environment.
 */
export async function startStack(opts: {
  databaseUrl: string;
  resultsDir: string;
  profileDir?: string;
  log: (m: string) => void;
  name?: string;
  env?: Record<string, string>;
}): Promise<Stack> {
  const suffix = opts.name ? `-${opts.name}` : '';
  const redis = await startRedisServer();
  const s3 = await startLocalS3({ dir: path.join(REPO_ROOT, `.data/bench-s3${suffix}`) });
  const s3Env = contentS3Env(s3);
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  for (const key of objectKeys(OBJECTS)) await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: OBJECT_PNG, ContentType: 'image/png' }));
  client.destroy();

  // Free ports for every process make dev plans (gRPC + metrics each).
  const ports: Record<string, string> = {};
  for (const p of planProcesses({})) {
    const port = await freePort();
    ports[p.userVar] = p.userVar === 'PORT' ? String(port) : `127.0.0.1:${port}`;
    ports[p.metricsVar] = String(await freePort());
  }
  const gatewayUrl = `http://127.0.0.1:${ports.PORT}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...ports,
    ...s3Env,
    HOST: '127.0.0.1',
    DATABASE_URL: opts.databaseUrl,
    REDIS_URL: redis.url,
    LOG_LEVEL: 'warn',
    LOG_FORMAT: 'json',
    // The per-user limit would turn one reader's load into 429s; tokens outlive the run.
    RATE_LIMIT_SCALE: '1000000',
    // The write mix posts thousands of images as a handful of authors: lift their upload quotas too.
    UPLOAD_QUOTA_FILES_PER_HOUR: '1000000000',
    UPLOAD_QUOTA_BYTES_PER_DAY: String(2 ** 50),
    ACCESS_TOKEN_TTL: '7200',
    TRUST_PROXY: '1',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...(opts.profileDir ? profileEnv(opts.profileDir) : {}),
    ...opts.env,
  };
  delete env.SHUTTER_DEV_WORKER;
  delete env.SHUTTER_DEV_T0;
  const logFile = fs.openSync(path.join(opts.resultsDir, `stack${suffix}.log`), 'w');
  const t0 = Date.now();
  // As `make dev` runs it: node --require tsx/cjs scripts/dev.ts.
  const dev = spawn(process.execPath, ['--require', 'tsx/cjs', path.join(REPO_ROOT, 'scripts/dev.ts')], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', logFile, logFile],
  });
  let readyS: number;
  try {
    await waitOk(`${gatewayUrl}/readyz`, 180_000, dev);
    readyS = (Date.now() - t0) / 1000;
  } catch (err) {
    dev.kill('SIGINT');
    await Promise.all([redis.stop(), s3.stop()]);
    throw new Error(`${err instanceof Error ? err.message : String(err)}; see ${path.join(opts.resultsDir, `stack${suffix}.log`)}`, { cause: err });
  }
  opts.log(`stack${suffix}: ready ${readyS.toFixed(1)} s after start (gateway ${gatewayUrl})`);

  // nginx in front, with its per-address limits (all, and sign-in's) lifted: every bench request
  // comes from 127.0.0.1.
  const listen = await freePort();
  const nginxDir = fs.mkdtempSync('/tmp/shutter-bench-nginx-');
  const rendered = render({
    gateway: `127.0.0.1:${ports.PORT}`,
    listen,
    outDir: nginxDir,
    rateLimit: '1000000r/s',
    burst: 1000000,
    authRateLimit: '1000000r/s',
    authBurst: 1000000,
  });
  const nginxBin = spawnSync('sh', ['-c', 'command -v nginx || echo /usr/sbin/nginx']).stdout.toString().trim();
  const nginx = spawn(nginxBin, [...rendered.args, '-g', 'daemon off;'], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${listen}`;
  await waitOk(`${url}/nginx-healthz`, 10_000, nginx);
  opts.log(`stack${suffix}: nginx ${url} → gateway`);

  return {
    url,
    gatewayUrl,
    databaseUrl: opts.databaseUrl,
    redisUrl: redis.url,
    s3Env,
    readyS,
    pids: () => {
      const named = processesUnder(dev.pid!);
      if (nginx.pid) named.nginx = [nginx.pid, ...descendants(nginx.pid)];
      if (redis.pid) named.redis = [redis.pid];
      return named;
    },
    async stop() {
      const exited = (c: ChildProcess) => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', r)));
      nginx.kill('SIGQUIT');
      await Promise.race([exited(nginx), sleep(5000)]);
      // make dev's foreground process forwards this to its worker, which stops everything in order.
      dev.kill('SIGINT');
      await Promise.race([exited(dev), sleep(30_000)]);
      await Promise.all([redis.stop(), s3.stop()]);
      fs.rmSync(nginxDir, { recursive: true, force: true });
      fs.closeSync(logFile);
    },
  };
}

/** The environment that has a process write its CPU profile into `dir` (cpu-profile.cjs). */
export function profileEnv(dir: string): Record<string, string> {
  return { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${path.join(__dirname, 'cpu-profile.cjs')}`.trim(), BENCH_PROFILE_DIR: dir };
}

/** Parent pid of every process (Linux /proc). */
function parents(): Map<number, number> {
  const map = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      map.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  return map;
}

function descendants(root: number): number[] {
  const ppid = parents();
  const out: number[] = [];
  for (const [pid] of ppid) {
    for (let p = ppid.get(pid); p !== undefined && p > 1; p = ppid.get(p)) {
      if (p === root) {
        out.push(pid);
        break;
      }
    }
  }
  return out;
}

/** The service and gateway processes under make dev's process, named by their entry file. */
function processesUnder(root: number): Record<string, number[]> {
  const named: Record<string, number[]> = {};
  for (const pid of descendants(root)) {
    let cmd: string;
    try {
      cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    } catch {
      continue;
    }
    const m = /(services\/([a-z-]+)\/src\/main\.ts|gateway\/src\/server\.ts)/.exec(cmd);
    if (!m) continue;
    const name = m[2] ?? 'gateway';
    (named[name] ??= []).push(pid);
  }
  return named;
}

/** Resident memory of these processes in MB (VmRSS, summed). */
export function rssMb(pids: number[]): number {
  let kib = 0;
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m?.[1]) kib += Number(m[1]);
    } catch {
      // gone
    }
  }
  return Math.round(kib / 1024);
}
