import { createMetrics } from '@shutter/kit';
import type { StartContext, StartedService } from '@shutter/testing';
import { loadSocialGraphConfig } from '../src/config';
import { createSocialGraphService } from '../src/server';

/** Starts social-graph on a free port against this run's database and the started identity. */
export async function start(ctx: StartContext): Promise<StartedService> {
  const metrics = createMetrics('social-graph');
  const service = createSocialGraphService(loadSocialGraphConfig(ctx.env), ctx.logger, metrics);
  const port = await service.start(`127.0.0.1:${ctx.port ?? 0}`);
  return { addrVar: 'SOCIAL_GRAPH_ADDR', addr: `127.0.0.1:${port}`, metrics, stop: () => service.stop(1000) };
}
