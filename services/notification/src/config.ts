import { EVENTS_STREAM } from '@shutter/contracts';
import { commonConfig, env, loadConfig } from '@shutter/kit';
import { z } from 'zod';

export const notificationConfigShape = {
  ...commonConfig,
  GRPC_PORT: env.port(50054),
  METRICS_PORT: env.port(9104),
  /** identity: actor usernames and profiles (BatchGetUsers). */
  IDENTITY_ADDR: env.str('127.0.0.1:50051'),
  GRPC_DEADLINE_MS: env.int(5000),
  /** The Redis Stream of domain events this service consumes. */
  EVENTS_STREAM: env.str(EVENTS_STREAM),
  /** How long an actor looked up in identity is reused (usernames, avatars). */
  ACTOR_CACHE_MS: env.int(30_000),
  /** Lifetime of a cached unread count in Redis; every change rewrites it (rebuilt on a miss). */
  UNREAD_CACHE_TTL_SECONDS: env.int(600),
};

export type NotificationConfig = Readonly<z.infer<z.ZodObject<typeof notificationConfigShape>>>;

export const loadNotificationConfig = (e: NodeJS.ProcessEnv = process.env): NotificationConfig => loadConfig(notificationConfigShape, e);
