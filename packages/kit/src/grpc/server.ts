import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { ServiceError, isBackendUnavailable } from '../errors';
import type { Metrics } from '../metrics';
import { SpanKind, extractTrace, inSpan } from '../tracing';
import { readMeta, type CallMeta } from './context';

/** Context handed to every handler: caller identity and request id from metadata, a child logger. */
export interface CallContext extends CallMeta {
  requestId: string;
  log: Logger;
  metadata: grpc.Metadata;
}

type Def = { path: string; requestStream: boolean; responseStream: boolean; requestDeserialize: (b: Buffer) => unknown; responseSerialize: (v: never) => Buffer };
type Req<M> = M extends { requestDeserialize: (b: Buffer) => infer R } ? R : never;
type Res<M> = M extends { responseSerialize: (v: infer R) => Buffer } ? R : never;

/** Handlers as async functions: unary → Promise<Res>; client stream → Promise<Res>; server stream writes to call. */
export type Handlers<D> = {
  [K in keyof D]: D[K] extends { requestStream: false; responseStream: false }
    ? (req: Req<D[K]>, ctx: CallContext) => Promise<Res<D[K]>>
    : D[K] extends { requestStream: true; responseStream: false }
      ? (call: grpc.ServerReadableStream<Req<D[K]>, Res<D[K]>>, ctx: CallContext) => Promise<Res<D[K]>>
      : D[K] extends { requestStream: false; responseStream: true }
        ? (call: grpc.ServerWritableStream<Req<D[K]>, Res<D[K]>>, ctx: CallContext) => Promise<void>
        : never;
};

/** HTTP/2 window of 1 MiB: large responses are not throttled by flow control (ARCHITECTURE.md). */
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
  /** Registers a service; handlers run through metrics → logging → error mapping → caller identity. */
  add<D extends Record<string, Def>>(definition: D, handlers: Handlers<D>): void;
  listen(addr: string): Promise<number>;
  /** health → NOT_SERVING, stop accepting, drain in-flight calls; force after the deadline. */
  shutdown(timeoutMs: number): Promise<void>;
  health: HealthImplementation;
  server: grpc.Server;
}

export function createGrpcServer(opts: { logger: Logger; metrics: Metrics }): GrpcServer {
  const server = new grpc.Server(serverOptions);
  const health = new HealthImplementation({ '': 'NOT_SERVING' });
  health.addToServer(server);
  const { logger, metrics } = opts;
  const services: string[] = [];

  function toStatusObject(err: unknown, ctx: CallContext, method: string): Partial<grpc.StatusObject> {
    if (err instanceof ServiceError) return { code: err.code, details: err.message, metadata: err.toMetadata() };
    const e = err as { code?: unknown; details?: unknown };
    // An error from a downstream gRPC call keeps its status (e.g. UNAVAILABLE), never its details.
    if (typeof e?.code === 'number' && typeof e.details === 'string' && e.code !== grpc.status.INTERNAL && e.code !== grpc.status.UNKNOWN) {
      return { code: e.code, details: e.code === grpc.status.NOT_FOUND ? e.details : 'a dependency failed' };
    }
    if (isBackendUnavailable(err)) {
      ctx.log.warn({ err, method }, 'backing store unavailable');
      return { code: grpc.status.UNAVAILABLE, details: 'a backing store is unavailable' };
    }
    ctx.log.error({ err, method }, 'unhandled error');
    return { code: grpc.status.INTERNAL, details: 'internal error' };
  }

  function wrap(method: string, def: Def, handler: (a: unknown, ctx: CallContext) => Promise<unknown>) {
    return (call: grpc.ServerUnaryCall<unknown, unknown> & grpc.ServerWritableStream<unknown, unknown>, callback?: grpc.sendUnaryData<unknown>) => {
      const started = process.hrtime.bigint();
      const meta = readMeta(call.metadata);
      const requestId = meta.requestId ?? randomUUID();
      const ctx: CallContext = { ...meta, requestId, metadata: call.metadata, log: logger.child({ request_id: requestId, method }) };
      const arg = def.requestStream || def.responseStream ? call : call.request;
      const finish = (code: grpc.status) => {
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        metrics.grpcServerHandled.inc({ grpc_method: method, grpc_code: grpc.status[code] });
        metrics.grpcServerDuration.observe({ grpc_method: method, grpc_code: grpc.status[code] }, seconds);
        ctx.log.debug({ code: grpc.status[code], ms: Math.round(seconds * 1e4) / 10 }, 'handled');
      };
      // A span per call, child of the caller's (W3C trace context in the metadata).
      const parent = extractTrace((key) => {
        const v = call.metadata.get(key)[0];
        return typeof v === 'string' ? v : undefined;
      });
      inSpan(def.path, SpanKind.SERVER, { 'rpc.system': 'grpc', 'rpc.method': method }, () => handler(arg, ctx), parent).then(
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
    add(definition, handlers) {
      const impl: grpc.UntypedServiceImplementation = {};
      for (const [name, def] of Object.entries(definition)) {
        const handler = (handlers as Record<string, (a: unknown, ctx: CallContext) => Promise<unknown>>)[name];
        if (!handler) throw new Error(`no handler for ${name}`);
        impl[name] = wrap(name, def, handler) as grpc.UntypedHandleCall;
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
