import { iso, presentPost } from '@shutter/contracts';
import type { content } from '@shutter/proto';

export { presentPost };

/** docs/api.md's comment item: the author's user summary with seed 000's `metadata`. */
export function presentComment(c: content.Comment) {
  const u = c.user;
  return {
    comment_id: c.commentId,
    post_id: c.postId,
    content: c.content,
    created_at: iso(c.createdAt),
    updated_at: iso(c.updatedAt),
    user: {
      user_id: u?.userId ?? '',
      username: u?.username ?? '',
      name: u?.name ?? '',
      metadata: { profile: u?.profile ?? {}, ...(u?.profileImageUrl ? { profile_image: { url: u.profileImageUrl } } : {}) },
    },
  };
}

/** GET /api/posts/{post_id}: the item plus its newest comments. */
export const presentPostDetail = (p: content.Post) => ({ ...presentPost(p), comments: p.comments.map(presentComment) });
