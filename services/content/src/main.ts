import { createLogger, createMetrics, loadDotEnv, migrate, onShutdown, startSidePort } from '@shutter/kit';
import { loadContentConfig } from './config';
import { migrations, schema } from './migrations';
import { createContentService } from './server';

async function main() {
  loadDotEnv();
  const config = loadContentConfig();
  const logger = createLogger('content', config.LOG_LEVEL);
  const metrics = createMetrics('content');
  const service = createContentService(config, logger, metrics);
  await migrate(service.db, schema, migrations);
  const port = await service.start(`${config.HOST}:${config.GRPC_PORT}`);
  const side = await startSidePort(metrics, config.METRICS_PORT, service.ready, config.HOST);
  logger.info({ grpc_port: port, metrics_port: side.port }, 'content serving');
  onShutdown(logger, config.SHUTDOWN_TIMEOUT_MS, async () => {
    await service.stop(config.SHUTDOWN_TIMEOUT_MS);
    await side.close();
  });
}

main().catch((err: unknown) => {
  // Config errors name the variable; anything else is logged with its stack.
  console.error(err instanceof Error && err.name === 'ConfigError' ? err.message : err);
  process.exit(1);
});
