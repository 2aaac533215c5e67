import * as grpc from '@grpc/grpc-js';
import { content, socialgraph } from '@shutter/proto';
import { randomUUID } from 'node:crypto';
import { waitFor } from '@shutter/testing';
import {
  createAssertionSigner,
  createClient,
  createGrpcServer,
  createLogger,
  createMetrics,
  deriveInternalKeys,
  invalidArgument,
  notFound,
  type CallContext,
  type Handlers,
} from '../src';

/**
 * The kit's streams over real gRPC on loopback. social-graph's and content's contracts serve as
 * the shapes (a server stream, a client stream); the handlers are the test's own, steered by the
 * request's user_id: `pages` (page_size pages, then OK), `endless` (until cancelled), `stall`
 * (one page, then nothing until cancelled), `fail` (two pages, then NOT_FOUND).
 */
const Graph = socialgraph.SocialGraphServiceService;
const Content = content.ContentServiceService;

/** What the server saw, by request id: the caller, and a promise that settles when the call was cancelled. */
const calls = new Map<string, { ctx?: CallContext; cancelled: Promise<void>; resolve: () => void; generatorClosed?: boolean }>();
const callOf = (requestId: string) => {
  let entry = calls.get(requestId);
  if (!entry) {
    let resolve!: () => void;
    const cancelled = new Promise<void>((r) => (resolve = r));
    entry = { cancelled, resolve };
    calls.set(requestId, entry);
  }
  return entry;
};
const page = (n: number): socialgraph.UserIdPage => ({ userIds: Array.from({ length: 50 }, (_, i) => `${n}-${i}`) });

/** Notes the call's context, and resolves its `cancelled` when the kit aborts ctx.signal. */
const observe = (ctx: CallContext) => {
  const seen = callOf(ctx.requestId);
  seen.ctx = ctx;
  ctx.signal.addEventListener('abort', seen.resolve);
  return seen;
};

const graphHandlers: Partial<Handlers<typeof Graph>> = {
  async *streamFollowers({ userId, pageSize }, ctx) {
    const seen = observe(ctx);
    if (userId === 'pages') for (let i = 0; i < pageSize; i++) yield page(i);
    if (userId === 'endless') {
      try {
        for (let i = 0; ; i++) yield page(i);
      } finally {
        seen.generatorClosed = true; // the kit stops pulling a cancelled stream: the generator's finally runs
      }
    }
    if (userId === 'stall') {
      yield page(0);
      await seen.cancelled;
    }
    if (userId === 'fail') {
      yield page(0);
      yield page(1);
      throw notFound('User not found.');
    }
  },
  async *streamFollowing(_req, ctx) {
    observe(ctx);
    yield page(0);
  },
};

const contentHandlers: Partial<Handlers<typeof Content>> = {
  async uploadMedia(requests, ctx) {
    observe(ctx);
    let header = '';
    let bytes = 0;
    for await (const msg of requests) {
      if (msg.header?.filename === 'refuse') throw invalidArgument('Not this one.');
      if (msg.header) header = msg.header.filename;
      bytes += msg.data?.length ?? 0;
    }
    return content.UploadedMedia.fromPartial({ mediaId: `${header}:${bytes}` });
  },
};

const metrics = createMetrics('kit-streams');
const clientMetrics = createMetrics('kit-streams-client');
const secret = 'kit-streams-test-secret-0123456789abcdef';
const gateway = createAssertionSigner(deriveInternalKeys(secret, 'gateway'));
const server = createGrpcServer({ logger: createLogger('kit-test', 'silent'), metrics, auth: deriveInternalKeys(secret, 'social-graph') });
const unused = async () => ({});
const complete = <D extends object>(def: D, handlers: Partial<Handlers<D>>) =>
  ({ ...Object.fromEntries(Object.keys(def).map((k) => [k, unused])), ...handlers }) as Handlers<D>;
server.add(Graph, complete(Graph, graphHandlers), { withoutUser: ['streamFollowing'], peers: { content: ['streamFollowing'] } });
server.add(Content, complete(Content, contentHandlers), { withoutUser: [] });

let addr: string;
let graph: ReturnType<typeof createClient<typeof Graph>>;
let media: ReturnType<typeof createClient<typeof Content>>;

beforeAll(async () => {
  addr = `127.0.0.1:${await server.listen('127.0.0.1:0')}`;
  graph = createClient(Graph, addr, { service: 'graph', deadlineMs: 10_000, metrics: clientMetrics, auth: gateway });
  media = createClient(Content, addr, { service: 'media', deadlineMs: 10_000, metrics: clientMetrics, auth: gateway });
});
afterAll(async () => {
  graph.close();
  media.close();
  await server.shutdown(500);
});

const user = { userId: randomUUID() };
const failure = (p: Promise<unknown>) =>
  p.then(
    () => Promise.reject(new Error('expected failure')),
    (e: { code?: number; name?: string; details?: string }) => e,
  );
/** Reads a stream to its end, keeping what came before a failure. */
async function drain<T>(it: AsyncIterable<T>, into: T[] = []): Promise<T[]> {
  for await (const x of it) into.push(x);
  return into;
}

describe('server streams', () => {
  it('yields every message, then ends on OK, carrying request id and caller', async () => {
    const requestId = randomUUID();
    const pages = await drain(graph.serverStream('streamFollowers', { userId: 'pages', pageSize: 7 }, { ...user, requestId }));
    expect(pages.map((p) => p.userIds[0])).toEqual(['0-0', '1-0', '2-0', '3-0', '4-0', '5-0', '6-0']);
    expect(calls.get(requestId)?.ctx).toMatchObject({ requestId, userId: user.userId, callerService: 'gateway' });
  });

  it('stops the call when the consumer breaks out of the loop: the server sees the cancellation', async () => {
    const requestId = randomUUID();
    let n = 0;
    for await (const p of graph.serverStream('streamFollowers', { userId: 'endless', pageSize: 0 }, { ...user, requestId })) {
      expect(p.userIds).toHaveLength(50);
      if (++n === 3) break;
    }
    await callOf(requestId).cancelled; // the test's timeout bounds the wait
    await waitFor(() => callOf(requestId).generatorClosed, 20_000);
  });

  it('stops the call when its AbortSignal fires: the loop throws the reason, the server sees the cancellation', async () => {
    const requestId = randomUUID();
    const abort = new AbortController();
    const got: socialgraph.UserIdPage[] = [];
    const stream = graph.serverStream('streamFollowers', { userId: 'endless', pageSize: 0 }, { ...user, requestId, signal: abort.signal });
    const e = await failure(
      (async () => {
        for await (const p of stream) {
          got.push(p);
          if (got.length === 2) abort.abort();
        }
      })(),
    );
    expect(e.name).toBe('AbortError');
    expect(got).toHaveLength(2);
    await callOf(requestId).cancelled;
  });

  it('refuses to start when the signal has already fired', async () => {
    const abort = new AbortController();
    abort.abort();
    const e = await failure(drain(graph.serverStream('streamFollowers', { userId: 'pages', pageSize: 1 }, { ...user, signal: abort.signal })));
    expect(e.name).toBe('AbortError');
  });

  it('throws DEADLINE_EXCEEDED when the deadline passes mid-stream, after the messages that came', async () => {
    const requestId = randomUUID();
    const got: socialgraph.UserIdPage[] = [];
    const e = await failure(drain(graph.serverStream('streamFollowers', { userId: 'stall', pageSize: 0 }, { ...user, requestId, deadlineMs: 300 }), got));
    expect(e.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(got).toHaveLength(1);
    await callOf(requestId).cancelled;
  });

  it('throws an error status that ends the stream early: never a silently short list', async () => {
    const got: socialgraph.UserIdPage[] = [];
    const e = await failure(drain(graph.serverStream('streamFollowers', { userId: 'fail', pageSize: 0 }, user), got));
    expect(e).toMatchObject({ code: grpc.status.NOT_FOUND, details: 'User not found.' });
    expect(got).toHaveLength(2);
  });

  it('fails UNAVAILABLE (after bounded retries of an idempotent stream) when nobody listens', async () => {
    const dead = createClient(Graph, '127.0.0.1:1', { service: 'dead', deadlineMs: 2000, auth: gateway });
    const e = await failure(drain(dead.serverStream('streamFollowing', { userId: 'x', pageSize: 0 })));
    dead.close();
    expect(e.code).toBe(grpc.status.UNAVAILABLE);
  });
});

async function* upload(name: string, chunks: number, chunkBytes: number): AsyncGenerator<content.UploadMediaRequest> {
  yield { header: { filename: name, declaredContentType: 'image/png', purpose: 'post' } };
  for (let i = 0; i < chunks; i++) yield { data: Buffer.alloc(chunkBytes, i) };
}

describe('client streams', () => {
  it('sends an async generator (past the flow-control window) and answers the response', async () => {
    const requestId = randomUUID();
    const res = await media.clientStream('uploadMedia', upload('a.png', 64, 64 * 1024), { ...user, requestId });
    expect(res.mediaId).toBe(`a.png:${64 * 64 * 1024}`);
    expect(calls.get(requestId)?.ctx).toMatchObject({ requestId, userId: user.userId });
  });

  it('cancels the call when the source throws, and answers the source error', async () => {
    const requestId = randomUUID();
    let closed = false;
    async function* broken(): AsyncGenerator<content.UploadMediaRequest> {
      try {
        yield* upload('b.png', 2, 1024);
        throw new Error('the client went away');
      } finally {
        closed = true;
      }
    }
    const e = await failure(media.clientStream('uploadMedia', broken(), { ...user, requestId }));
    expect((e as Error).message).toBe('the client went away');
    expect(closed).toBe(true);
  });

  it("answers the server's refusal before the source is done, and closes the source", async () => {
    let closed = false;
    async function* endless(): AsyncGenerator<content.UploadMediaRequest> {
      try {
        yield { header: { filename: 'refuse', declaredContentType: 'image/png', purpose: 'post' } };
        for (;;) yield { data: Buffer.alloc(64 * 1024) };
      } finally {
        closed = true;
      }
    }
    expect(await failure(media.clientStream('uploadMedia', endless(), user))).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'Not this one.' });
    await waitFor(() => closed, 20_000);
  });

  it('cancels the call when its AbortSignal fires; the server sees the cancellation', async () => {
    const requestId = randomUUID();
    const abort = new AbortController();
    async function* slow(): AsyncGenerator<content.UploadMediaRequest> {
      yield* upload('c.png', 1, 1024);
      // Abort once the server holds the call, then offer nothing more.
      while (!calls.get(requestId)?.ctx) await new Promise((r) => setImmediate(r));
      abort.abort();
      await new Promise(() => undefined);
    }
    const e = await failure(media.clientStream('uploadMedia', slow(), { ...user, requestId, signal: abort.signal }));
    expect(e.name).toBe('AbortError');
    await callOf(requestId).cancelled;
  });
});

describe('the same rules as unary calls', () => {
  it('enforces the caller assertion on streams: a user where one is required, only the allowed peers', async () => {
    expect((await failure(drain(graph.serverStream('streamFollowers', { userId: 'pages', pageSize: 1 })))).code).toBe(grpc.status.UNAUTHENTICATED);
    expect(await failure(media.clientStream('uploadMedia', upload('d.png', 1, 1)))).toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    const asPeer = (self: 'content' | 'identity') =>
      createClient(Graph, addr, { service: self, auth: createAssertionSigner(deriveInternalKeys(secret, self)) });
    const content = asPeer('content');
    const identity = asPeer('identity');
    expect(await drain(content.serverStream('streamFollowing', { userId: 'x', pageSize: 0 }))).toHaveLength(1);
    expect((await failure(drain(identity.serverStream('streamFollowing', { userId: 'x', pageSize: 0 })))).code).toBe(grpc.status.PERMISSION_DENIED);
    const forged = createClient(Graph, addr, {
      service: 'forged',
      auth: createAssertionSigner(deriveInternalKeys('another-secret-0123456789abcdefghijkl', 'gateway')),
    });
    expect((await failure(drain(forged.serverStream('streamFollowers', { userId: 'pages', pageSize: 1 }, user)))).code).toBe(grpc.status.UNAUTHENTICATED);
    for (const c of [content, identity, forged]) c.close();
  });

  it('counts stream calls per method and outcome, on both sides', async () => {
    const client = await clientMetrics.registry.metrics();
    const count = (method: string, code: string) =>
      new RegExp(
        `grpc_client_handling_seconds_count\\{service="kit-streams-client",grpc_service="(graph|media)",grpc_method="${method}",grpc_code="${code}"\\} [1-9]`,
      );
    expect(client).toMatch(count('StreamFollowers', 'OK'));
    expect(client).toMatch(count('StreamFollowers', 'CANCELLED'));
    expect(client).toMatch(count('StreamFollowers', 'DEADLINE_EXCEEDED'));
    expect(client).toMatch(count('StreamFollowers', 'NOT_FOUND'));
    expect(client).toMatch(count('UploadMedia', 'OK'));
    expect(client).toMatch(count('UploadMedia', 'CANCELLED'));
    const server = await metrics.registry.metrics();
    expect(server).toMatch(/grpc_server_handled_total\{grpc_method="streamFollowers",grpc_code="OK",service="kit-streams"\} [1-9]/);
    expect(server).toMatch(/grpc_server_handled_total\{grpc_method="streamFollowers",grpc_code="NOT_FOUND",service="kit-streams"\} [1-9]/);
    expect(server).toMatch(/grpc_server_handled_total\{grpc_method="streamFollowers",grpc_code="CANCELLED",service="kit-streams"\} [1-9]/);
    expect(server).toMatch(/grpc_server_handled_total\{grpc_method="uploadMedia",grpc_code="OK",service="kit-streams"\} [1-9]/);
  });
});
