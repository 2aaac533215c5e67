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
    followees(userId: string, requestId?: string): Promise<string[]> {
      const def = socialgraph.SocialGraphServiceService.streamFollowing;
      return new Promise((resolve, reject) => {
        const ids: string[] = [];
        const stream = graphClient.raw.makeServerStreamRequest(
          def.path,
          def.requestSerialize,
          def.responseDeserialize,
          { userId, pageSize: 5000 },
          graphClient.metadata('streamFollowing', { requestId }),
          { deadline: graphClient.deadline() },
        );
        stream.on('data', (page: socialgraph.UserIdPage) => ids.push(...page.userIds));
        stream.on('error', reject);
        // 'status' (not 'end') tells a complete list from one cut short by an error.
        stream.on('status', (st: { code: number }) => {
          if (st.code === 0) resolve(ids);
        });
      });
    },

    /**
     * The agree followers of `userId` (social-graph's StreamFollowers), or null as soon as there
     * are more than `max` of them (the stream is cancelled: a big author is not fanned out).
     */
    followers(userId: string, max: number, requestId?: string): Promise<string[] | null> {
      const def = socialgraph.SocialGraphServiceService.streamFollowers;
      return new Promise((resolve, reject) => {
        const ids: string[] = [];
        let done = false;
        const stream = graphClient.raw.makeServerStreamRequest(
          def.path,
          def.requestSerialize,
          def.responseDeserialize,
          { userId, pageSize: Math.min(5000, max + 1) },
          graphClient.metadata('streamFollowers', { requestId }),
          { deadline: graphClient.deadline({ deadlineMs: 30_000 }) },
        );
        stream.on('data', (page: socialgraph.UserIdPage) => {
          ids.push(...page.userIds);
          if (ids.length > max && !done) {
            done = true;
            resolve(null);
            stream.cancel();
          }
        });
        stream.on('error', (err: unknown) => {
          if (!done) reject(err);
        });
        stream.on('status', (st: { code: number }) => {
          if (st.code === 0 && !done) resolve(ids);
        });
      });
    },

    close() {
      identityClient.close();
      graphClient.close();
    },
  };
}

export type Peers = ReturnType<typeof createPeers>;
