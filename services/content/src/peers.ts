import { identity, socialgraph } from '@shutter/proto';
import { createClient, type AssertionSigner, type Metrics } from '@shutter/kit';
import type { ContentConfig } from './config';

/**
 * Content's own calls to other services: only to fill its read models on a miss, always in batch
 * (identity: authors and profiles; social-graph: a viewer's followees, once per viewer).
 */
export function createPeers(config: ContentConfig, metrics: Metrics, auth: AssertionSigner) {
  const opts = { deadlineMs: config.PEER_DEADLINE_MS, metrics, auth };
  const identityClient = createClient(identity.IdentityServiceService, config.IDENTITY_ADDR, { ...opts, service: 'identity' });
  const graphClient = createClient(socialgraph.SocialGraphServiceService, config.SOCIAL_GRAPH_ADDR, { ...opts, service: 'social-graph' });

  return {
    identity: identityClient,

    /** Every account `userId` follows (agree), read page by page from social-graph's stream. */
    async followees(userId: string, requestId?: string): Promise<string[]> {
      const ids: string[] = [];
      for await (const page of graphClient.serverStream('streamFollowing', { userId, pageSize: 5000 }, { requestId })) ids.push(...page.userIds);
      return ids;
    },

    /**
     * The agree followers of `userId` (social-graph's StreamFollowers), or null as soon as there
     * are more than `max` of them (the stream is cancelled: a big author is not fanned out).
     */
    async followers(userId: string, max: number, requestId?: string): Promise<string[] | null> {
      const ids: string[] = [];
      for await (const page of graphClient.serverStream('streamFollowers', { userId, pageSize: Math.min(5000, max + 1) }, { requestId, deadlineMs: 30_000 })) {
        ids.push(...page.userIds);
        if (ids.length > max) return null; // leaving the loop cancels the stream
      }
      return ids;
    },

    close() {
      identityClient.close();
      graphClient.close();
    },
  };
}

export type Peers = ReturnType<typeof createPeers>;
