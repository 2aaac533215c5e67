import { EVENTS_STREAM } from '@shutter/contracts';
import { commonConfig, env, loadConfig } from '@shutter/kit';
import { z } from 'zod';

export const notificationConfigShape = {
  ...commonConfig,
  GRPC_PORT: env.port(50054),
  METRICS_PORT: env.port(9104),
  /** identity: the actors replica's backfill (StreamUserSnapshot), its only call there. */
  IDENTITY_ADDR: env.str('127.0.0.1:50051'),
  /** The Redis Stream of domain events this service consumes. */
  EVENTS_STREAM: env.str(EVENTS_STREAM),
  /** Lifetime of a cached unread count in Redis; every change rewrites it (rebuilt on a miss). */
  UNREAD_CACHE_TTL_SECONDS: env.int(600),
};

export type NotificationConfig = Readonly<z.infer<z.ZodObject<typeof notificationConfigShape>>>;

export const loadNotificationConfig = (e: NodeJS.ProcessEnv = process.env): NotificationConfig => loadConfig(notificationConfigShape, e);
