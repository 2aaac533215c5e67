import type { notification } from '@shutter/proto';
import type { MediaUrls } from './users';

/** docs/api.md's event item; actor URLs are made per response, like every other image URL. */
export async function presentEvent(e: notification.Event, media: MediaUrls) {
  const a = e.actor;
  const actor = {
    user_id: a?.userId ?? '',
    username: a?.username ?? '',
    metadata: {
      profile: a?.profile ?? {},
      ...(a?.profileImageKey ? { profile_image: { url: await media.url(a.profileImageKey) } } : {}),
    },
  };
  // Seed 000's client renders events from these keys.
  const keys = (() => {
    switch (e.type) {
      case 'friend_request':
      case 'follow':
        return { follower: actor, follows_id: e.followsId };
      case 'friend_agree':
        return { following: actor, follows_id: e.followsId };
      case 'like':
        return { post_id: e.postId };
      case 'comment':
        return { post_id: e.postId, comment_id: e.commentId };
      default:
        return {};
    }
  })();
  return {
    event_id: e.eventId,
    type: e.type,
    message: e.message,
    is_read: e.isRead,
    metadata: { actor, ...keys },
    created_at: (e.createdAt ?? new Date(0)).toISOString(),
  };
}

export type EventJson = Awaited<ReturnType<typeof presentEvent>>;
