import { MAX_IMAGES, MAX_POST_CHARS, domainEvent } from '@shutter/contracts';
import type { content } from '@shutter/proto';
import {
  failedPrecondition,
  isBackendUnavailable,
  newId,
  notFound,
  pageLimit,
  permissionDenied,
  requireUuid,
  validationFailed,
  type Logger,
} from '@shutter/kit';
import { enqueueEvent, type Knex } from '@shutter/kit/db';
import type { Feed } from '../feed/feed';
import type { CommentsRepository } from '../comments/comments-repository';
import type { MediaRepository } from '../media/media-repository';
import type { MediaService } from '../media/media-service';
import type { Presenter } from '../presenter';
import type { Authors } from '../read-models/authors';
import { checkText } from '../text';
import { canSeePostsOf } from '../visibility';
import { checkIdempotencyKey, fingerprint, replay } from './idempotency';
import type { IdempotencyKeys } from './idempotency-keys-repository';
import type { PostRead, PostReads } from './read-path';
import type { PostView, PostsRepository } from './posts-repository';

const POST_NOT_FOUND = 'Post not found.';

export interface PostsServiceDeps {
  db: Knex;
  posts: PostsRepository;
  reads: PostReads;
  feed: Feed;
  comments: CommentsRepository;
  media: MediaRepository;
  mediaService: MediaService;
  idempotency: IdempotencyKeys;
  authors: Authors;
  presenter: Presenter;
  log: Logger;
}

/** Who is asking: the caller from metadata, and the request id for calls it causes. */
export interface Caller {
  userId: string;
  requestId: string;
}

const postChanged = (type: 'post.created' | 'post.deleted', postId: string, authorId: string, createdAt: Date, mediaKeys: string[] = []) =>
  domainEvent(type, postId, { postId, authorId, createdAtMs: createdAt.getTime(), mediaKeys });

/** Posts and likes: creation (with media and idempotency), reads, edits, deletion, likes. */
export function createPostsService(deps: PostsServiceDeps) {
  const { db, posts, reads, feed, media, mediaService, idempotency, authors, presenter, log } = deps;

  const visible = (viewerId: string, v: Pick<PostView, 'author_id' | 'is_public' | 'status' | 'viewer_follows'>) =>
    canSeePostsOf(viewerId, { authorId: v.author_id, isPublic: v.is_public, status: v.status }, v.viewer_follows);

  /** The post if the caller may see it; NOT_FOUND otherwise (private posts do not leak). */
  async function visiblePost(caller: Caller, postId: string): Promise<PostRead> {
    requireUuid('post_id', postId);
    const [view] = await reads.views([postId], caller.userId);
    if (!view || !visible(caller.userId, view)) throw notFound(POST_NOT_FOUND);
    return view;
  }

  function checkMediaIds(ids: string[]): string[] {
    if (ids.length < 1) throw validationFailed('media_ids', 'A post needs at least 1 image');
    if (ids.length > MAX_IMAGES) throw validationFailed('media_ids', `A post has at most ${MAX_IMAGES} images`);
    ids.forEach((id) => requireUuid('media_ids', id));
    if (new Set(ids).size !== ids.length) throw validationFailed('media_ids', 'media_ids must not repeat an id');
    return ids;
  }

  /** Answers the post id, and whether this request made it (else: an idempotent repeat). */
  async function create(caller: Caller, req: content.CreatePostRequest, idempotencyKey?: string): Promise<{ postId: string; created: boolean }> {
    const text = checkText('content', req.content, MAX_POST_CHARS);
    const ids = checkMediaIds(req.mediaIds);
    const key = idempotencyKey === undefined ? undefined : checkIdempotencyKey(idempotencyKey);
    await authors.own(caller.userId);
    const rows = await media.findMany(ids);
    const fp = fingerprint(
      text,
      ids.map((id) => rows.get(id)?.sha256 ?? id),
    );
    if (key) {
      const recorded = await idempotency.find(caller.userId, key);
      if (recorded) return { postId: replay(recorded, fp), created: false };
    }
    const ready = await mediaService.prepare(caller.userId, ids, 'post');
    const postId = newId();
    const res = await db.transaction(async (trx) => {
      if (key) {
        const claimed = await idempotency.claim(trx, caller.userId, key, fp, postId);
        if (claimed !== 'claimed') return { postId: replay(claimed, fp), created: false };
      }
      if ((await media.claim(trx, ids, caller.userId, 'post', postId)) !== ids.length)
        throw failedPrecondition('A media id has already been used.', 'media_used');
      await posts.insert(trx, {
        id: postId,
        authorId: caller.userId,
        content: text,
        images: ready.map((m) => ({ mediaId: m.id, key: m.key, width: m.width, height: m.height, blurhash: m.blurhash, variants: m.variants })),
      });
      await enqueueEvent(trx, postChanged('post.created', postId, caller.userId, new Date()));
      return { postId, created: true };
    });
    if (res.created) await mediaService.afterUse(ids);
    return res;
  }

  return {
    visiblePost,

    /**
     * CreatePost. With `discardMediaOnFailure` (multipart: the files were streamed for this
     * request) the media are deleted unless this request made the post, so nothing is left behind.
     */
    async create(caller: Caller, req: content.CreatePostRequest, idempotencyKey?: string): Promise<string> {
      let created = false;
      try {
        const res = await create(caller, req, idempotencyKey);
        created = res.created;
        return res.postId;
      } finally {
        if (req.discardMediaOnFailure && !created) {
          await mediaService.discard(caller.userId, req.mediaIds).catch((err: unknown) => log.error({ err }, 'could not discard the media of a refused post'));
        }
      }
    },

    async get(caller: Caller, postId: string): Promise<content.Post> {
      // The newest comments come with the post's read form, their authors with theirs.
      const view = await visiblePost(caller, postId);
      const [post] = await presenter.posts([view], new Map([[postId, await presenter.commentForms(view.comments)]]));
      return post!;
    },

    async list(caller: Caller, req: content.ListPostsRequest): Promise<content.ListPostsResponse> {
      const limit = pageLimit(req.limit);
      const cursor = req.cursorPostId || undefined;
      if (cursor && !(await reads.exist([requireUuid('cursor_post_id', cursor)])).has(cursor))
        throw validationFailed('cursor_post_id', 'cursor_post_id is not a known post');
      const search = req.search.trim();
      const viewer = caller.userId;
      let ids: string[];
      if (!req.userId && !search) {
        // Home feed: the timeline in Redis; visibility and viewer fields from the read forms.
        const rows = await feed.page(viewer, limit + 1, cursor).catch((err: unknown) => {
          if (!isBackendUnavailable(err)) throw err;
          log.warn({ err }, 'timelines unavailable: home feed read from Postgres');
          return null;
        });
        if (rows) {
          const page = rows.slice(0, limit);
          return presenter.page(page, rows.length > limit);
        }
        // Redis down: the timelines are only a copy; Postgres answers the same page.
        const ids = await posts.homeFeedIds(viewer, limit + 1, cursor);
        return presenter.page(await posts.views(ids.slice(0, limit), viewer), ids.length > limit);
      }
      if (req.userId) {
        const userId = requireUuid('user_id', req.userId);
        // One's own posts need no author check: the caller's token proves the account, which
        // reaches content's copy by event (a list read right after sign-up must not be a 404).
        if (userId !== viewer) {
          const author = (await reads.authors.get([userId])).get(userId);
          if (!author || author.status !== 'enabled') throw notFound('User not found.');
          const followed = !author.is_public && (await reads.follows(viewer, userId));
          if (!canSeePostsOf(viewer, { authorId: userId, isPublic: author.is_public, status: author.status }, followed)) {
            throw permissionDenied('This account is private.', 'account_private');
          }
        }
        ids = search ? await posts.searchIds(viewer, search, limit + 1, { authorId: userId, cursor }) : await posts.authorIds(userId, limit + 1, cursor);
      } else {
        ids = await posts.searchIds(viewer, search, limit + 1, { cursor });
      }
      const page = ids.slice(0, limit);
      return presenter.page(await reads.views(page, viewer), ids.length > limit);
    },

    async update(caller: Caller, req: content.UpdatePostRequest): Promise<content.Post> {
      const text = checkText('content', req.content, MAX_POST_CHARS);
      const view = await visiblePost(caller, req.postId);
      if (view.author_id !== caller.userId) throw permissionDenied('Only the author can edit this post.');
      await db.transaction(async (trx) => {
        const version = await posts.updateContent(trx, req.postId, text);
        if (version) await reads.postsChanged([{ id: req.postId, version }], trx);
      });
      const [post] = await presenter.posts(await reads.views([req.postId], caller.userId));
      if (!post) throw notFound(POST_NOT_FOUND);
      return post;
    },

    /** The post, its images, likes and comments go; post.deleted has content's consumer delete the objects. */
    async delete(caller: Caller, postId: string): Promise<void> {
      await visiblePost(caller, postId);
      await db.transaction(async (trx) => {
        const row = await posts.lockForDelete(trx, postId);
        if (!row) throw notFound(POST_NOT_FOUND);
        if (row.author_id !== caller.userId) throw permissionDenied('Only the author can delete this post.');
        const keys = await posts.delete(trx, postId);
        await enqueueEvent(trx, postChanged('post.deleted', postId, row.author_id, row.created_at, keys));
      });
      await reads.postDeleted(postId, db);
    },

    /** Like/unlike: one like per user and post; the count changes in the same transaction. */
    async setLike(caller: Caller, postId: string, liked: boolean): Promise<content.LikeState> {
      const view = await visiblePost(caller, postId);
      const likeCount = await db
        .transaction(async (trx) => {
          if (!(await posts.setLike(trx, postId, caller.userId, liked))) return posts.likeCount(trx, postId);
          const bumped = await posts.bump(trx, postId, 'like_count', liked ? 1 : -1);
          if (bumped === null) return null;
          await reads.postsChanged([{ id: postId, version: bumped.version }], trx);
          await reads.likesChanged(trx, caller.userId);
          await enqueueEvent(trx, domainEvent(liked ? 'post.liked' : 'post.unliked', postId, { postId, postAuthorId: view.author_id, userId: caller.userId }));
          return bumped.count;
        })
        .catch((err: { code?: string }) => {
          if (err.code === '23503') return null; // the post was deleted meanwhile (foreign key)
          throw err;
        });
      if (likeCount === null) throw notFound(POST_NOT_FOUND);
      return { postId, isLiked: liked, likeCount };
    },

    async counts(userIds: string[]): Promise<content.CountPostsResponse> {
      const ids = [...new Set(userIds)];
      ids.forEach((id) => requireUuid('user_ids', id));
      const counts = await posts.countByAuthor(ids);
      return { counts: ids.map((userId) => ({ userId, postCount: counts.get(userId) ?? 0 })) };
    },
  };
}

export type PostsService = ReturnType<typeof createPostsService>;
