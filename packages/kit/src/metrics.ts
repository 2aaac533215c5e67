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

/** The part of knex's tarn pool the gauges read. */
interface PoolCounts {
  numUsed(): number;
  numFree(): number;
  numPendingAcquires(): number;
}

/**
 * Postgres pool usage at scrape time: connections in use and idle, and queries waiting for a
 * connection (a pool too small for the load, or a slow statement holding connections).
 */
export function observeDbPool(metrics: Metrics, db: { client: { pool?: PoolCounts } }): void {
  if (metrics.registry.getSingleMetric('db_pool_connections')) return;
  new Gauge({
    name: 'db_pool_connections',
    help: 'Postgres pool connections by state: used, idle',
    labelNames: ['state'],
    registers: [metrics.registry],
    collect() {
      const pool = db.client.pool;
      if (!pool) return; // destroyed: no sample
      this.set({ state: 'used' }, pool.numUsed());
      this.set({ state: 'idle' }, pool.numFree());
    },
  });
  new Gauge({
    name: 'db_pool_waiting_queries',
    help: 'Queries waiting for a Postgres pool connection',
    registers: [metrics.registry],
    collect() {
      const pool = db.client.pool;
      if (pool) this.set(pool.numPendingAcquires());
    },
  });
}

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
    (async () => {
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
    })().catch(() => {
      // A collector that threw: the scrape fails, the process goes on.
      res.statusCode = 500;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const addr = server.address();
  return {
    server,
    port: typeof addr === 'object' && addr ? addr.port : port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
