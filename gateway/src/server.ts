import { createLogger, createMetrics, createRedis, loadDotEnv, onShutdown, startSidePort, startTracing } from '@shutter/kit';
import { buildApp } from './app';
import { closeClients, createServiceClients } from './clients';
import { loadGatewayConfig } from './config';
import { publicUrl } from './plugins/docs';

async function main() {
  loadDotEnv();
  const config = loadGatewayConfig();
  const tracing = startTracing('gateway');
  const logger = createLogger('gateway', config.LOG_LEVEL);
  const metrics = createMetrics('gateway');
  const redis = createRedis(config.REDIS_URL, config.REDIS_KEY_PREFIX);
  const clients = createServiceClients(config, metrics);
  const app = await buildApp({ config, clients, redis, logger, metrics });
  await app.listen({ host: config.HOST, port: config.PORT });
  const side = await startSidePort(metrics, config.METRICS_PORT, async () => (await redis.ping()) === 'PONG', config.HOST);
  logger.info({ url: publicUrl(config), docs: `${publicUrl(config)}/docs`, metrics_port: side.port }, 'gateway serving');

  onShutdown(logger, config.SHUTDOWN_TIMEOUT_MS, async () => {
    await app.close(); // stops accepting (503 while closing), drains in-flight requests
    await side.close();
    closeClients(clients);
    await redis.quit();
    await tracing?.shutdown();
  });
}

main().catch((err: unknown) => {
  console.error(err instanceof Error && err.name === 'ConfigError' ? err.message : err);
  process.exit(1);
});
