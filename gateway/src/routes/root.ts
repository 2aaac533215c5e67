import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Redis } from '@shutter/kit';
import type { GatewayConfig } from '../config';
import type { ServiceClients } from '../clients';
import type { TokenVerifier } from '../plugins/auth';
import type { Revocations } from '../plugins/revocations';
import { publicUrl } from '../plugins/docs';

/** Outside /api: `/`, liveness, readiness, the JWKS. */
const rootRoutes: FastifyPluginAsyncTypebox<{
  config: GatewayConfig;
  clients: ServiceClients;
  redis: Redis;
  verifier: TokenVerifier;
  revocations: Revocations;
}> = async (app, { config, redis, verifier, revocations }) => {
  app.get(
    '/',
    { config: { public: true }, schema: { tags: ['meta'], response: { 200: Type.Object({ message: Type.String(), docs: Type.String() }) } } },
    async () => ({
      message: 'Shutter API. Documentation: /docs',
      docs: `${publicUrl(config)}/docs`,
    }),
  );

  app.get('/healthz', { config: { public: true }, schema: { tags: ['meta'], response: { 200: Type.Object({ status: Type.String() }) } } }, async () => ({
    status: 'ok',
  }));

  app.get(
    '/readyz',
    {
      config: { public: true },
      schema: { tags: ['meta'], response: { 200: Type.Object({ status: Type.String() }), 503: Type.Object({ status: Type.String(), detail: Type.String() }) } },
    },
    async (_req, reply) => {
      try {
        await Promise.all([redis.ping(), verifier.jwks()]);
        // Stale revocation state: authenticated requests answer 503, so this process is not ready.
        if (!revocations.fresh()) throw new Error('revocation state is stale');
        return { status: 'ready' };
      } catch {
        return reply.code(503).send({ status: 'not ready', detail: 'a dependency is unreachable' });
      }
    },
  );

  app.get('/.well-known/jwks.json', { config: { public: true }, schema: { tags: ['meta'], summary: 'Public keys that verify access tokens' } }, async () =>
    verifier.jwks(),
  );
};

export default rootRoutes;
