import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '@shutter/testing';

/**
 * A kit Redis client whose server is gone reconnects without writing ioredis's "[ioredis] Unhandled
 * error event" stacks to stderr (once per attempt, in every process, for the whole outage): the
 * failures reach callers as failed commands instead. Run in a child process of its own: under
 * jest, ioredis's `error instanceof Error` check fails across realms and it never prints.
 */
it('a client of a Redis that is down fails its commands and prints nothing of its own', async () => {
  const script = `
    const { blockingConnection, createRedis } = require('./src');
    const redis = createRedis('redis://127.0.0.1:${await freePort()}');
    const reader = blockingConnection(redis);
    let attempts = 0;
    const done = async () => {
      if (++attempts < 6) return;
      const failed = await redis.get('k').then(() => false, () => true);
      reader.disconnect();
      redis.disconnect();
      process.stdout.write(JSON.stringify({ failed }));
    };
    redis.on('reconnecting', done);
    reader.on('reconnecting', done);
  `;
  const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--require', 'tsx/cjs', '-e', script], {
    cwd: path.join(__dirname, '..'),
    timeout: 60_000,
  });
  expect(JSON.parse(stdout)).toEqual({ failed: true });
  expect(stderr).not.toContain('[ioredis]');
});
