import { createMetrics } from '@shutter/kit';
import type { StartContext, StartedService } from '@shutter/testing';
import { loadSocialGraphConfig } from '../src/config';
import { createSocialGraphService } from '../src/server';

/** Starts social-graph on a free port against this run's database and the started identity. */
export async function start(ctx: StartContext): Promise<StartedService> {
  const service = createSocialGraphService(loadSocialGraphConfig(ctx.env), ctx.logger, createMetrics('social-graph'));
  const port = await service.start(`127.0.0.1:${ctx.port ?? 0}`);
  return { addrVar: 'SOCIAL_GRAPH_ADDR', addr: `127.0.0.1:${port}`, stop: () => service.stop(1000) };
}
