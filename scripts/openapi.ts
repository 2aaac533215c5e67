import * as fs from 'node:fs';
import '@fastify/swagger'; // its type augmentation: app.swagger()
import * as path from 'node:path';
import { createLogger, createMetrics, createRedis } from '@shutter/kit';
import { buildApp } from '../gateway/src/app';
import { closeClients, createServiceClients } from '../gateway/src/clients';
import { loadGatewayConfig } from '../gateway/src/config';

/**
 * Writes docs/openapi.json: the document the gateway serves at /openapi.json, built from the
 * route schemas without starting anything (`make openapi`; gateway/test/app/openapi.test.ts fails
 * when the served document and this file differ). `servers` is the default local address; a
 * deployed gateway serves its own PUBLIC_URL there.
 */
export const OPENAPI_FILE = path.join(__dirname, '../docs/openapi.json');

export async function renderOpenApi(): Promise<string> {
  const config = loadGatewayConfig({ REDIS_URL: 'redis://127.0.0.1:1', PUBLIC_URL: 'http://localhost:8080' });
  const clients = createServiceClients(config);
  const redis = createRedis(config.REDIS_URL);
  redis.on('error', () => undefined); // nothing is called: the document is built from schemas alone
  const app = await buildApp({ config, clients, redis, logger: createLogger('openapi', 'silent'), metrics: createMetrics('gateway') });
  try {
    await app.ready();
    return `${JSON.stringify(app.swagger(), null, 2)}\n`;
  } finally {
    await app.close();
    closeClients(clients);
    redis.disconnect();
  }
}

if (require.main === module) {
  renderOpenApi().then(
    (text) => {
      fs.writeFileSync(OPENAPI_FILE, text);
      console.log(`wrote ${path.relative(process.cwd(), OPENAPI_FILE)}`);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
