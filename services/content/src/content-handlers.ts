import { MAX_BATCH_IDS } from '@shutter/contracts';
import type { content } from '@shutter/proto';
import { requireUser, requireUuid, type CallContext, type Handlers } from '@shutter/kit';
import { requirePeerCaller, snapshotPages } from '@shutter/kit/db';
import type { CommentsService } from './comments/comments-service';
import type { MediaService } from './media/media-service';
import type { PostsRepository } from './posts/posts-repository';
import type { Caller, PostsService } from './posts/posts-service';
import type { UrlSigner } from './storage/url-signer';

/** The caller the gateway's signed assertion names (kit internal auth); every user method needs one. */
const callerOf = (ctx: CallContext): Caller => ({ userId: requireUser(ctx), requestId: ctx.requestId });

/** A post's replicated version (content.proto PostState): created live, then deleted (terminal). */
export const POST_VERSION = { live: 1, deleted: 2 } as const;

/** gRPC → services: each handler names the caller and hands over. */
export function createContentHandlers(deps: {
  posts: PostsService;
  /** The snapshot's pages (read straight from the table: no service logic in between). */
  postsRepository: PostsRepository;
  comments: CommentsService;
  media: MediaService;
  urls: UrlSigner;
}): Handlers<typeof content.ContentServiceService> {
  const { posts, postsRepository, comments, media, urls } = deps;

  return {
    uploadMedia: (requests, ctx) => media.upload(requests, callerOf(ctx).userId),
    createMediaUpload: async (req, ctx) => media.createUpload(callerOf(ctx).userId, req),
    async discardMedia(req, ctx) {
      await media.discard(
        callerOf(ctx).userId,
        req.mediaIds.filter((id) => requireUuid('media_ids', id)),
      );
      return {};
    },
    async claimProfileImage(req, ctx) {
      return { key: await media.claimProfileImage(callerOf(ctx).userId, requireUuid('media_id', req.mediaId)) };
    },
    async signMediaUrls(req) {
      const keys = [...new Set(req.keys)].slice(0, MAX_BATCH_IDS);
      // A processed image gets its BlurHash and variants; a legacy avatar's key (identity keeps it)
      // is served from its backfilled copy.
      const served = await media.servedImages(keys);
      return {
        urls: await Promise.all(
          keys.map(async (key) => {
            const image = served.get(key);
            const variants = await Promise.all(
              (image?.variants ?? []).map(async (v) => ({ url: (await urls.sign(v.key)).url, width: v.width, height: v.height })),
            );
            return { key, ...(await urls.sign(image?.servedKey ?? key)), blurhash: image?.blurhash ?? '', variants };
          }),
        ),
      };
    },

    createPost: async (req, ctx) => ({ postId: await posts.create(callerOf(ctx), req, ctx.idempotencyKey) }),
    getPost: (req, ctx) => posts.get(callerOf(ctx), req.postId),
    listPosts: (req, ctx) => posts.list(callerOf(ctx), req),
    updatePost: (req, ctx) => posts.update(callerOf(ctx), req),
    async deletePost(req, ctx) {
      await posts.delete(callerOf(ctx), req.postId);
      return { postId: req.postId };
    },
    likePost: (req, ctx) => posts.setLike(callerOf(ctx), req.postId, true),
    unlikePost: (req, ctx) => posts.setLike(callerOf(ctx), req.postId, false),
    countPosts: async (req) => posts.counts(req.userIds),

    async *streamPostSnapshot(req, ctx) {
      requirePeerCaller(ctx);
      for await (const rows of snapshotPages(req.pageSize, postsRepository.postsAfter, (p) => p.id)) {
        yield { posts: rows.map((p) => ({ postId: p.id, authorId: p.author_id, deleted: false, version: POST_VERSION.live })) };
      }
    },

    listComments: (req, ctx) => comments.list(callerOf(ctx), req),
    createComment: async (req, ctx) => ({ commentId: await comments.create(callerOf(ctx), req) }),
    updateComment: (req, ctx) => comments.update(callerOf(ctx), req),
    async deleteComment(req, ctx) {
      await comments.delete(callerOf(ctx), req.commentId);
      return { commentId: req.commentId };
    },
  };
}
