import { identity, socialgraph, type events } from '@shutter/proto';
import { SNAPSHOT_DEADLINE_MS, createClient, snapshotSource, type AssertionSigner, type Metrics } from '@shutter/kit';
import type { ContentConfig } from './config';

/**
 * Content's only calls to other services: the owners' snapshots its replicas backfill from, once
 * in each replica's life (read-models/backfill.ts). No request path and no fan-out calls a peer.
 */
export function createPeers(config: ContentConfig, metrics: Metrics, auth: AssertionSigner) {
  const opts = { deadlineMs: SNAPSHOT_DEADLINE_MS, metrics, auth };
  const identityClient = createClient(identity.IdentityServiceService, config.IDENTITY_ADDR, { ...opts, service: 'identity' });
  const graphClient = createClient(socialgraph.SocialGraphServiceService, config.SOCIAL_GRAPH_ADDR, { ...opts, service: 'social-graph' });

  return {
    /** identity's users, whole state at version, by id. */
    userSnapshot: snapshotSource(identityClient, 'streamUserSnapshot', (page): events.UserState[] => page.users),

    /** social-graph's live edges at version, by edge id. */
    edgeSnapshot: snapshotSource(graphClient, 'streamEdgeSnapshot', (page): socialgraph.EdgeState[] => page.edges),

    close() {
      identityClient.close();
      graphClient.close();
    },
  };
}

export type Peers = ReturnType<typeof createPeers>;
