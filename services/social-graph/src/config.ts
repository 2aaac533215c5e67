import { commonConfig, env, loadConfig } from '@shutter/kit';
import type { z } from 'zod';

export const socialGraphConfigShape = {
  ...commonConfig,
  GRPC_PORT: env.port(50052),
  METRICS_PORT: env.port(9102),
  IDENTITY_ADDR: env.str('127.0.0.1:50051'),
};

export type SocialGraphConfig = Readonly<z.infer<z.ZodObject<typeof socialGraphConfigShape>>>;

export const loadSocialGraphConfig = (e: NodeJS.ProcessEnv = process.env): SocialGraphConfig => loadConfig(socialGraphConfigShape, e);
