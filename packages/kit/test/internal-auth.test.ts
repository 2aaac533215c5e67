import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { generateKeyPairSync } from 'node:crypto';
import { identity } from '@shutter/proto';
import {
  MD_CALLER,
  createAssertionSigner,
  createAssertionVerifier,
  createClient,
  createGrpcServer,
  createLogger,
  createMetrics,
  deriveInternalKeys,
  loadInternalKeys,
  publicKeyToBase64,
  type CallContext,
  type Handlers,
} from '../src';

const Def = identity.IdentityServiceService;
const SECRET = 'kit-internal-auth-test-secret-0123456789';
const GET_USER = Def.getUser.path;
const user = (id: string) => identity.User.fromPartial({ userId: id, username: 'x', role: 'user', status: 'enabled' });

const seen: CallContext[] = [];
const handlers = Object.fromEntries(
  Object.keys(Def).map((name) => [
    name,
    async (req: { userId?: string }, ctx: CallContext) => {
      seen.push(ctx);
      return name === 'getUser' ? user(req.userId ?? '') : name === 'batchGetUsers' ? { users: [] } : {};
    },
  ]),
) as unknown as Handlers<typeof Def>;

const server = createGrpcServer({
  logger: createLogger('kit-test', 'silent'),
  metrics: createMetrics('kit-auth-test'),
  auth: deriveInternalKeys(SECRET, 'identity'),
});
server.add(Def, handlers, { withoutUser: ['getUser', 'batchGetUsers'], peers: { content: ['batchGetUsers'] } });
let addr: string;
/** A client that sends whatever metadata a test gives it (no signer of its own). */
let bare: grpc.Client;

beforeAll(async () => {
  addr = `127.0.0.1:${await server.listen('127.0.0.1:0')}`;
  bare = new grpc.Client(addr, grpc.credentials.createInsecure());
});
afterAll(async () => {
  bare.close();
  await server.shutdown(500);
});

/** A raw getUser / updateProfile call with the given metadata: answers the status code name. */
function call(method: 'getUser' | 'updateProfile' | 'batchGetUsers', md: grpc.Metadata): Promise<string> {
  const def = Def[method] as unknown as { path: string; requestSerialize: (v: unknown) => Buffer; responseDeserialize: (b: Buffer) => unknown };
  return new Promise((resolve) => {
    bare.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, { userIds: [] }, md, { deadline: Date.now() + 2000 }, (err) =>
      resolve(grpc.status[err?.code ?? 0] ?? 'UNKNOWN'),
    );
  });
}
const withToken = (token: string) => {
  const md = new grpc.Metadata();
  md.set(MD_CALLER, token);
  return md;
};
const gateway = createAssertionSigner(deriveInternalKeys(SECRET, 'gateway'));

describe('internal call authentication', () => {
  it('refuses a call without the internal credential, even on a method that needs no user', async () => {
    expect(await call('getUser', new grpc.Metadata())).toBe('UNAUTHENTICATED');
    const unsigned = new grpc.Metadata();
    unsigned.set('x-user-id', 'someone'); // the old unsigned claim proves nothing
    expect(await call('updateProfile', unsigned)).toBe('UNAUTHENTICATED');
  });

  it('refuses a forged assertion: bad signature, other key, expired, another method, unknown issuer', async () => {
    const good = gateway.sign(GET_USER, { userId: 'u1' });
    const [body, sig] = good.split('.') as [string, string];
    const tampered = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(body, 'base64url').toString()), sub: 'admin-id', rol: 'admin' })).toString(
      'base64url',
    );
    expect(await call('getUser', withToken(`${tampered}.${sig}`))).toBe('UNAUTHENTICATED');
    expect(await call('getUser', withToken(`${body}.${Buffer.alloc(64).toString('base64url')}`))).toBe('UNAUTHENTICATED');

    const otherSecret = createAssertionSigner(deriveInternalKeys('another-deployments-secret-0123456789', 'gateway'));
    expect(await call('getUser', withToken(otherSecret.sign(GET_USER)))).toBe('UNAUTHENTICATED');

    const past = createAssertionSigner(deriveInternalKeys(SECRET, 'gateway'), { now: () => Date.now() - 120_000 });
    expect(await call('getUser', withToken(past.sign(GET_USER)))).toBe('UNAUTHENTICATED');
    const longLived = createAssertionSigner(deriveInternalKeys(SECRET, 'gateway'), { ttlSeconds: 3600 });
    expect(await call('getUser', withToken(longLived.sign(GET_USER)))).toBe('UNAUTHENTICATED');

    // Wrong audience: a token made for another method (or another service's) is not accepted here.
    expect(await call('getUser', withToken(gateway.sign(Def.batchGetUsers.path)))).toBe('UNAUTHENTICATED');
    expect(await call('getUser', withToken(gateway.sign('/shutter.content.v1.ContentService/GetPost', { userId: 'u1' })))).toBe('UNAUTHENTICATED');

    // A key pair nobody configured, claiming to be the gateway.
    const stranger = createAssertionSigner({ self: 'gateway', privateKey: generateKeyPairSync('ed25519').privateKey });
    expect(await call('getUser', withToken(stranger.sign(GET_USER)))).toBe('UNAUTHENTICATED');
    expect(await call('getUser', withToken('garbage'))).toBe('UNAUTHENTICATED');
    expect(await call('getUser', withToken('not-json.' + Buffer.alloc(64).toString('base64url')))).toBe('UNAUTHENTICATED');
  });

  it('hands handlers the verified caller, and a user method refuses a call without a user', async () => {
    expect(await call('getUser', withToken(gateway.sign(GET_USER, { userId: 'u1', role: 'admin', sessionId: 's1' })))).toBe('OK');
    expect(seen.at(-1)).toMatchObject({ userId: 'u1', role: 'admin', sessionId: 's1', callerService: 'gateway' });
    expect(await call('updateProfile', withToken(gateway.sign(Def.updateProfile.path)))).toBe('UNAUTHENTICATED');
    expect(await call('updateProfile', withToken(gateway.sign(Def.updateProfile.path, { userId: 'u1' })))).toBe('OK');
  });

  it('lets a named peer call only its listed methods, and never for a user', async () => {
    const content = createAssertionSigner(deriveInternalKeys(SECRET, 'content'));
    expect(await call('batchGetUsers', withToken(content.sign(Def.batchGetUsers.path)))).toBe('OK');
    expect(seen.at(-1)).toMatchObject({ callerService: 'content', userId: undefined });
    expect(await call('getUser', withToken(content.sign(GET_USER)))).toBe('PERMISSION_DENIED');
    expect(await call('batchGetUsers', withToken(content.sign(Def.batchGetUsers.path, { userId: 'u1' })))).toBe('UNAUTHENTICATED');
    const notification = createAssertionSigner(deriveInternalKeys(SECRET, 'notification'));
    expect(await call('batchGetUsers', withToken(notification.sign(Def.batchGetUsers.path)))).toBe('PERMISSION_DENIED');
  });

  it("turns a peer's refused credential into INTERNAL for its own caller (a deployment fault, never 401/403)", async () => {
    // A notification server whose handler calls identity as notification, which identity does not list for getUser.
    const asNotification = createClient(Def, addr, { service: 'identity', auth: createAssertionSigner(deriveInternalKeys(SECRET, 'notification')) });
    const middle = createGrpcServer({
      logger: createLogger('kit-test', 'silent'),
      metrics: createMetrics('kit-auth-middle'),
      auth: deriveInternalKeys(SECRET, 'notification'),
    });
    const relay = { ...handlers, getUser: (req: identity.GetUserRequest) => asNotification.getUser(req) } as Handlers<typeof Def>;
    middle.add(Def, relay, { withoutUser: ['getUser'] });
    const port = await middle.listen('127.0.0.1:0');
    const client = createClient(Def, `127.0.0.1:${port}`, { service: 'identity', auth: gateway });
    try {
      await expect(client.getUser({ userId: 'u' })).rejects.toMatchObject({ code: grpc.status.INTERNAL });
    } finally {
      client.close();
      asNotification.close();
      await middle.shutdown(500);
    }
  });

  it('works through the kit client, and refuses one signing with the wrong keys', async () => {
    const client = createClient(Def, addr, { service: 'identity', auth: gateway });
    const stranger = createClient(Def, addr, {
      service: 'identity',
      auth: createAssertionSigner(deriveInternalKeys('wrong-secret-wrong-secret-0123456789', 'gateway')),
    });
    try {
      expect(await client.getUser({ userId: 'u2' }, { userId: 'caller' })).toMatchObject({ userId: 'u2' });
      await expect(stranger.getUser({ userId: 'u2' })).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    } finally {
      client.close();
      stranger.close();
    }
  });
});

describe('assertion signer and verifier', () => {
  it('reuses a token for half its lifetime and verifies it once', () => {
    let t = 1_000_000_000_000;
    const signer = createAssertionSigner(deriveInternalKeys(SECRET, 'gateway'), { now: () => t });
    const first = signer.sign(GET_USER, { userId: 'u' });
    expect(signer.sign(GET_USER, { userId: 'u' })).toBe(first);
    expect(signer.sign(GET_USER, { userId: 'v' })).not.toBe(first);
    t += 31_000;
    expect(signer.sign(GET_USER, { userId: 'u' })).not.toBe(first);

    const verifier = createAssertionVerifier(deriveInternalKeys(SECRET, 'identity').publicKeys, { now: () => t });
    expect(verifier.verify(first, GET_USER)).toEqual({ service: 'gateway', userId: 'u' });
    t += 35_000; // 66 s after signing: past the 60 s lifetime and the 5 s skew, even from the cache
    expect(() => verifier.verify(first, GET_USER)).toThrow(/credential/);
  });

  it('loads per-process keys: a process holding only its own key cannot sign as another', () => {
    const gw = generateKeyPairSync('ed25519');
    const content = generateKeyPairSync('ed25519');
    const pem = (k: typeof gw) => (k.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string).replace(/\n/g, '\\n');
    const publicKeys = `gateway=${publicKeyToBase64(gw.privateKey)}, content=${publicKeyToBase64(content.privateKey)}`;
    const file = path.join(os.tmpdir(), 'unused');
    const idKeys = loadInternalKeys('identity', {
      INTERNAL_AUTH_PRIVATE_KEY: pem(generateKeyPairSync('ed25519')),
      INTERNAL_AUTH_PUBLIC_KEYS: publicKeys,
      INTERNAL_AUTH_SECRET_FILE: file,
    });
    const verifier = createAssertionVerifier(idKeys.publicKeys);
    const asContent = createAssertionSigner(
      loadInternalKeys('content', { INTERNAL_AUTH_PRIVATE_KEY: pem(content), INTERNAL_AUTH_PUBLIC_KEYS: publicKeys, INTERNAL_AUTH_SECRET_FILE: file }),
    );
    expect(verifier.verify(asContent.sign(GET_USER), GET_USER)).toEqual({ service: 'content' });
    const forged = createAssertionSigner({ self: 'gateway', privateKey: content.privateKey });
    expect(() => verifier.verify(forged.sign(GET_USER), GET_USER)).toThrow(/credential/);
    expect(() => loadInternalKeys('identity', { INTERNAL_AUTH_PUBLIC_KEYS: publicKeys, INTERNAL_AUTH_SECRET_FILE: file })).toThrow(/set together/);
    expect(() => loadInternalKeys('identity', { INTERNAL_AUTH_SECRET: 'short', INTERNAL_AUTH_SECRET_FILE: file })).toThrow(/at least 32/);
  });

  it('generates the shared secret file once; every process that reads it agrees', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'internal-auth-'));
    const file = path.join(dir, 'sub/internal-auth.secret');
    try {
      const gw = loadInternalKeys('gateway', { INTERNAL_AUTH_SECRET_FILE: file });
      const id = loadInternalKeys('identity', { INTERNAL_AUTH_SECRET_FILE: file });
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      const token = createAssertionSigner(gw).sign(GET_USER);
      expect(createAssertionVerifier(id.publicKeys).verify(token, GET_USER)).toEqual({ service: 'gateway' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
