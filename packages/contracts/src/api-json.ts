import type { content } from '@shutter/proto';

/** A protobuf timestamp as docs/api.md writes it (ISO 8601, UTC). */
export const iso = (d: Date | undefined) => (d ?? new Date(0)).toISOString();

/**
 * docs/api.md's post item. Shared by the gateway (a post it received as protobuf) and content,
 * which sends list pages already in this JSON (ListPostsResponse.posts_json) for the gateway to
 * pass through.
 */
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
