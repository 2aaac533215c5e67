import type { content } from '@shutter/proto';

const iso = (d: Date | undefined) => (d ?? new Date(0)).toISOString();

/** docs/api.md's post item. */
export function presentPost(p: content.Post) {
  return {
    post_id: p.postId,
    user_id: p.userId,
    username: p.username,
    content: p.content,
    images: p.images.map((i) => ({
      image_id: i.imageId,
      url: i.url,
      width: i.width,
      height: i.height,
      order: i.order,
      blurhash: i.blurhash,
      variants: i.variants.map((v) => ({ url: v.url, width: v.width, height: v.height })),
    })),
    like_count: p.likeCount,
    comment_count: p.commentCount,
    is_liked: p.isLiked,
    created_at: iso(p.createdAt),
    updated_at: iso(p.updatedAt),
  };
}

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
