import * as grpc from '@grpc/grpc-js';
import { isIdempotentMethod } from '@shutter/contracts';
import type { Metrics } from '../metrics';
import { SpanKind, inSpan, injectTrace } from '../tracing';
import { channelOptions } from './server';
import { MD_IDEMPOTENCY_KEY, MD_REQUEST_ID, type CallMeta } from './context';
import { MD_CALLER, type AssertionSigner } from './internal-auth';

type Def = { path: string; requestStream: boolean; responseStream: boolean; requestSerialize: (v: never) => Buffer; responseDeserialize: (b: Buffer) => unknown };
type Req<M> = M extends { requestSerialize: (v: infer R) => Buffer } ? R : never;
type Res<M> = M extends { responseDeserialize: (b: Buffer) => infer R } ? R : never;

export interface CallOptions extends CallMeta {
  /** Overrides the client's default deadline for this call. */
  deadlineMs?: number;
}

/** Promise-returning unary methods; streaming methods are used through `raw`. */
export type Client<D> = {
  [K in keyof D as D[K] extends { requestStream: false; responseStream: false } ? K : never]: (
    req: Req<D[K]>,
    opts?: CallOptions,
  ) => Promise<Res<D[K]>>;
} & {
  raw: grpc.Client;
  close(): void;
  /** Metadata for a call to `method` (for `raw` calls): request id and this process's signed assertion. */
  metadata(method: keyof D & string, opts?: CallOptions): grpc.Metadata;
  deadline(opts?: CallOptions): Date;
};

export interface ClientOptions {
  /** Label for metrics and errors (`identity`). */
  service: string;
  deadlineMs?: number;
  metrics?: Metrics;
  /** Signs each call as this process, for the user in CallOptions (gateway) or for none (peers). */
  auth: AssertionSigner;
}

const RETRY_DELAYS_MS = [25, 100];

/**
 * One long-lived channel per peer, a deadline on every call, and retries on UNAVAILABLE only for
 * the methods proto/ marks idempotent (`idempotency_level`, @shutter/contracts). Writes never.
 */
export function createClient<D extends Record<string, Def>>(definition: D, addr: string, opts: ClientOptions): Client<D> {
  const Ctor = grpc.makeGenericClientConstructor(definition as unknown as grpc.ServiceDefinition, opts.service);
  // round_robin over every address the name resolves to (a headless Service lists each pod).
  const raw = new Ctor(addr, grpc.credentials.createInsecure(), {
    ...channelOptions,
    'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
    // While a peer is down, calls fail at once (UNAVAILABLE → 503) and the channel redials with
    // growing delays; grpc-js lets them grow to 2 minutes, so a peer back after a long outage
    // would stay unreachable that long. 1 s bounds the recovery (make chaos measured up to 6 s
    // more after a restarted peer was ready with 5 s); redialing costs a peer nothing.
    'grpc.max_reconnect_backoff_ms': 1_000,
  });
  const defaultDeadline = opts.deadlineMs ?? 5000;

  const paths = new Map(Object.entries(definition).map(([name, def]) => [name, def.path]));
  const metadata = (name: string, o?: CallOptions) => {
    const path = paths.get(name);
    if (!path) throw new Error(`${opts.service} has no method ${name}`);
    const md = new grpc.Metadata();
    md.set(MD_CALLER, opts.auth.sign(path, o));
    if (o?.requestId) md.set(MD_REQUEST_ID, o.requestId);
    if (o?.idempotencyKey) md.set(MD_IDEMPOTENCY_KEY, o.idempotencyKey);
    injectTrace(md);
    return md;
  };
  const deadline = (o?: CallOptions) => new Date(Date.now() + (o?.deadlineMs ?? defaultDeadline));

  const client: Record<string, unknown> = { raw, close: () => raw.close(), metadata, deadline };
  for (const [name, def] of Object.entries(definition)) {
    if (def.requestStream || def.responseStream) continue;
    const method = def.path.split('/')[2] ?? name;
    const idempotent = isIdempotentMethod(def.path);
    const once = (req: unknown, o: CallOptions | undefined, until: Date) =>
      new Promise<unknown>((resolve, reject) => {
        raw.makeUnaryRequest(
          def.path,
          def.requestSerialize as (v: unknown) => Buffer,
          def.responseDeserialize,
          req,
          metadata(name, o),
          { deadline: until },
          (err, res) => (err ? reject(err) : resolve(res)),
        );
      });
    const call = async (req: unknown, o?: CallOptions) => {
      const started = process.hrtime.bigint();
      const until = deadline(o);
      let code = 'OK';
      try {
        for (let attempt = 0; ; attempt++) {
          try {
            return await once(req, o, until);
          } catch (err) {
            const delay = RETRY_DELAYS_MS[attempt];
            const retriable = idempotent && (err as grpc.ServiceError).code === grpc.status.UNAVAILABLE;
            if (!retriable || delay === undefined || Date.now() + delay >= until.getTime()) throw err;
            await new Promise((r) => setTimeout(r, delay));
          }
        }
      } catch (err) {
        code = grpc.status[(err as grpc.ServiceError).code] ?? 'UNKNOWN';
        throw err;
      } finally {
        opts.metrics?.grpcClientDuration.observe({ grpc_service: opts.service, grpc_method: method, grpc_code: code }, Number(process.hrtime.bigint() - started) / 1e9);
      }
    };
    const attributes = { 'rpc.system': 'grpc', 'rpc.service': opts.service, 'rpc.method': method };
    client[name] = (req: unknown, o?: CallOptions) => inSpan(def.path, SpanKind.CLIENT, attributes, () => call(req, o));
  }
  return client as Client<D>;
}
