import * as http from 'node:http';
import { Registry, collectDefaultMetrics, Counter, Gauge, Histogram } from 'prom-client';

/** One registry per process with default Node metrics and gRPC histograms. */
export function createMetrics(service: string) {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  const grpcServerHandled = new Counter({
    name: 'grpc_server_handled_total',
    help: 'gRPC calls handled, by method and status code',
    labelNames: ['grpc_method', 'grpc_code'],
    registers: [registry],
  });
  const grpcServerDuration = new Histogram({
    name: 'grpc_server_handling_seconds',
    help: 'gRPC server handling time',
    labelNames: ['grpc_method', 'grpc_code'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const grpcClientDuration = new Histogram({
    name: 'grpc_client_handling_seconds',
    help: 'gRPC client call time',
    labelNames: ['grpc_service', 'grpc_method', 'grpc_code'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  return { registry, grpcServerHandled, grpcServerDuration, grpcClientDuration };
}
export type Metrics = ReturnType<typeof createMetrics>;

export interface SidePort {
  server: http.Server;
  port: number;
  close(): Promise<void>;
}

/** Serves /metrics, /healthz and /readyz on a side port (never the public one). */
export async function startSidePort(metrics: Metrics, port: number, ready: () => Promise<boolean>, host = '0.0.0.0'): Promise<SidePort> {
  // The same check as /readyz, for alerting: Prometheus scrapes metrics, not /readyz.
  if (!metrics.registry.getSingleMetric('service_ready')) {
    new Gauge({
      name: 'service_ready',
      help: '1 when the process can reach every backing service it needs (the /readyz check), else 0',
      registers: [metrics.registry],
      async collect() {
        this.set((await ready().catch(() => false)) ? 1 : 0);
      },
    });
  }
  const server = http.createServer((req, res) => {
    void (async () => {
      if (req.url === '/metrics') {
        res.setHeader('content-type', metrics.registry.contentType);
        res.end(await metrics.registry.metrics());
      } else if (req.url === '/healthz') {
        res.setHeader('content-type', 'application/json');
        res.end('{"status":"ok"}');
      } else if (req.url === '/readyz') {
        const ok = await ready().catch(() => false);
        res.statusCode = ok ? 200 : 503;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ status: ok ? 'ready' : 'not ready' }));
      } else {
        res.statusCode = 404;
        res.end();
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const addr = server.address();
  return {
    server,
    port: typeof addr === 'object' && addr ? addr.port : port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
