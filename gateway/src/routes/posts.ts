import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { HttpError, fromGrpc, isGrpcError, validation } from '../errors';
import { grpcOpts, type RouteDeps } from './deps';
import { readPostForm } from './post-form';
import { Ok, PageQuery, Pagination, Uuid, clampedLimit, errorResponses, ok, pageParams, pagination } from '../schemas/common';
import {
  Comment,
  CommentContent,
  CreatePostJson,
  CreatePostMultipart,
  IdempotencyHeaders,
  KeysetPagination,
  ListPostsQuery,
  Post,
  PostContent,
  PostDetail,
} from '../schemas/posts';
import { presentComment, presentPost, presentPostDetail } from '../presenters/posts';

const PostId = Type.Object({ post_id: Uuid });
/** `ok({ posts, pagination })` up to the posts, as the response schema orders it. */
const POSTS_PAGE_HEAD = Buffer.from('{"data":{"posts":');
const CommentId = Type.Object({ comment_id: Uuid });
const security = [{ bearer: [] }];

/** A field error from content about a query parameter names it as one (`query.cursor_post_id`). */
async function queryErrors<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    const e = isGrpcError(err) ? fromGrpc(err) : null;
    const field = e?.extra.errors?.[0]?.field;
    if (!e || e.statusCode !== 422 || !field) throw err;
    const name = field.replace(/^body\./, '');
    throw new HttpError(422, e.message, e.code, { errors: [{ field: `query.${name}`, message: e.message }] });
  }
}

/** Posts, likes, comments (docs/api.md). Visibility is content's: an invisible post answers 404. */
const postsRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { clients, media }) => {
  app.addSchema(Post);
  app.addSchema(Comment);
  const content = clients.content;

  app.post('/api/posts', {
    schema: {
      tags: ['posts'],
      summary: 'Create a post: multipart (content + images) or JSON (content + media_ids of direct uploads)',
      description:
        'Images are judged by their bytes (JPEG, PNG or WebP; else 415), at most 20 MiB each (else 413), 1 to 10 of them (else 422). Nothing is created on any error. With `Idempotency-Key`, a repeat answers the first response.',
      security,
      headers: IdempotencyHeaders,
      // Only JSON bodies are validated by schema; a multipart form is read as it streams.
      body: {
        content: {
          'application/json': { schema: CreatePostJson },
          'multipart/form-data': { schema: Type.Unsafe<unknown>({ ...CreatePostMultipart, type: undefined }) },
        },
      } as never,
      response: { 201: Ok(Type.Object({ post_id: Uuid })), ...errorResponses(401, 404, 409, 413, 415, 422, 429) },
    },
    handler: async (req, reply) => {
      const opts = grpcOpts(req, { idempotencyKey: req.headers['idempotency-key'] as string | undefined });
      let body: { content: string; mediaIds: string[]; streamed: boolean };
      if (req.isMultipart()) body = { ...(await readPostForm(req, media, opts)), streamed: true };
      else {
        // Without a Content-Type nothing was parsed or validated: no body is a field error.
        if (typeof req.body !== 'object' || req.body === null) throw validation('body', 'request body is required (JSON, or a multipart form)');
        const json = req.body as { content: string; media_ids: string[] };
        body = { content: json.content, mediaIds: json.media_ids, streamed: false };
      }
      const res = await content.createPost({ content: body.content, mediaIds: body.mediaIds, discardMediaOnFailure: body.streamed }, opts);
      return reply.code(201).send(ok({ post_id: res.postId }));
    },
  });

  app.get('/api/posts/:post_id', {
    schema: {
      tags: ['posts'],
      summary: 'A post the caller may see, with its 2 newest comments',
      security,
      params: PostId,
      response: { 200: Ok(PostDetail), ...errorResponses(401, 404, 422) },
    },
    handler: async (req) => ok(presentPostDetail(await content.getPost({ postId: req.params.post_id }, grpcOpts(req)))),
  });

  app.get('/api/posts', {
    schema: {
      tags: ['posts'],
      summary: "The home feed (no user_id), a user's posts, or a search; newest first, keyset paging",
      description:
        "Without `user_id`: the caller's and their agree followees' posts; `search` then also covers every public account. With `user_id`: that user's posts (a private account the caller may not see → 403). Pass the last post id of a page as `cursor_post_id` for the next one.",
      security,
      querystring: ListPostsQuery,
      response: { 200: Ok(Type.Object({ posts: Type.Array(Type.Ref('Post')), pagination: KeysetPagination })), ...errorResponses(401, 403, 404, 422) },
    },
    handler: async (req, reply) => {
      const q = req.query;
      const limit = clampedLimit(q.limit);
      const res = await queryErrors(
        content.listPosts({ userId: q.user_id ?? '', search: q.search ?? '', limit, cursorPostId: q.cursor_post_id ?? '' }, grpcOpts(req)),
      );
      const pagination = { limit, cursor_post_id: res.hasMore && res.lastPostId ? res.lastPostId : null, has_more: res.hasMore };
      // Content sends the page's posts as docs/api.md's JSON already (presentPost): passed through
      // into the envelope as bytes, with no protobuf tree decoded and no JSON made again.
      const body = Buffer.concat([POSTS_PAGE_HEAD, res.postsJson, Buffer.from(`,"pagination":${JSON.stringify(pagination)}},"message":"ok"}`)]);
      // Fastify sends a Buffer as it is, past the serializer; the route's type describes the JSON inside.
      return reply.type('application/json; charset=utf-8').send(body as never);
    },
  });

  app.patch('/api/posts/:post_id', {
    schema: {
      tags: ['posts'],
      summary: "Edit a post's content (its author only)",
      security,
      params: PostId,
      body: Type.Object({ content: PostContent }),
      response: { 200: Ok(Type.Ref('Post')), ...errorResponses(401, 403, 404, 422) },
    },
    handler: async (req) => ok(presentPost(await content.updatePost({ postId: req.params.post_id, content: req.body.content }, grpcOpts(req)))),
  });

  app.delete('/api/posts/:post_id', {
    schema: {
      tags: ['posts'],
      summary: 'Delete a post (its author only): its likes, comments and images go with it',
      security,
      params: PostId,
      response: { 200: Ok(PostId), ...errorResponses(401, 403, 404, 422) },
    },
    handler: async (req) => ok({ post_id: (await content.deletePost({ postId: req.params.post_id }, grpcOpts(req))).postId }),
  });

  for (const [path, liked] of [
    ['/api/posts/like/:post_id', true],
    ['/api/posts/unlike/:post_id', false],
  ] as const) {
    app.post(path, {
      schema: {
        tags: ['posts'],
        summary: liked ? 'Like a post (idempotent)' : 'Unlike a post (idempotent)',
        security,
        params: PostId,
        response: { 200: Ok(Type.Object({ post_id: Uuid, is_liked: Type.Boolean(), like_count: Type.Integer() })), ...errorResponses(401, 404, 422) },
      },
      handler: async (req) => {
        const opts = grpcOpts(req);
        const res = liked ? await content.likePost({ postId: req.params.post_id }, opts) : await content.unlikePost({ postId: req.params.post_id }, opts);
        return ok({ post_id: res.postId, is_liked: res.isLiked, like_count: res.likeCount });
      },
    });
  }

  app.get('/api/posts/comment/:post_id', {
    schema: {
      tags: ['comments'],
      summary: "A post's comments, newest first",
      security,
      params: PostId,
      querystring: Type.Object(PageQuery),
      response: { 200: Ok(Type.Object({ comments: Type.Array(Type.Ref('Comment')), pagination: Pagination })), ...errorResponses(401, 404, 422) },
    },
    handler: async (req) => {
      const { page, limit } = pageParams(req.query);
      const res = await content.listComments({ postId: req.params.post_id, page, limit }, grpcOpts(req));
      return ok({ comments: res.comments.map(presentComment), pagination: pagination(page, limit, res.totalItems) });
    },
  });

  app.post('/api/posts/comment/:post_id', {
    schema: {
      tags: ['comments'],
      summary: 'Comment on a post the caller may see',
      security,
      params: PostId,
      body: Type.Object({ content: CommentContent }),
      response: { 201: Ok(Type.Object({ comment_id: Uuid })), ...errorResponses(401, 404, 422) },
    },
    handler: async (req, reply) => {
      const res = await content.createComment({ postId: req.params.post_id, content: req.body.content }, grpcOpts(req));
      return reply.code(201).send(ok({ comment_id: res.commentId }));
    },
  });

  app.patch('/api/posts/comment/:comment_id', {
    schema: {
      tags: ['comments'],
      summary: 'Edit a comment (its author only)',
      security,
      params: CommentId,
      body: Type.Object({ content: CommentContent }),
      response: { 200: Ok(Type.Ref('Comment')), ...errorResponses(401, 403, 404, 422) },
    },
    handler: async (req) => ok(presentComment(await content.updateComment({ commentId: req.params.comment_id, content: req.body.content }, grpcOpts(req)))),
  });

  app.delete('/api/posts/comment/:comment_id', {
    schema: {
      tags: ['comments'],
      summary: "Delete a comment: its author, or the post's author (moderating their own post)",
      security,
      params: CommentId,
      response: { 200: Ok(CommentId), ...errorResponses(401, 403, 404, 422) },
    },
    handler: async (req) => ok({ comment_id: (await content.deleteComment({ commentId: req.params.comment_id }, grpcOpts(req))).commentId }),
  });
};

export default postsRoutes;
