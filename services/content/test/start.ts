import { createMetrics } from '@shutter/kit';
import type { StartContext, StartedService } from '@shutter/testing';
import { loadContentConfig } from '../src/config';
import { createContentService } from '../src/server';

/** Starts content on a free port against this run's database, S3 and the services started before it. */
export async function start(ctx: StartContext): Promise<StartedService> {
  const metrics = createMetrics('content');
  const service = createContentService(loadContentConfig(ctx.env), ctx.logger, metrics);
  const port = await service.start(`127.0.0.1:${ctx.port ?? 0}`);
  return { addrVar: 'CONTENT_ADDR', addr: `127.0.0.1:${port}`, metrics, stop: () => service.stop(1000) };
}
