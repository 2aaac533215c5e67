import type { ServiceClients } from './clients';
import type { ProfileExtras } from './profiles';

const FOLLOW_STATUSES = ['none', 'pending', 'agree'] as const;

/**
 * Relationship and counts for a profile. Identity alone knows none of them: social-graph and
 * content fill them in (one call per service, in parallel with identity's).
 */
export function createProfileExtras(clients: ServiceClients): ProfileExtras {
  return {
    async extras(userId, opts) {
      // social-graph: the caller's relationship to the user and the user's agree counts, one call.
      // content: the user's post count.
      const [graph, posts] = await Promise.all([clients.socialGraph.getProfileGraph({ userId }, opts), clients.content.countPosts({ userIds: [userId] }, opts)]);
      const status = graph.relationship?.outgoingStatus || 'none';
      const followStatus = FOLLOW_STATUSES.find((s) => s === status) ?? 'none';
      return {
        is_following: followStatus === 'agree',
        follow_status: followStatus,
        follows_id: graph.relationship?.outgoingFollowsId || null,
        follower_count: graph.counts?.followerCount ?? 0,
        following_count: graph.counts?.followingCount ?? 0,
        post_count: posts.counts[0]?.postCount ?? 0,
      };
    },
  };
}
