import { createMetrics, createRedis, type Logger } from '@shutter/kit';
import type { StartedGateway } from '@shutter/testing';
import { buildApp } from '../src/app';
import { closeClients, createServiceClients } from '../src/clients';
import { loadGatewayConfig } from '../src/config';

/** Builds the gateway against the started services and listens on a free loopback port. */
export async function start(env: NodeJS.ProcessEnv, logger: Logger): Promise<StartedGateway> {
  const config = loadGatewayConfig({ ...env, PORT: '0', HOST: '127.0.0.1' });
  const metrics = createMetrics('gateway');
  const clients = createServiceClients(config, metrics);
  const redis = createRedis(config.REDIS_URL, config.REDIS_KEY_PREFIX);
  const app = await buildApp({ config, clients, redis, logger, metrics });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  return {
    app,
    metrics,
    url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    async stop() {
      await app.close();
      closeClients(clients);
      await redis.quit();
    },
  };
}
