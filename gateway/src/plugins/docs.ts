import fp from 'fastify-plugin';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { GatewayConfig } from '../config';
import { OPERATION_IDS, addResponseExamples } from '../openapi-extras';

export const publicUrl = (config: GatewayConfig) => config.PUBLIC_URL ?? `http://127.0.0.1:${config.PORT}`;

/** OpenAPI 3 generated from the route schemas: `/openapi.json`, Swagger UI at `/docs`. */
export default fp<{ config: GatewayConfig }>(
  async (app, { config }) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'Shutter API',
          version: '1.0.0',
          description: 'Photo-sharing social backend. Success: `{data, message: "ok"}`; errors: `{detail, code, request_id}` (+ `errors` on 422).',
        },
        servers: [{ url: publicUrl(config) }],
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      },
      refResolver: { buildLocalReference: (json, _base, _frag, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
      transformObject: (doc) => addResponseExamples('openapiObject' in doc ? doc.openapiObject : doc.swaggerObject),
    });
    // Operation ids from the one table (openapi-extras.ts); a route missing there has none and fails the OpenAPI test.
    app.addHook('onRoute', (route) => {
      const operationId = typeof route.method === 'string' ? OPERATION_IDS[`${route.method} ${route.url}`] : undefined;
      if (operationId && route.schema) route.schema = { ...route.schema, operationId } as typeof route.schema;
    });
    // Swagger UI's own routes (registered next) are public like the document itself.
    app.addHook('onRoute', (route) => {
      if (route.url.startsWith('/docs')) route.config = { ...(route.config as object), public: true };
    });
    await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { persistAuthorization: true }, staticCSP: false });
    app.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, async () => app.swagger());
  },
  { name: 'docs' },
);
