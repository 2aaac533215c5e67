import * as grpc from '@grpc/grpc-js';
import { isIdempotentMethod } from '@shutter/contracts';
import type { Metrics } from '../metrics';
import { SpanKind, inSpan, injectTrace, startSpan } from '../tracing';
import { channelOptions } from './server';
import { MD_IDEMPOTENCY_KEY, MD_REQUEST_ID, type CallMeta } from './context';
import { MD_CALLER, type AssertionSigner } from './internal-auth';

type Def = {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestSerialize: (v: never) => Buffer;
  responseDeserialize: (b: Buffer) => unknown;
};
type Req<M> = M extends { requestSerialize: (v: infer R) => Buffer } ? R : never;
type Res<M> = M extends { responseDeserialize: (b: Buffer) => infer R } ? R : never;
type MethodsOf<D, Shape> = { [K in keyof D]: D[K] extends Shape ? K : never }[keyof D] & string;
type ServerStreams<D> = MethodsOf<D, { requestStream: false; responseStream: true }>;
type ClientStreams<D> = MethodsOf<D, { requestStream: true; responseStream: false }>;

export interface CallOptions extends CallMeta {
  /** Overrides the client's default deadline for this call (for a stream: for all of it). */
  deadlineMs?: number;
}

export interface StreamOptions extends CallOptions {
  /** Cancels the call; the stream (or the promise) then fails with the signal's reason. */
  signal?: AbortSignal;
}

/** Promise-returning unary methods, and the streaming ones through `serverStream`/`clientStream`. */
export type Client<D> = {
  [K in keyof D as D[K] extends { requestStream: false; responseStream: false } ? K : never]: (req: Req<D[K]>, opts?: CallOptions) => Promise<Res<D[K]>>;
} & {
  /**
   * The responses of a server stream. The call starts when iteration starts; leaving the loop
   * (`break`, an exception) or aborting `signal` cancels it. The iteration ends only when the
   * server closed the stream with OK: a stream cut short throws its status error.
   */
  serverStream<K extends ServerStreams<D>>(method: K, req: Req<D[K]>, opts?: StreamOptions): AsyncIterable<Res<D[K]>>;
  /**
   * Sends `source` as a client stream (honouring flow control) and answers the response. If
   * `source` throws, the call is cancelled and its error is the answer; if the server answers
   * before `source` is done, `source` is closed (its `finally` blocks run).
   */
  clientStream<K extends ClientStreams<D>>(method: K, source: AsyncIterable<Req<D[K]>> | Iterable<Req<D[K]>>, opts?: StreamOptions): Promise<Res<D[K]>>;
  /** The channel itself, for tests that must send what the kit never would. */
  raw: grpc.Client;
  close(): void;
};

/** How long an owner's whole snapshot may stream; flow control paces it to the replica's writes. */
export const SNAPSHOT_DEADLINE_MS = 60 * 60_000;

/**
 * A replica's backfill source (kit `backfillFrom({ snapshot })`): the owner's snapshot stream
 * `method`, read in pages of `pageSize`, each page's rows picked by `rows`.
 */
export function snapshotSource<D, K extends ServerStreams<D>, Row>(client: Client<D>, method: K, rows: (page: Res<D[K]>) => Row[], pageSize = 1000) {
  return async function* (signal: AbortSignal): AsyncIterable<Row[]> {
    for await (const page of client.serverStream(method, { pageSize } as Req<D[K]>, { signal })) yield rows(page);
  };
}

export interface ClientOptions {
  /** Label for metrics and errors (`identity`). */
  service: string;
  deadlineMs?: number;
  metrics?: Metrics;
  /** Signs each call as this process, for the user in CallOptions (gateway) or for none (peers). */
  auth: AssertionSigner;
}

const RETRY_DELAYS_MS = [25, 100];

/** The status name a failed call is counted under; an error of this side's own (a source that threw, an abort) cancelled the call. */
const codeName = (err: unknown): string => grpc.status[(err as { code?: number } | null)?.code ?? -1] ?? 'CANCELLED';

/**
 * One long-lived channel per peer, a deadline on every call, and retries on UNAVAILABLE only for
 * the methods proto/ marks idempotent (`idempotency_level`, @shutter/contracts): a server stream
 * only before its first response; writes and client streams never.
 * Every call (unary or stream) carries the signed caller assertion, the request id and the trace
 * context, runs in a client span and is timed per method in grpc_client_handling_seconds.
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

  const defOf = (name: string, stream: { requestStream: boolean; responseStream: boolean }) => {
    const def = definition[name];
    if (!def || def.requestStream !== stream.requestStream || def.responseStream !== stream.responseStream) {
      throw new Error(`${opts.service} has no ${stream.requestStream ? 'client-stream' : stream.responseStream ? 'server-stream' : 'unary'} method ${name}`);
    }
    return def;
  };
  const metadata = (def: Def, o?: CallOptions) => {
    const md = new grpc.Metadata();
    md.set(MD_CALLER, opts.auth.sign(def.path, o));
    if (o?.requestId) md.set(MD_REQUEST_ID, o.requestId);
    if (o?.idempotencyKey) md.set(MD_IDEMPOTENCY_KEY, o.idempotencyKey);
    injectTrace(md);
    return md;
  };
  const deadline = (o?: CallOptions) => new Date(Date.now() + (o?.deadlineMs ?? defaultDeadline));
  const methodOf = (def: Def) => def.path.split('/')[2] ?? def.path;
  const attributes = (def: Def) => ({ 'rpc.system': 'grpc', 'rpc.service': opts.service, 'rpc.method': methodOf(def) });
  /** Times a call from its start to its outcome, labelled with the status it ended in. */
  const timer = (def: Def) => {
    const started = process.hrtime.bigint();
    return (code: string) =>
      opts.metrics?.grpcClientDuration.observe(
        { grpc_service: opts.service, grpc_method: methodOf(def), grpc_code: code },
        Number(process.hrtime.bigint() - started) / 1e9,
      );
  };
  /** Whether a failed attempt may be made again (the caller knows nothing reached it yet). */
  const retryDelay = (def: Def, err: unknown, attempt: number, until: Date): number | undefined => {
    const delay = RETRY_DELAYS_MS[attempt];
    const retriable = isIdempotentMethod(def.path) && (err as grpc.ServiceError).code === grpc.status.UNAVAILABLE;
    return retriable && delay !== undefined && Date.now() + delay < until.getTime() ? delay : undefined;
  };
  /** `run` in a client span (its calls carry the trace), timed by status. */
  const observed = <T>(def: Def, run: () => Promise<T>): Promise<T> =>
    inSpan(def.path, SpanKind.CLIENT, attributes(def), async () => {
      const done = timer(def);
      let code = 'OK';
      try {
        return await run();
      } catch (err) {
        code = codeName(err);
        throw err;
      } finally {
        done(code);
      }
    });

  const client: Record<string, unknown> = { raw, close: () => raw.close() };

  for (const [name, def] of Object.entries(definition)) {
    if (def.requestStream || def.responseStream) continue;
    const once = (req: unknown, o: CallOptions | undefined, until: Date) =>
      new Promise<unknown>((resolve, reject) => {
        raw.makeUnaryRequest(
          def.path,
          def.requestSerialize as (v: unknown) => Buffer,
          def.responseDeserialize,
          req,
          metadata(def, o),
          { deadline: until },
          (err, res) => (err ? reject(err) : resolve(res)),
        );
      });
    client[name] = (req: unknown, o?: CallOptions) =>
      observed(def, async () => {
        const until = deadline(o);
        for (let attempt = 0; ; attempt++) {
          try {
            return await once(req, o, until);
          } catch (err) {
            const delay = retryDelay(def, err, attempt, until);
            if (delay === undefined) throw err;
            await new Promise((r) => setTimeout(r, delay));
          }
        }
      });
  }

  async function* serverStream(name: string, req: unknown, o: StreamOptions = {}): AsyncGenerator<unknown, void, undefined> {
    const def = defOf(name, { requestStream: false, responseStream: true });
    const { signal } = o;
    signal?.throwIfAborted();
    const until = deadline(o);
    // A span and a timer over the whole stream: it is not one function call, so not inSpan.
    const span = startSpan(def.path, SpanKind.CLIENT, attributes(def));
    const done = timer(def);
    let call: grpc.ClientReadableStream<unknown> | undefined;
    const cancel = () => call?.cancel();
    signal?.addEventListener('abort', cancel);
    let code = 'CANCELLED'; // unless the stream ends or fails: the consumer left the loop
    let received = false;
    try {
      for (let attempt = 0; ; attempt++) {
        const c = span.within(() =>
          raw.makeServerStreamRequest(def.path, def.requestSerialize as (v: unknown) => Buffer, def.responseDeserialize, req, metadata(def, o), {
            deadline: until,
          }),
        );
        call = c;
        // grpc-js tells the outcome in 'status' (after 'error' for a failure): the end of the
        // messages alone does not tell a complete stream from one cut short.
        const outcome = new Promise<void>((resolve, reject) => {
          c.once('error', reject);
          c.once('status', (st: grpc.StatusObject) => {
            if (st.code === grpc.status.OK) resolve();
          });
        });
        outcome.catch(() => undefined); // awaited below unless the consumer leaves first
        try {
          try {
            for await (const msg of c) {
              received = true;
              yield msg;
            }
          } catch {
            // The readable's own error is the call's: `outcome` carries it with its status.
          }
          await outcome;
          code = 'OK';
          return;
        } catch (err) {
          if (signal?.aborted) throw signal.reason;
          const delay = received ? undefined : retryDelay(def, err, attempt, until);
          if (delay === undefined) {
            code = codeName(err);
            span.failed(err);
            throw err;
          }
          await new Promise((r) => setTimeout(r, delay));
          signal?.throwIfAborted();
        }
      }
    } finally {
      signal?.removeEventListener('abort', cancel);
      call?.cancel(); // a no-op once the call has ended; tells the server when the consumer left early
      done(code);
      span.end();
    }
  }

  function clientStream(name: string, source: AsyncIterable<unknown> | Iterable<unknown>, o: StreamOptions = {}): Promise<unknown> {
    const def = defOf(name, { requestStream: true, responseStream: false });
    const { signal } = o;
    return observed(def, async () => {
      signal?.throwIfAborted();
      let call: grpc.ClientWritableStream<unknown> | undefined;
      const cancel = () => call?.cancel();
      signal?.addEventListener('abort', cancel);
      try {
        return await new Promise<unknown>((resolve, reject) => {
          let answered = false;
          let wake: (() => void) | undefined; // a pipe waiting for 'drain' also wakes when the call is over
          const c = raw.makeClientStreamRequest(
            def.path,
            def.requestSerialize as (v: unknown) => Buffer,
            def.responseDeserialize,
            metadata(def, o),
            { deadline: deadline(o) },
            (err, res) => {
              answered = true;
              wake?.();
              if (err) reject(signal?.aborted ? signal.reason : err);
              else resolve(res);
            },
          );
          call = c;
          const drained = () =>
            new Promise<void>((r) => {
              wake = () => {
                c.off('drain', wake!);
                r();
              };
              c.once('drain', wake);
            });
          const pipe = async () => {
            // Leaving the loop once the call is over closes `source` (its finally blocks run).
            for await (const msg of source) {
              if (answered) return;
              if (!c.write(msg)) await drained();
              if (answered) return;
            }
            c.end();
          };
          pipe().catch((err: unknown) => {
            reject(err);
            c.cancel();
          });
        });
      } finally {
        signal?.removeEventListener('abort', cancel);
      }
    });
  }

  client.serverStream = serverStream;
  client.clientStream = clientStream;
  return client as Client<D>;
}
