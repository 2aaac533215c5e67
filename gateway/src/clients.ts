import { content, identity, notification, socialgraph } from '@shutter/proto';
import { createClient, internalAuth, type Metrics } from '@shutter/kit';
import type { GatewayConfig } from './config';

/**
 * One long-lived channel per service; the reads proto/ marks idempotent are retried on UNAVAILABLE. Every
 * call carries an assertion signed with the gateway's internal key naming the verified caller.
 */
export function createServiceClients(config: GatewayConfig, metrics?: Metrics) {
  const opts = { deadlineMs: config.GRPC_DEADLINE_MS, metrics, auth: internalAuth('gateway', config).signer };
  return {
    identity: createClient(identity.IdentityServiceService, config.IDENTITY_ADDR, { ...opts, service: 'identity' }),
    socialGraph: createClient(socialgraph.SocialGraphServiceService, config.SOCIAL_GRAPH_ADDR, { ...opts, service: 'social-graph' }),
    content: createClient(content.ContentServiceService, config.CONTENT_ADDR, { ...opts, service: 'content' }),
    notification: createClient(notification.NotificationServiceService, config.NOTIFICATION_ADDR, { ...opts, service: 'notification' }),
  };
}

export type ServiceClients = ReturnType<typeof createServiceClients>;

export function closeClients(clients: ServiceClients): void {
  for (const c of Object.values(clients)) c.close();
}
