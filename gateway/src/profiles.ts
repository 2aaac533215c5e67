import type { CallOptions } from '@shutter/kit';

export interface ProfileExtrasData {
  is_following: boolean;
  follow_status: 'none' | 'pending' | 'agree';
  follows_id: string | null;
  follower_count: number;
  following_count: number;
  post_count: number;
}

/** The parts of a profile other services own (relationship, counts), fetched in parallel. */
export interface ProfileExtras {
  extras(userId: string, opts: CallOptions): Promise<ProfileExtrasData>;
}
