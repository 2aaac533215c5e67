/**
 * Micro benchmark of internal call authentication: N unary calls through the kit's real grpc-js
 * server and client on loopback, one process, C calls in flight. Prints calls/s and CPU µs per
 * call (client + server).
 *
 *   node_modules/.bin/tsx bench/internal-auth.ts            # this tree's kit (signed calls)
 *   BENCH_KIT=/path/to/other/packages/kit/src node_modules/.bin/tsx bench/internal-auth.ts
 *                                                           # another tree's kit, e.g. before the change
 * Knobs: BENCH_CALLS (20000), BENCH_CONCURRENCY (32), BENCH_USERS (1: every call the same user,
 * the hot-read case; N: users round-robin, so each call signs and verifies while N exceeds the caches).
 */
import * as path from 'node:path';
import { identity } from '@shutter/proto';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const kit = require(process.env.BENCH_KIT ?? path.join(__dirname, '../packages/kit/src')) as any;
const CALLS = Number(process.env.BENCH_CALLS ?? 20_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const USERS = Number(process.env.BENCH_USERS ?? 1);
const SECRET = 'bench-internal-auth-secret-0123456789abcdef';
const signed = typeof kit.deriveInternalKeys === 'function';

async function main(): Promise<void> {
  const Def = identity.IdentityServiceService;
  const user: identity.User = {
    userId: '',
    email: '',
    username: 'someone',
    name: 'Some One',
    isPublic: true,
    role: 'user',
    status: 'enabled',
    profileImageKey: 'k',
  };
  const handlers: Record<string, unknown> = {};
  for (const name of Object.keys(Def)) handlers[name] = async () => ({});
  handlers.getUser = async (req: identity.GetUserRequest, ctx: { userId?: string }) => ({ ...user, userId: req.userId, name: ctx.userId ?? '' });
  const logger = kit.createLogger('bench', 'silent');
  const metrics = kit.createMetrics('bench');
  const server = signed
    ? kit.createGrpcServer({ logger, metrics, auth: kit.deriveInternalKeys(SECRET, 'identity') })
    : kit.createGrpcServer({ logger, metrics });
  server.add(Def, handlers, { withoutUser: ['getUser'] });
  const port: number = await server.listen('127.0.0.1:0');
  const auth = signed ? kit.createAssertionSigner(kit.deriveInternalKeys(SECRET, 'gateway')) : undefined;
  const client = kit.createClient(Def, `127.0.0.1:${port}`, { service: 'identity', auth });
  const users = Array.from({ length: USERS }, (_, i) => `0190a1b2-c3d4-7e5f-8a9b-${String(i).padStart(12, '0')}`);

  const run = async (n: number) => {
    let next = 0;
    const worker = async () => {
      while (next < n) {
        const i = next++;
        await client.getUser({ userId: 'target' }, { requestId: 'r', userId: users[i % USERS], role: 'user' });
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  };
  await run(2000); // warm-up: JIT, channel, caches
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await run(CALLS);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const cpuPerCall = (cpu.user + cpu.system) / CALLS;
  console.log(
    JSON.stringify({
      kit: signed ? 'signed' : 'unsigned',
      users: USERS,
      calls: CALLS,
      concurrency: CONCURRENCY,
      callsPerSecond: Math.round(CALLS / seconds),
      cpuMicrosPerCall: Math.round(cpuPerCall * 10) / 10,
    }),
  );
  client.close();
  await server.shutdown(1000);
  if (signed) components();
}

/** The auth steps alone, CPU µs per call: cached (hot read) and uncached (a new user or method). */
function components(): void {
  const keys = kit.deriveInternalKeys(SECRET, 'identity');
  const path = identity.IdentityServiceService.getUser.path;
  const time = (n: number, fn: (i: number) => unknown) => {
    for (let i = 0; i < 1000; i++) fn(i);
    // CPU time, not wall time: the numbers hold on a busy machine.
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < n; i++) fn(i);
    const cpu = process.cpuUsage(cpu0);
    return Math.round(((cpu.user + cpu.system) / n) * 1000) / 1000;
  };
  const signer = kit.createAssertionSigner(kit.deriveInternalKeys(SECRET, 'gateway'));
  const verifier = kit.createAssertionVerifier(keys.publicKeys);
  const token = signer.sign(path, { userId: 'u', role: 'user' });
  const coldSigner = kit.createAssertionSigner(kit.deriveInternalKeys(SECRET, 'gateway'));
  const tokens: string[] = [];
  const signMiss = time(5000, (i) => tokens.push(coldSigner.sign(path, { userId: `user-${i}`, role: 'user' })));
  const coldVerifier = kit.createAssertionVerifier(keys.publicKeys);
  console.log(
    JSON.stringify({
      signHitMicros: time(200_000, () => signer.sign(path, { userId: 'u', role: 'user' })),
      verifyHitMicros: time(200_000, () => verifier.verify(token, path)),
      signMissMicros: signMiss,
      verifyMissMicros: time(5000, (i) => coldVerifier.verify(tokens[i + 1000], path)),
      tokenBytes: token.length,
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
