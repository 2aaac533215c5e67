import { commonConfig, env, loadConfig } from '@shutter/kit';
import type { z } from 'zod';

export const socialGraphConfigShape = {
  ...commonConfig,
  GRPC_PORT: env.port(50052),
  METRICS_PORT: env.port(9102),
  IDENTITY_ADDR: env.str('127.0.0.1:50051'),
  /** Deadline of calls to identity (target look-ups). */
  IDENTITY_DEADLINE_MS: env.int(2000),
  /** Lifetime of a cached identity look-up (`graph:user:<id>`); identity's events invalidate it sooner. */
  USER_CACHE_TTL_SECONDS: env.int(60),
};

export type SocialGraphConfig = Readonly<z.infer<z.ZodObject<typeof socialGraphConfigShape>>>;

export const loadSocialGraphConfig = (e: NodeJS.ProcessEnv = process.env): SocialGraphConfig => loadConfig(socialGraphConfigShape, e);
