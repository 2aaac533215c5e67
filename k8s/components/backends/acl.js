#!/usr/bin/env node
'use strict';
/**
 * Renders Redis's ACL file: one user per process, each limited to its own keys, channels and
 * stream operations (README *Security*, infra/README.md *Redis*). `make dev` and the tests run
 * Redis without it (the default user); every deployment runs Redis with it.
 *
 *   REDIS_PASSWORD_GATEWAY=… REDIS_PASSWORD_IDENTITY=… REDIS_PASSWORD_SOCIAL_GRAPH=… \
 *   REDIS_PASSWORD_CONTENT=… REDIS_PASSWORD_NOTIFICATION=… node infra/redis/acl.js > users.acl
 *   redis-server --aclfile users.acl
 *
 * Variables: REDIS_PASSWORD_<PROCESS> (required, ≥ 16 characters; only their SHA-256 goes into
 * the file), REDIS_KEY_PREFIX (the processes' common key prefix, default none), EVENTS_STREAM
 * (default `events`), REDIS_ADMIN_PASSWORD (optional: an `admin` user with every right, for
 * operators). Each process then connects as redis://<process>:<password>@host:6379.
 */
const crypto = require('node:crypto');

/** Process → its Redis user name (the compose/k8s name). */
const ROLES = Object.freeze(['gateway', 'identity', 'social-graph', 'content', 'notification']);
/** A producer's outbox schema: its relay's marker key is outbox:epoch:<stream>:<schema>. */
const OUTBOX_SCHEMA = Object.freeze({ identity: 'identity', 'social-graph': 'graph', content: 'content' });
/** Keys each process owns (read and write). */
const OWN_KEYS = Object.freeze({
  // Rate-limit windows; live:streams:<user> (stream slots) and live:ticket:<hash> (browser tickets).
  gateway: ['ratelimit:*', 'live:*'],
  identity: ['login:*', 'auth:*', 'identity:*'],
  'social-graph': ['graph:*'],
  content: ['feed:*', 'post:*', 'content:*'],
  notification: ['notif:*'],
});
/** Keys a process only reads: the gateway copies identity's revocation state (kit auth.ts). */
const READ_KEYS = Object.freeze({ gateway: ['auth:*'] });
/**
 * Pub/Sub: notification publishes a user's new events and identity revocation changes; the
 * gateway subscribes to both.
 */
const CHANNELS = Object.freeze({
  gateway: { channels: ['notif:live:*', 'auth:revocations'], commands: '+subscribe +unsubscribe' },
  identity: { channels: ['auth:revocations'], commands: '+publish' },
  notification: { channels: ['notif:live:*'], commands: '+publish' },
});
const CONSUMERS = Object.freeze(['social-graph', 'content', 'notification']);

/**
 * Commands on a process's own keys: data commands of every type and scripts (whose commands
 * Redis checks against the same ACL), never the dangerous ones (FLUSHALL, KEYS, CONFIG, DEBUG, …).
 * Connection basics and INFO (ioredis's ready check) on top.
 */
const DATA = '+@read +@write +@transaction +@scripting -@dangerous -@pubsub -@admin -function -script|flush -script|kill';
const CONNECTION = '+ping +echo +hello +auth +select +quit +reset +info +client|setname +client|getname +client|id';
/** Stream operations of a consumer group (kit outbox/consumer.ts, outbox/metrics.ts) on the stream itself. */
const CONSUME = '+xreadgroup +xack +xautoclaim +xclaim +xpending +xgroup|create +xgroup|delconsumer +xinfo|groups +xinfo|consumers';

const GLOB = /[*?[\]\\]/;

function glob(prefix, pattern) {
  return `${prefix}${pattern}`;
}

/**
 * The ACL file's text for these settings (throws on a missing or weak password). `outboxSchemas`
 * overrides a producer's schema name (tests use throw-away schemas).
 */
function renderAcl(env = process.env, opts = {}) {
  const schemas = { ...OUTBOX_SCHEMA, ...(opts.outboxSchemas ?? {}) };
  const prefix = env.REDIS_KEY_PREFIX ?? '';
  const stream = env.EVENTS_STREAM || 'events';
  if (GLOB.test(prefix) || /\s/.test(prefix)) throw new Error('REDIS_KEY_PREFIX must not contain spaces or glob characters (* ? [ ] \\)');
  if (GLOB.test(stream) || /\s/.test(stream)) throw new Error('EVENTS_STREAM must not contain spaces or glob characters');
  const hash = (name) => {
    const v = env[name];
    if (!v || v.length < 16) throw new Error(`${name} is required: at least 16 characters (openssl rand -base64 24)`);
    return `#${crypto.createHash('sha256').update(v).digest('hex')}`;
  };
  const k = (p) => glob(prefix, p);
  // Redis ACL files take no comments. The default user is off: every client names its process user.
  const lines = ['user default off resetkeys resetchannels -@all'];
  for (const role of ROLES) {
    const password = hash(`REDIS_PASSWORD_${role.toUpperCase().replace(/-/g, '_')}`);
    const parts = [`user ${role} on resetpass ${password} resetkeys resetchannels -@all`];
    parts.push(...OWN_KEYS[role].map((p) => `~${k(p)}`), ...(READ_KEYS[role] ?? []).map((p) => `%R~${k(p)}`));
    const schema = schemas[role];
    if (schema) parts.push(`~${k(`outbox:epoch:${stream}:${schema}`)}`);
    const pubsub = CHANNELS[role];
    if (pubsub) parts.push(...pubsub.channels.map((c) => `&${k(c)}`));
    parts.push(DATA, CONNECTION);
    if (pubsub) parts.push(pubsub.commands);
    // Stream rights live in selectors: a command passes only when one selector allows both it
    // and its keys, so the root's generic rights never reach the events stream.
    if (schema) parts.push(`(~${k(stream)} ~${k(`outbox:epoch:${stream}:${schema}`)} +xadd +eval +evalsha +exists)`);
    if (CONSUMERS.includes(role)) {
      parts.push(`(~${k(stream)} ${CONSUME})`, `(~${k(`${stream}:dead`)} +xadd +xlen)`);
    }
    lines.push(parts.join(' '));
  }
  if (env.REDIS_ADMIN_PASSWORD) lines.push(`user admin on resetpass ${hash('REDIS_ADMIN_PASSWORD')} ~* &* +@all`);
  return `${lines.join('\n')}\n`;
}

module.exports = { renderAcl, ROLES };

if (require.main === module) {
  try {
    process.stdout.write(renderAcl());
  } catch (err) {
    process.stderr.write(`infra/redis/acl.js: ${err.message}\n`);
    process.exit(1);
  }
}
