import { createLogger, createMetrics, loadDotEnv } from '@shutter/kit';
import { migrate } from '@shutter/kit/db';
import { loadContentConfig } from './config';
import { migrations, schema } from './migrations';
import { createContentService } from './server';

/**
 * The process layer of the photo backfill (media/backfill.ts): same config as the service,
 * migrations applied, nothing served. SIGINT/SIGTERM stop after the image in hand; running it
 * again continues where it stopped. Exits 0 when nothing is left (refused images are reported,
 * not retried), 1 on an error (run it again), 2 when stopped early or `--limit` was reached.
 *
 *   content backfill-photos [--limit N] [--batch N]
 */
export function runPhotoBackfill(args: string[]): void {
  const flag = (name: string) => {
    const i = args.indexOf(name);
    const v = i >= 0 ? Number(args[i + 1]) : undefined;
    if (v !== undefined && !(Number.isInteger(v) && v > 0)) throw new Error(`${name} needs a positive integer`);
    return v;
  };
  const main = async () => {
    loadDotEnv();
    const config = loadContentConfig();
    const logger = createLogger('content-backfill', config.LOG_LEVEL);
    const service = createContentService(config, logger, createMetrics('content_backfill'));
    const stop = new AbortController();
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stop.abort());
    try {
      await migrate(service.db, schema, migrations);
      const result = await service.backfill.run({ limit: flag('--limit'), batch: flag('--batch'), signal: stop.signal });
      logger.info({ ...result }, result.remaining === 0 ? 'backfill: done' : 'backfill: stopped; run it again to continue');
      process.exitCode = result.remaining === 0 ? 0 : 2;
    } finally {
      await service.stop(1000);
    }
  };
  main().catch((err: unknown) => {
    console.error(err instanceof Error && err.name === 'ConfigError' ? err.message : err);
    process.exit(1);
  });
}
