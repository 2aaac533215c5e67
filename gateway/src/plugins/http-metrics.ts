import fp from 'fastify-plugin';
import { Histogram } from 'prom-client';
import type { Metrics } from '@shutter/kit';

/** `http_request_duration_seconds{method, route, status_code}` for every answered request. */
export default fp<{ metrics: Metrics }>(
  async (app, { metrics }) => {
    const duration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration at the gateway, by route template and status',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [metrics.registry],
    });
    app.addHook('onResponse', async (req, reply) => {
      // The route template, never the raw URL: ids would explode the label set.
      const route = req.routeOptions.url ?? 'unmatched';
      duration.observe({ method: req.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
    });
  },
  { name: 'http-metrics' },
);
