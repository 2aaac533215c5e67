import Redis, { type Command } from 'ioredis';
import { childSpan, failed } from './tracing';

export type { Redis };

/**
 * How long one command may take, queued or sent. Redis answers in microseconds: seconds are an
 * outage (a host that drops packets would otherwise cost `connectTimeout`, 10 s, per attempt).
 * Not tighter: the timer runs on the event loop, so a busy process's stall would fail commands
 * Redis already answered (1 s did, in the full test suite).
 * Blocking reads (XREADGROUP BLOCK) opt out: see `blockingConnection`.
 */
export const REDIS_COMMAND_TIMEOUT_MS = 3000;

/**
 * ioredis with auto-pipelining (hot paths batch for free) and a key prefix per deployment or test run.
 *
 * Until the first connection, commands queue without a time limit (start-up order does not
 * matter, and a start-up busy loading modules does not time out its own handshake). Once
 * connected, every command is bounded by REDIS_COMMAND_TIMEOUT_MS, and while a lost connection
 * is re-established commands fail at once: by default ioredis queues them through reconnect
 * attempts whose delays grow to 2 s, so every request touching a dead Redis waited seconds before
 * its fail-open path (revocation check, rate limit, caches) ran.
 */
export function createRedis(url: string, keyPrefix = ''): Redis {
  const redis = new Redis(url, { keyPrefix, enableAutoPipelining: true, maxRetriesPerRequest: 2, lazyConnect: false });
  let connectedOnce = false;
  redis.on('ready', () => {
    connectedOnce = true;
    redis.options.commandTimeout = REDIS_COMMAND_TIMEOUT_MS;
    redis.options.enableOfflineQueue = true;
  });
  redis.on('close', () => {
    if (connectedOnce) redis.options.enableOfflineQueue = false;
  });
  traceCommands(redis);
  quietConnectionErrors(redis);
  // quit() while the connection is down would be refused like any other command: just close.
  const quit = redis.quit.bind(redis);
  redis.quit = (async () => {
    if (redis.status === 'ready') return quit();
    redis.disconnect();
    return 'OK';
  }) as typeof redis.quit;
  return redis;
}

/**
 * A second connection for blocking commands, which legitimately wait longer than the command
 * timeout. ioredis's own bound for them replaces it: a read sent waits its BLOCK time plus
 * REDIS_COMMAND_TIMEOUT_MS, a read queued while the connection is down waits
 * REDIS_COMMAND_TIMEOUT_MS; either then resolves empty, as a BLOCK that timed out does.
 * Without it, a read queued during a reconnect never settled once disconnect() cancelled that
 * reconnect, and the consumer's stop() waited for it forever.
 */
export function blockingConnection(redis: Redis): Redis {
  return quietConnectionErrors(
    redis.duplicate({
      commandTimeout: undefined,
      enableOfflineQueue: true,
      blockingTimeout: REDIS_COMMAND_TIMEOUT_MS,
      blockingTimeoutGrace: REDIS_COMMAND_TIMEOUT_MS,
    }),
  );
}

/**
 * ioredis prints each connection error of a client that has no 'error' listener to stderr,
 * unstructured, at every reconnect attempt: a Redis outage filled every process's log with
 * "[ioredis] Unhandled error event" stacks. Those errors reach the code as failed commands, which
 * each caller handles (fails open, or answers UNAVAILABLE) and logs where it matters, and
 * `/readyz` reports the connection; the listener only stops the duplicate print.
 */
function quietConnectionErrors(redis: Redis): Redis {
  redis.on('error', () => undefined);
  return redis;
}

/** A span per command under the active request or event (tracing.ts); nothing when tracing is off. */
function traceCommands(redis: Redis): void {
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = ((command: Command, stream?: unknown) => {
    const span = childSpan(`redis ${command.name}`, { 'db.system.name': 'redis', 'db.operation.name': command.name });
    if (span)
      command.promise.then(
        () => span.end(),
        (err: unknown) => (failed(span, err), span.end()),
      );
    return send(command, stream as never);
  }) as typeof redis.sendCommand;
}
