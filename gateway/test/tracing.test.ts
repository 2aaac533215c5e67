import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { SpanKind } from '@opentelemetry/api';
import { apiClient, startStack, testDb, waitFor, type ApiClient, type Stack } from '@shutter/testing';
import { startTracing, type Tracing } from '@shutter/kit';
import { registerUser } from './events-helpers';

/*
 * One request's trace, as an operator would follow it: the gateway's HTTP span, the gRPC call
 * (client and server side), the service's Postgres statements, and the work a consumer did later
 * for the event that request wrote. Every process of the stack runs in this one, so their spans
 * land in one in-memory exporter.
 */

const exporter = new InMemorySpanExporter();
let tracing: Tracing | null;
let stack: Stack;
let api: ApiClient;

beforeAll(async () => {
  tracing = startTracing('test', { processor: new SimpleSpanProcessor(exporter) });
  stack = await startStack({ only: ['identity', 'social-graph', 'notification'] });
  api = apiClient(stack.url);
});
afterAll(async () => {
  await stack?.stop();
  await tracing?.shutdown();
});

const spans = () => exporter.getFinishedSpans();
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;
const childrenOf = (parent: ReadableSpan, all = spans()) => all.filter((s) => parentOf(s) === parent.spanContext().spanId);

describe('tracing', () => {
  it('follows a request from the gateway through gRPC to Postgres, and on to the consumer that handled its event', async () => {
    const [alice, bob] = [await registerUser(api, 'alice'), await registerUser(api, 'bob')];
    exporter.reset();
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const res = await api.post(`/api/follows/request/${alice.id}`, undefined, {
      token: bob.token,
      headers: { 'content-type': 'application/json', traceparent },
    });
    expect(res.status).toBe(201);
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';

    // The caller's trace continues: the gateway's server span is a child of the given parent.
    const http = await waitFor(() => spans().find((s) => s.kind === SpanKind.SERVER && s.attributes['http.route'] === '/api/follows/request/:user_id'));
    expect(http.spanContext().traceId).toBe(traceId);
    expect(parentOf(http)).toBe('00f067aa0ba902b7');

    const inTrace = () => spans().filter((s) => s.spanContext().traceId === traceId);
    const client = inTrace().find((s) => s.kind === SpanKind.CLIENT && s.name.startsWith('/shutter.socialgraph.'));
    expect(client).toBeDefined();
    const server = inTrace().find((s) => s.kind === SpanKind.SERVER && s.name === client!.name);
    expect(server && parentOf(server)).toBe(client!.spanContext().spanId);
    // The service's statements are children of its call: one of them wrote the event.
    const statements = childrenOf(server!).filter((s) => s.name.startsWith('pg '));
    expect(statements.some((s) => String(s.attributes['db.query.text']).includes('INSERT INTO outbox'))).toBe(true);

    // The event carries the trace: its outbox row holds the request's trace context.
    const graph = testDb('graph');
    try {
      const row = await graph('outbox')
        .where({ type: 'follow.requested' })
        .whereRaw('trace_parent LIKE ?', [`00-${traceId}-%`])
        .first();
      expect(row).toBeDefined();
    } finally {
      await graph.destroy();
    }
    // Later, in another "process": notification's consumer handled the event within the same trace. The run's other suites share the stream and its consumer groups, so the
    // consumer may be another jest worker's: then this process holds no span of it.
    const consumed = await waitFor(
      () =>
        inTrace().find(
          (s) => s.kind === SpanKind.CONSUMER && s.name === 'consume follow.requested' && s.attributes['messaging.consumer.group.name'] === 'notification',
        ),
      10_000,
    ).catch(() => undefined);
    if (consumed) expect(childrenOf(consumed, inTrace()).some((s) => s.name.startsWith('pg '))).toBe(true);

    // Background work (the relays' polls, which published this event meanwhile) makes no spans of
    // its own: statements and commands are traced only under a request or an event.
    expect(spans().filter((s) => s.kind === SpanKind.CLIENT && !parentOf(s))).toEqual([]);
  });
});
