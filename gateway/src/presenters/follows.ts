import type { identity, socialgraph } from '@shutter/proto';
import { presentUser, type MediaUrls } from './users';

/**
 * Follow list items: each edge with the listed user (the follower for `follower` lists, the
 * followee for `following`). Users missing from `users` or not enabled are left out: a disabled
 * account vanishes from follow lists.
 */
export async function presentFollowList(follows: socialgraph.Follow[], type: 'follower' | 'following', users: identity.User[], media: MediaUrls) {
  const byId = new Map(users.map((u) => [u.userId, u]));
  const items = await Promise.all(
    follows.map(async (f) => {
      const u = byId.get(type === 'follower' ? f.followerId : f.followeeId);
      if (!u || u.status !== 'enabled') return null;
      const { user_id, username, name, metadata } = await presentUser(u, undefined, media);
      return { follows_id: f.followsId, user_id, username, name, metadata, status: f.status, created_at: (f.createdAt ?? new Date(0)).toISOString() };
    }),
  );
  return items.filter((i) => i !== null);
}

/** The listed user of each edge, for one batch look-up. */
export const listedUserIds = (follows: socialgraph.Follow[], type: 'follower' | 'following') => [
  ...new Set(follows.map((f) => (type === 'follower' ? f.followerId : f.followeeId))),
];
