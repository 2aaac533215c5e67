import { createMetrics } from '@shutter/kit';
import type { StartContext, StartedService } from '@shutter/testing';
import { loadNotificationConfig } from '../src/config';
import { createNotificationService } from '../src/server';

/** Starts notification on a free port against this run's database (migrated by global-setup). */
export async function start(ctx: StartContext): Promise<StartedService> {
  const metrics = createMetrics('notification');
  const service = createNotificationService(loadNotificationConfig(ctx.env), ctx.logger, metrics, {
    consumerTuning: { blockMs: 200, claimIdleMs: 1000, claimEveryMs: 500, maxBackoffMs: 500 },
  });
  const port = await service.start(`127.0.0.1:${ctx.port ?? 0}`);
  return { addrVar: 'NOTIFICATION_ADDR', addr: `127.0.0.1:${port}`, metrics, stop: () => service.stop(1000) };
}
