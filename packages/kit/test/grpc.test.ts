import { status } from '@grpc/grpc-js';
import { identity } from '@shutter/proto';
import {
  createAssertionSigner,
  createClient,
  createGrpcServer,
  createLogger,
  createMetrics,
  deriveInternalKeys,
  notFound,
  type CallContext,
  type Handlers,
} from '../src';

// identity's contract serves as a test double's shape: the handlers below are the test's own.
const Def = identity.IdentityServiceService;
const seen: CallContext[] = [];
const user = (id: string) => identity.User.fromPartial({ userId: id, username: 'x', role: 'user', status: 'enabled' });

const handlers = {
  getUser: async (req: identity.GetUserRequest, ctx: CallContext) => {
    seen.push(ctx);
    if (req.userId === 'missing') throw notFound('User not found.');
    if (req.userId === 'boom') throw new Error('secret SQL detail');
    if (req.userId === 'slow') await new Promise((r) => setTimeout(r, 300));
    return user(req.userId);
  },
} as unknown as Handlers<typeof Def>;

const metrics = createMetrics('kit-test');
const secret = 'kit-grpc-test-secret-0123456789abcdefgh';
const auth = createAssertionSigner(deriveInternalKeys(secret, 'gateway'));
const server = createGrpcServer({ logger: createLogger('kit-test', 'silent'), metrics, auth: deriveInternalKeys(secret, 'identity') });
for (const name of Object.keys(Def)) (handlers as Record<string, unknown>)[name] ??= async () => ({});
server.add(Def, handlers, { withoutUser: ['getUser'] });
let client: ReturnType<typeof createClient<typeof Def>>;

beforeAll(async () => {
  const port = await server.listen('127.0.0.1:0');
  client = createClient(Def, `127.0.0.1:${port}`, { service: 'test', deadlineMs: 1000, auth });
});
afterAll(async () => {
  client.close();
  await server.shutdown(500);
});

const failure = (p: Promise<unknown>) =>
  p.then(
    () => Promise.reject(new Error('expected failure')),
    (e: { code: number; details: string; metadata: any }) => e,
  );

describe('kit gRPC server and client', () => {
  it('passes request id in metadata and the caller in the signed assertion', async () => {
    await client.getUser({ userId: 'u1' }, { requestId: 'req-1', userId: 'caller-1', role: 'admin', sessionId: 's-1' });
    expect(seen.at(-1)).toMatchObject({ requestId: 'req-1', userId: 'caller-1', role: 'admin', sessionId: 's-1', callerService: 'gateway' });
  });

  it('turns ServiceErrors into their status with the reason in trailers', async () => {
    const e = await failure(client.getUser({ userId: 'missing' }));
    expect(e.code).toBe(status.NOT_FOUND);
    expect(e.details).toBe('User not found.');
    expect(e.metadata.get('x-error-reason')).toEqual(['not_found']);
  });

  it('hides unexpected errors behind INTERNAL', async () => {
    const e = await failure(client.getUser({ userId: 'boom' }));
    expect(e.code).toBe(status.INTERNAL);
    expect(e.details).not.toMatch(/SQL/);
  });

  it('puts a deadline on every call', async () => {
    const e = await failure(client.getUser({ userId: 'slow' }, { deadlineMs: 50 }));
    expect(e.code).toBe(status.DEADLINE_EXCEEDED);
  });

  it('counts handled calls by method and code', async () => {
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/grpc_server_handled_total\{grpc_method="getUser",grpc_code="NOT_FOUND",service="kit-test"\} [1-9]/);
  });

  it('fails fast with UNAVAILABLE when nobody listens (after bounded retries of reads)', async () => {
    // A deadline far off: UNAVAILABLE, not DEADLINE_EXCEEDED, shows it did not wait for it.
    const dead = createClient(Def, '127.0.0.1:1', { service: 'dead', deadlineMs: 20_000, auth });
    const e = await failure(dead.getUser({ userId: 'x' }));
    dead.close();
    expect(e.code).toBe(status.UNAVAILABLE);
  });
});
