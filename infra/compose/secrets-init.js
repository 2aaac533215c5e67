#!/usr/bin/env node
'use strict';
/**
 * docker-compose.yml's `secrets` one-shot: makes every secret of the stack on the first start and
 * keeps it in a volume per consumer, so no password or key is written in docker-compose.yml,
 * .env or an image. Later starts reuse what exists (idempotent) and rewrite only the env files,
 * which also carry the fixed container addresses.
 *
 *   /out/<consumer>/...   one volume per consumer; each container mounts only its own, read-only.
 *
 * Node processes (uid 1000) read /run/shutter/env at start (the Dockerfile's CMD sources it).
 * Runs as root in node:22-bookworm-slim with this file mounted; plain Node, no packages.
 */
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');

// The compose service mounts the volumes under /out; SECRETS_OUT elsewhere (tests) — never a default
// outside the container.
const OUT = process.env.SECRETS_OUT;
if (!OUT) {
  console.error('secrets-init: set SECRETS_OUT (docker-compose.yml sets /out)');
  process.exit(2);
}
const NODE_UID = 1000; // the node image's `node` user, which runs every Shutter process
const POSTGRES_UID = 999; // postgres image (Debian): postgres
const REDIS_UID = 999; // redis image (Alpine): redis
const ROOT_UID = 0; // the object store image runs as root
const GRAFANA_UID = 472; // grafana image: grafana

const DB_HOST = process.env.DB_HOST ?? 'postgres:5432';
const DB_NAME = process.env.DB_NAME ?? 'shutter';
const REDIS_HOST = process.env.REDIS_HOST ?? 'redis:6379';

/** The role each process logs into Postgres with (infra/postgres/init.sql). */
const ROLES = { identity: 'identity', 'social-graph': 'graph', content: 'content', notification: 'notification' };

const hex = (bytes) => crypto.randomBytes(bytes).toString('hex');

function dir(consumer, uid) {
  const d = path.join(OUT, consumer);
  fs.mkdirSync(d, { recursive: true });
  fs.chownSync(d, uid, uid);
  fs.chmodSync(d, 0o700);
  return d;
}

/** Writes `file` with `make()` unless it exists; answers its content. */
function keep(file, uid, make) {
  if (!fs.existsSync(file)) {
    const tmp = `${file}.tmp`;
    fs.writeFileSync(tmp, make(), { mode: 0o400 });
    fs.chownSync(tmp, uid, uid);
    fs.renameSync(tmp, file);
    console.log(`secrets: generated ${path.relative(OUT, file)}`);
  }
  return fs.readFileSync(file, 'utf8').trim();
}

function write(file, uid, text) {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, text, { mode: 0o400 });
  fs.chownSync(tmp, uid, uid);
  fs.renameSync(tmp, file);
}

/** `KEY='value'` lines for `set -a; . file` (single quotes: nothing inside is expanded). */
const envFile = (vars) =>
  `${Object.entries(vars)
    .map(([k, v]) => `${k}='${String(v).replace(/'/g, `'\\''`)}'`)
    .join('\n')}\n`;

// The central store of secrets is the postgres volume for database passwords, and each consumer's
// own volume for the rest; the env files are derived from them on every start.
const pg = dir('postgres', POSTGRES_UID);
keep(path.join(pg, 'postgres-password'), POSTGRES_UID, () => hex(24));
const dbPasswords = Object.fromEntries(Object.values(ROLES).map((role) => [role, keep(path.join(pg, `db-${role}`), POSTGRES_UID, () => hex(24))]));
// Sourced by infra/postgres/00-secrets.sh before init.sql runs (first start of the volume only).
write(
  path.join(pg, 'roles.env'),
  POSTGRES_UID,
  envFile(Object.fromEntries(Object.entries(dbPasswords).map(([role, pw]) => [`SHUTTER_DB_PASSWORD_${role.toUpperCase()}`, pw]))),
);

// Redis with one ACL user per process (infra/redis/acl.js, mounted at ACL_JS): no default user;
// an `admin` user for the healthcheck and operators.
const ROLE_ENV = (proc) => `REDIS_PASSWORD_${proc.toUpperCase().replace(/-/g, '_')}`;
const PROCESSES = ['gateway', 'identity', 'social-graph', 'content', 'notification'];
const redis = dir('redis', REDIS_UID);
const redisPasswords = Object.fromEntries(PROCESSES.map((proc) => [proc, keep(path.join(redis, `password-${proc}`), REDIS_UID, () => hex(24))]));
const redisAdmin = keep(path.join(redis, 'password'), REDIS_UID, () => hex(24));
const { renderAcl } = require(process.env.ACL_JS ?? '/acl.js');
write(
  path.join(redis, 'users.acl'),
  REDIS_UID,
  renderAcl({ ...Object.fromEntries(PROCESSES.map((proc) => [ROLE_ENV(proc), redisPasswords[proc]])), REDIS_ADMIN_PASSWORD: redisAdmin }),
);
write(path.join(redis, 'redis.conf'), REDIS_UID, 'aclfile /run/shutter/users.acl\n');
const redisUrl = (proc) => `redis://${proc}:${redisPasswords[proc]}@${REDIS_HOST}`;

// Internal calls (kit grpc/internal-auth.ts): one secret every process derives its keys from.
const internal = dir('internal', ROOT_UID);
const internalSecret = keep(path.join(internal, 'secret'), ROOT_UID, () => crypto.randomBytes(32).toString('base64'));

// The object store: its cluster secret and admin token (Garage reads *_FILE, mode 0600 or less),
// and the one S3 key content uses, scoped to the media bucket by object-store-init.
const store = dir('object-store', ROOT_UID);
keep(path.join(store, 'rpc-secret'), ROOT_UID, () => hex(32));
keep(path.join(store, 'admin-token'), ROOT_UID, () => crypto.randomBytes(32).toString('base64'));
const s3KeyId = keep(path.join(store, 'content-key-id'), ROOT_UID, () => `GK${hex(12)}`);
const s3Secret = keep(path.join(store, 'content-key-secret'), ROOT_UID, () => hex(32));

for (const [proc, role] of Object.entries(ROLES)) {
  const d = dir(proc, NODE_UID);
  const vars = {
    DATABASE_URL: `postgres://${role}:${dbPasswords[role]}@${DB_HOST}/${DB_NAME}`,
    REDIS_URL: redisUrl(proc),
    INTERNAL_AUTH_SECRET: internalSecret,
  };
  if (proc === 'identity') {
    const keyFile = path.join(d, 'jwt-ed25519.pem');
    keep(keyFile, NODE_UID, () => crypto.generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
    vars.JWT_KEY_FILE = '/run/shutter/jwt-ed25519.pem';
  }
  if (proc === 'content') Object.assign(vars, { S3_ACCESS_KEY_ID: s3KeyId, S3_SECRET_ACCESS_KEY: s3Secret });
  write(path.join(d, 'env'), NODE_UID, envFile(vars));
}
write(path.join(dir('gateway', NODE_UID), 'env'), NODE_UID, envFile({ REDIS_URL: redisUrl('gateway'), INTERNAL_AUTH_SECRET: internalSecret }));
keep(path.join(dir('grafana', GRAFANA_UID), 'admin-password'), GRAFANA_UID, () => hex(16));
console.log('secrets: ready');
