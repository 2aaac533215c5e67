import {
  INVALID_SPAN_CONTEXT,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  propagation,
  trace,
  type Attributes,
  type Context,
  type Span,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-node';

export { SpanKind };

/**
 * Tracing with OpenTelemetry, by hand at the few places every request passes (the kit's gRPC
 * client and server, its knex pool and ioredis connection, the outbox and the consumer; the
 * gateway adds @fastify/otel). Auto-instrumentation patches `require`, which the esbuild bundles
 * bypass; these hooks work the same in `make dev`, the tests and the bundles.
 *
 * Off unless OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set: then the
 * API's no-op tracer makes every hook a function call that records nothing and injects nothing.
 * Spans for Postgres and Redis are made only under an active span (a request, a call, an event):
 * background polls (outbox relay, consumer reads) would otherwise fill the trace store.
 */

let provider: NodeTracerProvider | null = null;

export interface Tracing {
  /** Flushes what is buffered; the process's last step before exiting. */
  shutdown(): Promise<void>;
}

/**
 * Starts exporting this process's spans when the environment names an OTLP endpoint (the OTLP
 * exporter reads the standard OTEL_EXPORTER_OTLP_* variables), or to `exporter`/`processor` when
 * given (tests). Returns null when tracing stays off.
 */
export function startTracing(service: string, opts: { env?: NodeJS.ProcessEnv; processor?: SpanProcessor; exporter?: SpanExporter } = {}): Tracing | null {
  const env = opts.env ?? process.env;
  if (provider) return { shutdown: async () => undefined }; // one provider per process (tests start several services in one)
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!opts.processor && !opts.exporter && !endpoint) return null;
  const processor = opts.processor ?? new BatchSpanProcessor(opts.exporter ?? new OTLPTraceExporter());
  const p = new NodeTracerProvider({ resource: resourceFromAttributes({ 'service.name': service }), spanProcessors: [processor] });
  p.register(); // AsyncLocalStorage context and W3C trace-context propagation
  provider = p;
  return {
    async shutdown() {
      await p.shutdown();
      if (provider === p) provider = null;
    },
  };
}

const tracer = () => trace.getTracer('shutter');

/** Whether this process exports spans (the gateway adds its HTTP instrumentation only then). */
export const tracingEnabled = (): boolean => provider !== null;

/** What `inSpan` hands `fn` while tracing is off. */
const NOT_RECORDING = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/**
 * Runs `fn` in a new active span (child of `parent`, else of the active context); errors mark it
 * failed. Tracing off: `fn` alone (every call of every hot read passes here; the no-op tracer's
 * span, context switch and async wrapper cost a few % of a process's CPU for nothing).
 */
export function inSpan<T>(name: string, kind: SpanKind, attributes: Attributes, fn: (span: Span) => Promise<T>, parent?: Context): Promise<T> {
  if (!provider) {
    try {
      return fn(NOT_RECORDING);
    } catch (err) {
      return Promise.reject(err);
    }
  }
  return tracer().startActiveSpan(name, { kind, attributes }, parent ?? context.active(), async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      failed(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/**
 * A span over work that is not one function call (a stream read by its consumer): `within` runs
 * code with the span active (its calls carry the trace); `end` closes it, once.
 */
export function startSpan(name: string, kind: SpanKind, attributes: Attributes): { within<T>(fn: () => T): T; failed(err: unknown): void; end(): void } {
  const span = tracer().startSpan(name, { kind, attributes }, context.active());
  const ctx = trace.setSpan(context.active(), span);
  return { within: (fn) => context.with(ctx, fn), failed: (err) => failed(span, err), end: () => span.end() };
}

/** A span that ends when `done` settles, started only under an active recording span (see above). */
export function childSpan(name: string, attributes: Attributes): Span | null {
  if (!provider || !trace.getSpan(context.active())?.isRecording()) return null;
  return tracer().startSpan(name, { kind: SpanKind.CLIENT, attributes });
}

export function failed(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : undefined });
}

/** The active context as a `traceparent` value, or undefined when there is none to carry. */
export function currentTraceParent(): string | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent;
}

/** Injects the active context into a carrier such as gRPC metadata (`set(key, value)`). */
export function injectTrace(carrier: { set(key: string, value: string): void }): void {
  if (!provider) return; // the no-op propagator injects nothing
  propagation.inject(context.active(), carrier, { set: (c, k, v) => c.set(k, v) });
}

/** The remote context a carrier names (`traceparent`, `tracestate`), as the parent of local spans. */
export function extractTrace(get: (key: string) => string | undefined): Context {
  if (!provider) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, null, {
    get: (_c, k) => get(k),
    keys: () => ['traceparent', 'tracestate'],
  });
}
