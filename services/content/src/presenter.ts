import { presentPost } from '@shutter/contracts';
import type { content } from '@shutter/proto';
import type { CommentView } from './comments/comments-repository';
import type { ImageRow, PostView } from './posts/posts-repository';
import type { VersionedForms } from './cache/versioned';
import type { AuthorForm, CommentForm } from './posts/read-path';
import type { UrlSigner } from './storage/url-signer';

/**
 * Read forms of posts and comments. Image and avatar URLs are made here, per response (never
 * stored): presigned for S3_PRESIGN_TTL or under S3_PUBLIC_URL.
 */
export function createPresenter(deps: { urls: UrlSigner; authors: VersionedForms<AuthorForm>; servedKeys: (keys: string[]) => Promise<Map<string, string>> }) {
  const { urls, authors } = deps;
  const url = async (key: string) => (await urls.sign(key)).url;
  const image = async (im: ImageRow): Promise<content.Image> => ({
    imageId: im.id,
    url: await url(im.key),
    width: im.width,
    height: im.height,
    order: im.order,
    blurhash: im.blurhash ?? '',
    variants: await Promise.all((im.variants ?? []).map(async (v) => ({ url: await url(v.key), width: v.width, height: v.height }))),
  });

  return {
    async posts(views: PostView[], comments: Map<string, content.Comment[]> = new Map()): Promise<content.Post[]> {
      return Promise.all(
        views.map(async (v) => ({
          postId: v.id,
          userId: v.author_id,
          username: v.username,
          content: v.content,
          images: await Promise.all(v.images.map(image)),
          likeCount: v.like_count,
          commentCount: v.comment_count,
          isLiked: v.is_liked,
          createdAt: v.created_at,
          updatedAt: v.updated_at,
          comments: comments.get(v.id) ?? [],
        })),
      );
    },

    /**
     * A list page as the gateway passes it through: docs/api.md's post items as one JSON array
     * (the same presentPost the gateway uses for single posts), not a protobuf tree of them.
     */
    async page(views: PostView[], hasMore: boolean): Promise<content.ListPostsResponse> {
      const posts = await this.posts(views);
      const last = posts[posts.length - 1];
      return { hasMore, postsJson: Buffer.from(JSON.stringify(posts.map(presentPost))), lastPostId: last?.postId ?? '' };
    },

    async comments(rows: CommentView[]): Promise<content.Comment[]> {
      // Avatars set before the photo pipeline are served from their backfilled copy.
      const keys = rows.flatMap((r) => (r.profile_image_key ? [r.profile_image_key] : []));
      const served = keys.length ? await deps.servedKeys(keys) : new Map<string, string>();
      return Promise.all(
        rows.map(async (r) => ({
          commentId: r.id,
          postId: r.post_id,
          content: r.content,
          createdAt: r.created_at,
          updatedAt: r.updated_at,
          user: {
            userId: r.author_id,
            username: r.username,
            name: r.name,
            profile: r.profile ?? {},
            profileImageUrl: r.profile_image_key ? await url(served.get(r.profile_image_key) ?? r.profile_image_key) : '',
          },
        })),
      );
    },

    /** Comments from a post's read form, their authors from the author forms (Redis). */
    async commentForms(forms: CommentForm[]): Promise<content.Comment[]> {
      const byId = await authors.get(forms.map((c) => c.author_id));
      const rows: CommentView[] = [];
      for (const c of forms) {
        const a = byId.get(c.author_id);
        if (a)
          rows.push({
            ...c,
            created_at: new Date(c.created_at),
            updated_at: new Date(c.updated_at),
            username: a.username,
            name: a.name,
            profile_image_key: a.profile_image_key,
            profile: a.profile,
          });
      }
      return this.comments(rows);
    },
  };
}

export type Presenter = ReturnType<typeof createPresenter>;
