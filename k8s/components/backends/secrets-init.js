#!/usr/bin/env node
'use strict';
/**
 * The backends component's `shutter-secrets-init` Job: generates every secret of an in-cluster
 * Shutter once, in the namespace, through the Kubernetes API (its ServiceAccount may only create
 * and read Secrets there). Nothing is written in k8s/ (issue 12: no default secrets).
 *
 *   shutter-db-init        init.sql for CloudNativePG's bootstrap: one login role per service with
 *                          its own password, owning the schema of the same name (infra/postgres/init.sql)
 *   shutter-redis          redis.conf and users.acl: one ACL user per process (infra/redis/acl.js)
 *   shutter-object-store   Garage's RPC secret and admin token, content's bucket-scoped key
 *   shutter-secrets        what the processes read (database URLs, each process's Redis URL, the
 *                          internal-auth secret, the JWT key, the S3 key)
 *
 * Idempotent: when shutter-secrets exists (written last) nothing changes. Plain Node 22.
 */
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const crypto = require('node:crypto');

// The in-cluster API with the pod's ServiceAccount; KUBE_API and SA_DIR point elsewhere in tests.
const SA = process.env.SA_DIR ?? '/var/run/secrets/kubernetes.io/serviceaccount';
const API = new URL(process.env.KUBE_API ?? 'https://kubernetes.default.svc');
const NS = fs.readFileSync(`${SA}/namespace`, 'utf8').trim();
const TOKEN = fs.readFileSync(`${SA}/token`, 'utf8').trim();
const CA = API.protocol === 'https:' ? fs.readFileSync(`${SA}/ca.crt`) : undefined;
const DB_HOST = process.env.DB_HOST ?? 'shutter-db-rw:5432';
const REDIS_HOST = process.env.REDIS_HOST ?? 'redis:6379';

const hex = (n) => crypto.randomBytes(n).toString('hex');
// infra/redis/acl.js (a copy beside this file in the same ConfigMap; a test keeps them equal).
const { renderAcl } = require('./acl.js');
const PROCESSES = { gateway: 'GATEWAY', identity: 'IDENTITY', 'social-graph': 'GRAPH', content: 'CONTENT', notification: 'NOTIFICATION' };

function api(method, path, body) {
  return new Promise((resolve, reject) => {
    const req = (API.protocol === 'https:' ? https : http).request(
      {
        host: API.hostname,
        port: API.port || (API.protocol === 'https:' ? 443 : 80),
        method,
        path,
        ca: CA,
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        timeout: 10_000,
      },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode, text }));
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    if (body) req.write(JSON.stringify(body));
    req.end();
  });
}

async function put(name, stringData) {
  const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name, labels: { 'app.kubernetes.io/part-of': 'shutter' } }, type: 'Opaque', stringData };
  let res = await api('POST', `/api/v1/namespaces/${NS}/secrets`, secret);
  // Left by an interrupted run (shutter-secrets, written last, does not exist yet): replace it.
  if (res.status === 409) res = await api('PUT', `/api/v1/namespaces/${NS}/secrets/${name}`, secret);
  if (res.status >= 300) throw new Error(`${name}: ${res.status} ${res.text}`);
  console.log(`secrets: ${name} written`);
}

async function main() {
  const existing = await api('GET', `/api/v1/namespaces/${NS}/secrets/shutter-secrets`);
  if (existing.status === 200) return console.log('secrets: shutter-secrets exists; nothing to do');
  if (existing.status !== 404) throw new Error(`reading shutter-secrets: ${existing.status} ${existing.text}`);

  const roles = { identity: 'IDENTITY', graph: 'GRAPH', content: 'CONTENT', notification: 'NOTIFICATION' };
  const pw = Object.fromEntries(Object.keys(roles).map((r) => [r, hex(24)]));
  const sql = [
    ...Object.keys(roles).map((r) => `CREATE ROLE ${r} LOGIN PASSWORD '${pw[r]}';`),
    'REVOKE ALL ON DATABASE shutter FROM PUBLIC;',
    `GRANT CONNECT, CREATE, TEMPORARY ON DATABASE shutter TO ${Object.keys(roles).join(', ')};`,
    ...Object.keys(roles).map((r) => `CREATE SCHEMA IF NOT EXISTS ${r} AUTHORIZATION ${r};`),
    ...Object.keys(roles).map((r) => `ALTER ROLE ${r} SET search_path = ${r}, public;`),
    'CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;',
  ].join('\n');
  const redisPw = Object.fromEntries(Object.keys(PROCESSES).map((p) => [p, hex(24)]));
  const acl = renderAcl({
    ...Object.fromEntries(Object.keys(PROCESSES).map((p) => [`REDIS_PASSWORD_${p.toUpperCase().replace(/-/g, '_')}`, redisPw[p]])),
    REDIS_ADMIN_PASSWORD: hex(24),
  });
  const keyId = `GK${hex(12)}`;
  const keySecret = hex(32);
  const { privateKey } = crypto.generateKeyPairSync('ed25519');

  await put('shutter-db-init', { 'init.sql': `${sql}\n` });
  await put('shutter-redis', { 'redis.conf': 'aclfile /etc/redis/users.acl\n', 'users.acl': acl });
  await put('shutter-object-store', {
    'rpc-secret': hex(32),
    'admin-token': crypto.randomBytes(32).toString('base64'),
    'content-key-id': keyId,
    'content-key-secret': keySecret,
  });
  const url = (role) => `postgres://${role}:${pw[role]}@${DB_HOST}/shutter`;
  await put('shutter-secrets', {
    IDENTITY_DATABASE_URL: url('identity'),
    GRAPH_DATABASE_URL: url('graph'),
    CONTENT_DATABASE_URL: url('content'),
    NOTIFICATION_DATABASE_URL: url('notification'),
    ...Object.fromEntries(Object.entries(PROCESSES).map(([p, k]) => [`${k}_REDIS_URL`, `redis://${p}:${redisPw[p]}@${REDIS_HOST}`])),
    INTERNAL_AUTH_SECRET: crypto.randomBytes(32).toString('base64'),
    JWT_PRIVATE_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }),
    S3_ACCESS_KEY_ID: keyId,
    S3_SECRET_ACCESS_KEY: keySecret,
  });
}

main().catch((err) => {
  console.error(`secrets: ${err.message}`);
  process.exit(1);
});
