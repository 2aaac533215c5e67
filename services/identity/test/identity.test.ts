import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { identity, events } from '@shutter/proto';
import { createClient, createLogger, createMetrics, createRedis, type Client } from '@shutter/kit';
import { testBackends, testEnv, testSigner, unique, waitFor } from '@shutter/testing';
import { loadIdentityConfig } from '../src/config';
import { createIdentityService } from '../src/server';

type IdentityClient = Client<typeof identity.IdentityServiceService>;

let service: Awaited<ReturnType<typeof createIdentityService>>;
let client: IdentityClient;
let address: string;
const stream = `events-identity-test-${unique()}`;

beforeAll(async () => {
  const config = loadIdentityConfig(testEnv({ LOG_LEVEL: 'silent' }));
  service = await createIdentityService(config, createLogger('identity-test', 'silent'), createMetrics('identity'), { stream });
  const port = await service.start('127.0.0.1:0');
  address = `127.0.0.1:${port}`;
  client = createClient(identity.IdentityServiceService, address, { service: 'identity', auth: testSigner() });
});

afterAll(async () => {
  client?.close();
  await service?.stop(1000);
});

const register = (name = unique('g')) => client.register({ email: `${name}@example.com`, username: name, password: 'password-1' });

async function grpcError(p: Promise<unknown>): Promise<{ code: number; details: string; reason: unknown }> {
  try {
    await p;
  } catch (err) {
    const e = err as { code: number; details: string; metadata: { get(k: string): unknown[] } };
    return { code: e.code, details: e.details, reason: e.metadata.get('x-error-reason')[0] };
  }
  throw new Error('expected the call to fail');
}

describe('identity over gRPC', () => {
  it('registers, stores argon2id hashes, and answers users in batch (unknown ids left out)', async () => {
    const a = await register();
    const b = await register();
    const row = await service.db('users').where({ id: a.user!.userId }).first();
    expect(row.password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    const res = await client.batchGetUsers({ userIds: [a.user!.userId, b.user!.userId, '0190a6b4-0000-7000-8000-000000000000'] });
    expect(res.users.map((u) => u.userId).sort()).toEqual([a.user!.userId, b.user!.userId].sort());
  });

  it('maps validation and conflicts to INVALID_ARGUMENT / ALREADY_EXISTS with a reason', async () => {
    const bad = await grpcError(client.register({ email: 'x@example.com', username: 'no', password: 'password-1' }));
    expect(bad).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'validation_error' });
    const a = await register();
    const dup = await grpcError(client.register({ email: a.user!.email.toUpperCase(), username: unique('d'), password: 'password-1' }));
    expect(dup).toMatchObject({ code: status.ALREADY_EXISTS, reason: 'email_taken' });
  });

  it('requires a caller in metadata for profile updates', async () => {
    expect((await grpcError(client.updateProfile({ name: 'x' }))).code).toBe(status.UNAUTHENTICATED);
  });

  it('emits user.created, user.updated and user.disabled through the outbox to the stream', async () => {
    const a = await register();
    const id = a.user!.userId;
    await client.updateProfile({ isPublic: true }, { userId: id });
    const adminRow = await service.db('users').where({ role: 'admin' }).first();
    await client.setStatus({ userId: id, status: 'disabled' }, { userId: adminRow.id, role: 'admin' });
    const redis = createRedis(testBackends().redisUrl, testBackends().redisPrefix);
    try {
      const entries = await waitFor(async () => {
        // This service's relay publishes to `stream`; while another suite's identity relay holds the
        // outbox leadership (one per schema in the run's shared database), to the run's `events`.
        const all = [...(await redis.xrangeBuffer(stream, '-', '+')), ...(await redis.xrangeBuffer('events', '-', '+'))];
        const mine = all
          .map(([, fields]) => {
            const f: Record<string, Buffer> = {};
            for (let i = 0; i < fields.length; i += 2) f[fields[i]!.toString()] = fields[i + 1]!;
            return f;
          })
          .filter((f) => f.key?.toString() === id);
        return mine.length >= 3 ? mine : null;
      });
      expect(entries.map((f) => f.type!.toString())).toEqual(['user.created', 'user.updated', 'user.disabled']);
      const updated = events.UserUpdated.decode(entries[1]!.payload!);
      expect(updated).toMatchObject({ userId: id, isPublic: true, wasPublic: false });
      expect(events.UserStatusChanged.decode(entries[2]!.payload!)).toMatchObject({ userId: id, status: 'disabled' });
    } finally {
      await redis.quit();
    }
  });

  it('serves grpc.health.v1 as SERVING', async () => {
    const protoPath = path.join(path.dirname(require.resolve('grpc-health-check/package.json')), 'proto/health/v1/health.proto');
    const def = grpc.loadPackageDefinition(loadSync(protoPath, { enums: Number })) as any;
    const health = new def.grpc.health.v1.Health(address, grpc.credentials.createInsecure());
    const res = await new Promise<{ status: number }>((resolve, reject) =>
      health.check({ service: '' }, (err: Error | null, r: { status: number }) => (err ? reject(err) : resolve(r))),
    );
    health.close();
    expect(res.status).toBe(1); // SERVING
  });
});
