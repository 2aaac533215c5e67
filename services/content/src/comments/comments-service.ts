import { MAX_COMMENT_CHARS, domainEvent } from '@shutter/contracts';
import type { content } from '@shutter/proto';
import { newId, notFound, offsetPage, permissionDenied, requireUuid } from '@shutter/kit';
import { enqueueEvent, type Knex } from '@shutter/kit/db';
import type { Presenter } from '../presenter';
import type { Caller, PostsService } from '../posts/posts-service';
import type { PostsRepository } from '../posts/posts-repository';
import type { PostReads } from '../posts/read-path';
import type { Authors } from '../read-models/authors';
import { checkText } from '../text';
import { canSeePostsOf } from '../visibility';
import type { CommentForChange, CommentsRepository } from './comments-repository';

const COMMENT_NOT_FOUND = 'Comment not found.';

export interface CommentsServiceDeps {
  db: Knex;
  comments: CommentsRepository;
  posts: PostsRepository;
  reads: PostReads;
  postsService: PostsService;
  authors: Authors;
  presenter: Presenter;
}

const commentChanged = (
  type: 'comment.created' | 'comment.deleted',
  c: { commentId: string; postId: string; postAuthorId: string; userId: string; actorId: string },
) => domainEvent(type, c.commentId, c);

/**
 * Comments: on posts the caller may see; edited by their author; deleted by their author or by
 * the post's author (moderation). comment_count counts visible comments (authors enabled).
 */
export function createCommentsService(deps: CommentsServiceDeps) {
  const { db, comments, posts, reads, postsService, authors, presenter } = deps;

  /** The comment locked for a change; NOT_FOUND unless the caller can see it. */
  async function lockVisible(trx: Knex, caller: Caller, commentId: string): Promise<CommentForChange> {
    const c = await comments.lockForChange(trx, commentId, caller.userId);
    const postVisible =
      c && canSeePostsOf(caller.userId, { authorId: c.post_author_id, isPublic: c.post_author_public, status: c.post_author_status }, c.viewer_follows);
    if (!c || !postVisible || c.comment_author_status !== 'enabled') throw notFound(COMMENT_NOT_FOUND);
    return c;
  }

  return {
    async list(caller: Caller, req: content.ListCommentsRequest): Promise<content.ListCommentsResponse> {
      const post = await postsService.visiblePost(caller, req.postId);
      const { offset, limit } = offsetPage(req);
      const rows = await comments.page(req.postId, offset, limit);
      return { comments: await presenter.comments(rows), totalItems: post.comment_count };
    },

    async create(caller: Caller, req: content.CreateCommentRequest): Promise<string> {
      const text = checkText('content', req.content, MAX_COMMENT_CHARS);
      const post = await postsService.visiblePost(caller, req.postId);
      await authors.own(caller.userId);
      const commentId = newId();
      await db
        .transaction(async (trx) => {
          if ((await comments.lockAuthorStatus(trx, caller.userId)) !== 'enabled') throw notFound('User not found.');
          await comments.insert(trx, { id: commentId, postId: req.postId, authorId: caller.userId, content: text });
          const bumped = await posts.bump(trx, req.postId, 'comment_count', 1);
          if (bumped === null) throw notFound('Post not found.');
          await reads.postsChanged([{ id: req.postId, version: bumped.version }], trx);
          await enqueueEvent(
            trx,
            commentChanged('comment.created', { commentId, postId: req.postId, postAuthorId: post.author_id, userId: caller.userId, actorId: caller.userId }),
          );
        })
        .catch((err: { code?: string }) => {
          if (err.code === '23503') throw notFound('Post not found.'); // deleted meanwhile
          throw err;
        });
      return commentId;
    },

    async update(caller: Caller, req: content.UpdateCommentRequest): Promise<content.Comment> {
      requireUuid('comment_id', req.commentId);
      const text = checkText('content', req.content, MAX_COMMENT_CHARS);
      await db.transaction(async (trx) => {
        const c = await lockVisible(trx, caller, req.commentId);
        if (c.author_id !== caller.userId) throw permissionDenied('Only the author can edit this comment.');
        await comments.updateContent(trx, req.commentId, text);
        // The post's read form holds its newest comments.
        const version = await posts.touch(trx, c.post_id);
        if (version !== null) await reads.postsChanged([{ id: c.post_id, version }], trx);
      });
      const row = await comments.view(req.commentId);
      if (!row) throw notFound(COMMENT_NOT_FOUND);
      const [comment] = await presenter.comments([row]);
      return comment!;
    },

    async delete(caller: Caller, commentId: string): Promise<void> {
      requireUuid('comment_id', commentId);
      await db.transaction(async (trx) => {
        const c = await lockVisible(trx, caller, commentId);
        if (c.author_id !== caller.userId && c.post_author_id !== caller.userId) {
          throw permissionDenied("Only the comment's author or the post's author can delete this comment.");
        }
        await comments.delete(trx, commentId);
        const bumped = await posts.bump(trx, c.post_id, 'comment_count', -1);
        if (bumped) await reads.postsChanged([{ id: c.post_id, version: bumped.version }], trx);
        await enqueueEvent(
          trx,
          commentChanged('comment.deleted', { commentId, postId: c.post_id, postAuthorId: c.post_author_id, userId: c.author_id, actorId: caller.userId }),
        );
      });
    },
  };
}

export type CommentsService = ReturnType<typeof createCommentsService>;
