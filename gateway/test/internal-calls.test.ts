import * as grpc from '@grpc/grpc-js';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { content, identity, notification, socialgraph } from '@shutter/proto';
import { INTERNAL_AUTH_REASON, MD_CALLER, createAssertionSigner, deriveInternalKeys, type AssertionSigner } from '@shutter/kit';
import { TEST_INTERNAL_AUTH_SECRET, startStack, testSigner, type Stack } from '@shutter/testing';

/**
 * Issue 12: behind the gateway nothing trusts an unsigned claim. Every method of every service,
 * including those that need no user, refuses a call without the internal credential and one
 * with a forged caller assertion.
 */
let stack: Stack;
const clients: grpc.Client[] = [];

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  for (const c of clients) c.close();
  await stack?.stop();
});

type MethodDef = { path: string; requestStream: boolean; responseStream: boolean; requestSerialize: (v: never) => Buffer };
const SERVICES: Record<string, Record<string, MethodDef>> = {
  identity: identity.IdentityServiceService,
  'social-graph': socialgraph.SocialGraphServiceService,
  content: content.ContentServiceService,
  notification: notification.NotificationServiceService,
};

const empty = () => Buffer.alloc(0); // an empty protobuf message is valid for every request type
const bytes = (b: Buffer) => b;

/**
 * Calls `def` with `req` (default: an empty message) and `token` (if any). Answers the status
 * code name, with `/internal_auth` when the internal credential was refused.
 */
function callWith(client: grpc.Client, def: MethodDef, token: string | undefined, req?: object): Promise<string> {
  const md = new grpc.Metadata();
  md.set('x-user-id', randomUUID()); // what services used to believe
  md.set('x-user-role', 'admin');
  if (token) md.set(MD_CALLER, token);
  const opts = { deadline: Date.now() + 5000 };
  return new Promise((resolve) => {
    const name = (st: Pick<grpc.StatusObject, 'code' | 'metadata'>) =>
      `${grpc.status[st.code]}${st.metadata?.get('x-error-reason')[0] === INTERNAL_AUTH_REASON ? `/${INTERNAL_AUTH_REASON}` : ''}`;
    const done = (err: grpc.ServiceError | null) => resolve(err ? name(err) : 'OK');
    const serialize = req ? () => (def.requestSerialize as (v: object) => Buffer)(req) : empty;
    if (def.requestStream) {
      const call = client.makeClientStreamRequest(def.path, serialize, bytes, md, opts, done);
      call.end();
    } else if (def.responseStream) {
      const call = client.makeServerStreamRequest(def.path, serialize, bytes, {}, md, opts);
      call.on('data', () => undefined);
      call.on('error', () => undefined);
      call.on('status', (st: grpc.StatusObject) => resolve(name(st)));
    } else {
      client.makeUnaryRequest(def.path, serialize, bytes, {}, md, opts, done);
    }
  });
}

function clientFor(name: string): grpc.Client {
  const c = new grpc.Client(stack.services[name]!.addr, grpc.credentials.createInsecure());
  clients.push(c);
  return c;
}

const forgers: Record<string, (def: MethodDef) => string> = {
  'no credential': () => '',
  'a key nobody configured': (def) =>
    createAssertionSigner({ self: 'gateway', privateKey: generateKeyPairSync('ed25519').privateKey }).sign(def.path, { userId: randomUUID(), role: 'admin' }),
  'a tampered payload': (def) => {
    const [, sig] = testSigner().sign(def.path, { userId: randomUUID() }).split('.');
    const body = Buffer.from(
      JSON.stringify({ iss: 'gateway', mth: def.path, sub: randomUUID(), rol: 'admin', exp: Math.floor(Date.now() / 1000) + 30 }),
    ).toString('base64url');
    return `${body}.${sig}`;
  },
  'an expired assertion': (def) =>
    createAssertionSigner(deriveInternalKeys(TEST_INTERNAL_AUTH_SECRET, 'gateway'), { now: () => Date.now() - 10 * 60_000 }).sign(def.path, {
      userId: randomUUID(),
    }),
  'an assertion for another service (wrong audience)': (def) =>
    testSigner().sign(def.path.replace(/^\/[^/]+/, '/shutter.other.v1.OtherService'), { userId: randomUUID() }),
};

describe.each(Object.entries(SERVICES))('%s refuses unauthenticated internal calls', (service, definition) => {
  const methods = Object.values(definition);

  it.each(Object.keys(forgers))('every method refuses %s (UNAUTHENTICATED)', async (forgery) => {
    const client = clientFor(service);
    const codes = await Promise.all(methods.map(async (def) => [def.path, await callWith(client, def, forgers[forgery]!(def) || undefined)] as const));
    expect(Object.fromEntries(codes)).toEqual(Object.fromEntries(methods.map((d) => [d.path, `UNAUTHENTICATED/${INTERNAL_AUTH_REASON}`])));
  });

  it('answers a call the gateway signed (the refusals are not blanket)', async () => {
    const client = clientFor(service);
    const signer: AssertionSigner = testSigner();
    const codes = await Promise.all(methods.map((def) => callWith(client, def, signer.sign(def.path, { userId: randomUUID(), role: 'user' }))));
    // With an empty request a method may fail validation or find nothing, but none is refused.
    expect(codes.filter((c) => c.endsWith(INTERNAL_AUTH_REASON))).toEqual([]);
  });
});

describe('peer services', () => {
  it('a peer calls only the methods listed for it, and never for a user', async () => {
    const graph = clientFor('social-graph');
    const asContent = testSigner('content');
    const stream = socialgraph.SocialGraphServiceService.streamEdgeSnapshot;
    const req = { pageSize: 10 };
    expect(await callWith(graph, stream, asContent.sign(stream.path), req)).toBe('OK');
    const follow = socialgraph.SocialGraphServiceService.requestFollow;
    expect(await callWith(graph, follow, asContent.sign(follow.path))).toBe(`PERMISSION_DENIED/${INTERNAL_AUTH_REASON}`);
    expect(await callWith(graph, stream, testSigner('notification').sign(stream.path), req)).toBe(`PERMISSION_DENIED/${INTERNAL_AUTH_REASON}`);
    expect(await callWith(graph, stream, asContent.sign(stream.path, { userId: randomUUID() }), req)).toBe(`UNAUTHENTICATED/${INTERNAL_AUTH_REASON}`);
  });
});
