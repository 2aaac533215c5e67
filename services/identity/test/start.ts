import { createMetrics } from '@shutter/kit';
import type { StartContext, StartedService } from '@shutter/testing';
import { loadIdentityConfig } from '../src/config';
import { createIdentityService } from '../src/server';

/** Starts identity on a free port against this run's database (migrated by global-setup), on the stack's stream. */
export async function start(ctx: StartContext): Promise<StartedService> {
  const metrics = createMetrics('identity');
  const service = await createIdentityService(loadIdentityConfig(ctx.env), ctx.logger, metrics, { stream: ctx.env.EVENTS_STREAM });
  const port = await service.start(`127.0.0.1:${ctx.port ?? 0}`);
  return { addrVar: 'IDENTITY_ADDR', addr: `127.0.0.1:${port}`, metrics, stop: () => service.stop(1000) };
}
