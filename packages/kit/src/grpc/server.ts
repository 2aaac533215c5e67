import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { ServiceError, callCancelled, isBackendUnavailable } from '../errors';
import type { Metrics } from '../metrics';
import { SpanKind, extractTrace, inSpan } from '../tracing';
import { readMeta, type CallMeta } from './context';
import {
  AssertionError,
  INTERNAL_AUTH_REASON,
  MD_CALLER,
  createAssertionVerifier,
  type CallerName,
  type InternalKeys,
  type VerifiedCaller,
} from './internal-auth';

/**
 * Context handed to every handler: the verified caller (`userId`/`role`/`sessionId` only as the
 * gateway's signed assertion states them), the request id from metadata, a child logger.
 */
export interface CallContext extends CallMeta {
  requestId: string;
  log: Logger;
  metadata: grpc.Metadata;
  /** The process that made the call (verified). */
  callerService: CallerName;
  /** Aborted when the call is cancelled (the caller went away, its deadline passed). */
  signal: AbortSignal;
}

/**
 * Who may call a service's methods. The gateway may call every method; a method acts for a user
 * (and refuses a call without one) unless it is listed in `withoutUser`. Peers are named with
 * the methods each may call; a peer never asserts a user.
 */
export interface MethodAccess<D> {
  /** Methods that need no user (each still needs a valid internal credential). Review this list. */
  withoutUser: ReadonlyArray<keyof D & string>;
  /** Peer services and the methods (all in `withoutUser`) each may call. */
  peers?: Partial<Record<CallerName, ReadonlyArray<keyof D & string>>>;
}

type Def = {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestDeserialize: (b: Buffer) => unknown;
  responseSerialize: (v: never) => Buffer;
};
type Req<M> = M extends { requestDeserialize: (b: Buffer) => infer R } ? R : never;
type Res<M> = M extends { responseSerialize: (v: infer R) => Buffer } ? R : never;

/**
 * Handlers as async functions. Unary: request → Promise<response>. Client stream: the requests
 * as an AsyncIterable (it throws CANCELLED when the call is cancelled while it is read; see
 * requestsOf for a cancel grpc-js reports late) → Promise<response>. Server stream: request → AsyncIterable of responses, usually an
 * async generator; the kit writes them with flow control and stops pulling (the generator's
 * `finally` runs) when the call is cancelled.
 */
export type Handlers<D> = {
  [K in keyof D]: D[K] extends { requestStream: false; responseStream: false }
    ? (req: Req<D[K]>, ctx: CallContext) => Promise<Res<D[K]>>
    : D[K] extends { requestStream: true; responseStream: false }
      ? (requests: AsyncIterable<Req<D[K]>>, ctx: CallContext) => Promise<Res<D[K]>>
      : D[K] extends { requestStream: false; responseStream: true }
        ? (req: Req<D[K]>, ctx: CallContext) => AsyncIterable<Res<D[K]>>
        : never;
};

type AnyCall = grpc.ServerUnaryCall<unknown, unknown> & grpc.ServerWritableStream<unknown, unknown> & grpc.ServerReadableStream<unknown, unknown>;

/** A client stream's requests; a cancelled call ends them with CANCELLED, never as if complete. */
async function* requestsOf(call: AnyCall, signal: AbortSignal): AsyncGenerator<unknown> {
  // A cancelled call sends nothing more: without this the loop would wait for a message forever.
  const onAbort = () => call.destroy(callCancelled());
  signal.addEventListener('abort', onAbort);
  try {
    for await (const msg of call as AsyncIterable<unknown>) yield msg;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  // grpc-js (1.14) turns a client's cancel (RST_STREAM) into the end of its messages first and
  // reports the cancellation after: one turn of the event loop lets it arrive in most cases.
  // Not all (it can come only once the response is written): a handler's effects must stay
  // safe for a stream the client gave up on (content's upload: an unclaimed media row, swept).
  await new Promise((resolve) => setImmediate(resolve));
  if (signal.aborted) throw callCancelled();
}

/** Resolves when the peer has read what was written, or the call is cancelled. */
function drained(call: AnyCall, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      call.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    call.once('drain', done);
    signal.addEventListener('abort', done);
  });
}

/** Writes a server stream's responses with flow control; stops pulling them once the call is cancelled. */
async function writeAll(call: AnyCall, responses: AsyncIterable<unknown>, signal: AbortSignal): Promise<void> {
  for await (const msg of responses) {
    if (signal.aborted) break;
    if (!call.write(msg)) await drained(call, signal);
    if (signal.aborted) break;
  }
  if (signal.aborted) throw callCancelled();
}

/** HTTP/2 window of 1 MiB: large responses are not throttled by flow control (docs/architecture.md *Hot paths*). */
export const channelOptions: grpc.ChannelOptions = {
  'grpc-node.flow_control_window': 1 << 20,
  'grpc.keepalive_time_ms': 30_000,
  'grpc.max_receive_message_length': 32 << 20,
};

/**
 * Servers close connections after a few minutes (gracefully) so clients re-resolve DNS and
 * spread over new replicas behind a headless Kubernetes Service.
 */
const serverOptions: grpc.ServerOptions = {
  ...channelOptions,
  'grpc.max_connection_age_ms': 5 * 60_000,
  'grpc.max_connection_age_grace_ms': 30_000,
};

export interface GrpcServer {
  /** Registers a service; handlers run through metrics → logging → error mapping → caller authentication. */
  add<D extends Record<string, Def>>(definition: D, handlers: Handlers<D>, access: MethodAccess<D>): void;
  listen(addr: string): Promise<number>;
  /** health → NOT_SERVING, stop accepting, drain in-flight calls; force after the deadline. */
  shutdown(timeoutMs: number): Promise<void>;
  health: HealthImplementation;
  server: grpc.Server;
}

export function createGrpcServer(opts: { logger: Logger; metrics: Metrics; auth: Pick<InternalKeys, 'publicKeys'> }): GrpcServer {
  const server = new grpc.Server(serverOptions);
  const verifier = createAssertionVerifier(opts.auth.publicKeys);
  const health = new HealthImplementation({ '': 'NOT_SERVING' });
  health.addToServer(server);
  const { logger, metrics } = opts;
  const services: string[] = [];

  function toStatusObject(err: unknown, ctx: CallContext, method: string): Partial<grpc.StatusObject> {
    if (err instanceof ServiceError) return { code: err.code, details: err.message, metadata: err.toMetadata() };
    const e = err as { code?: unknown; details?: unknown; metadata?: grpc.Metadata };
    // An error from a downstream gRPC call keeps its status (e.g. UNAVAILABLE), never its details.
    // Its UNAUTHENTICATED, or a refusal of this service's own credential, is a deployment fault: INTERNAL.
    const refusedUs = e?.code === grpc.status.UNAUTHENTICATED || e?.metadata?.get?.('x-error-reason')[0] === INTERNAL_AUTH_REASON;
    if (typeof e?.code === 'number' && typeof e.details === 'string' && !refusedUs && e.code !== grpc.status.INTERNAL && e.code !== grpc.status.UNKNOWN) {
      return { code: e.code, details: e.code === grpc.status.NOT_FOUND ? e.details : 'a dependency failed' };
    }
    if (isBackendUnavailable(err)) {
      ctx.log.warn({ err, method }, 'backing store unavailable');
      return { code: grpc.status.UNAVAILABLE, details: 'a backing store is unavailable' };
    }
    ctx.log.error({ err, method }, 'unhandled error');
    return { code: grpc.status.INTERNAL, details: 'internal error' };
  }

  /** The verified caller of a call to `path`, or the status to refuse it with. */
  function authenticate(
    call: { metadata: grpc.Metadata },
    path: string,
    rule: { userRequired: boolean; peers: ReadonlySet<string> },
  ): VerifiedCaller | ServiceError {
    const token = call.metadata.get(MD_CALLER)[0];
    let caller: VerifiedCaller;
    try {
      caller = verifier.verify(typeof token === 'string' ? token : undefined, path);
    } catch (err) {
      if (err instanceof ServiceError) return err;
      throw err;
    }
    if (caller.service !== 'gateway' && !rule.peers.has(caller.service)) {
      return new ServiceError(grpc.status.PERMISSION_DENIED, `${caller.service} may not call this method`, INTERNAL_AUTH_REASON);
    }
    if (rule.userRequired && !caller.userId) return new ServiceError(grpc.status.UNAUTHENTICATED, 'Not authenticated', 'unauthorized');
    return caller;
  }

  /** Each method's and status's metric children, labelled once (not per call). */
  const observers = new Map<string, { handled: { inc(): void }; duration: { observe(v: number): void } }>();
  function observerOf(method: string, code: grpc.status) {
    const id = `${method} ${code}`;
    let o = observers.get(id);
    if (!o) {
      const labels = { grpc_method: method, grpc_code: grpc.status[code] };
      o = { handled: metrics.grpcServerHandled.labels(labels), duration: metrics.grpcServerDuration.labels(labels) };
      observers.set(id, o);
    }
    return o;
  }

  function wrap(method: string, def: Def, handler: (a: unknown, ctx: CallContext) => unknown, rule: { userRequired: boolean; peers: ReadonlySet<string> }) {
    return (call: AnyCall, callback?: grpc.sendUnaryData<unknown>) => {
      const started = process.hrtime.bigint();
      const abort = new AbortController();
      const unary = !def.requestStream && !def.responseStream;
      let settled = false;
      // grpc-js reports every call as cancelled once its status is sent. A unary handler that has
      // answered has nothing left to abort (and an abort costs a DOMException); a stream's may
      // still learn of a real cancel only now (requestsOf).
      call.once('cancelled', () => {
        if (!unary || !settled) abort.abort();
      });
      const meta = readMeta(call.metadata);
      const requestId = meta.requestId ?? randomUUID();
      const caller = authenticate(call, def.path, rule);
      const verified = caller instanceof ServiceError ? undefined : caller;
      let log: Logger | undefined;
      const ctx: CallContext = {
        requestId,
        idempotencyKey: meta.idempotencyKey,
        userId: verified?.userId,
        role: verified?.role,
        sessionId: verified?.sessionId,
        callerService: verified?.service ?? 'gateway',
        metadata: call.metadata,
        // Made when first used: most calls log nothing, and a child logger per call is not free.
        get log() {
          return (log ??= logger.child({ request_id: requestId, method }));
        },
        signal: abort.signal,
      };
      const invoke = (): Promise<unknown> => {
        if (def.requestStream) return handler(requestsOf(call, abort.signal), ctx) as Promise<unknown>;
        if (def.responseStream) return writeAll(call, handler(call.request, ctx) as AsyncIterable<unknown>, abort.signal);
        return handler(call.request, ctx) as Promise<unknown>;
      };
      const finish = (code: grpc.status) => {
        settled = true;
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        const o = observerOf(method, code);
        o.handled.inc();
        o.duration.observe(seconds);
        if (logger.isLevelEnabled('debug')) ctx.log.debug({ code: grpc.status[code], ms: Math.round(seconds * 1e4) / 10 }, 'handled');
      };
      if (caller instanceof AssertionError) ctx.log.warn({ why: caller.why }, 'internal credential refused');
      // A span per call, child of the caller's (W3C trace context in the metadata).
      const parent = extractTrace((key) => {
        const v = call.metadata.get(key)[0];
        return typeof v === 'string' ? v : undefined;
      });
      const run =
        caller instanceof ServiceError
          ? Promise.reject(caller)
          : inSpan(def.path, SpanKind.SERVER, { 'rpc.system': 'grpc', 'rpc.method': method }, invoke, parent);
      run.then(
        (res) => {
          finish(grpc.status.OK);
          if (callback) callback(null, res);
          else call.end();
        },
        (err: unknown) => {
          const st = toStatusObject(err, ctx, method);
          finish(st.code ?? grpc.status.INTERNAL);
          if (callback) callback(st, null);
          // grpc-js sends a stream's status from its own 'error' listener; destroy() would send none.
          else call.emit('error', Object.assign(new Error(st.details), st));
        },
      );
    };
  }

  return {
    server,
    health,
    add(definition, handlers, access) {
      const impl: grpc.UntypedServiceImplementation = {};
      const withoutUser = new Set<string>(access.withoutUser);
      for (const [peer, methods] of Object.entries(access.peers ?? {})) {
        for (const m of methods ?? []) if (!withoutUser.has(m)) throw new Error(`${peer} may call ${m} only if it is listed in withoutUser`);
      }
      for (const [name, def] of Object.entries(definition)) {
        const handler = (handlers as Record<string, (a: unknown, ctx: CallContext) => unknown>)[name];
        if (!handler) throw new Error(`no handler for ${name}`);
        const peers = new Set(
          Object.entries(access.peers ?? {})
            .filter(([, ms]) => ms?.includes(name))
            .map(([p]) => p),
        );
        const rule = { userRequired: !withoutUser.has(name), peers };
        impl[name] = wrap(name, def, handler, rule) as grpc.UntypedHandleCall;
      }
      server.addService(definition as unknown as grpc.ServiceDefinition, impl);
      const first = Object.values(definition)[0] as unknown as { path: string } | undefined;
      if (first) services.push(first.path.split('/')[1] ?? '');
    },
    listen(addr) {
      return new Promise((resolve, reject) => {
        server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (err, port) => {
          if (err) return reject(err);
          health.setStatus('', 'SERVING');
          for (const s of services) health.setStatus(s, 'SERVING');
          resolve(port);
        });
      });
    },
    shutdown(timeoutMs) {
      health.setStatus('', 'NOT_SERVING');
      for (const s of services) health.setStatus(s, 'NOT_SERVING');
      return new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, timeoutMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
