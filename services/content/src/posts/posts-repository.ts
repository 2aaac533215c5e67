import type { Knex } from '@shutter/kit/db';
import type { StoredVariant } from '../media/media-repository';
import { VISIBLE_POST_SQL, visiblePostBindings } from '../visibility';

export interface ImageRow {
  id: string;
  key: string;
  width: number;
  height: number;
  order: number;
  /** Absent in read forms cached before the photo pipeline, null for a legacy image. */
  blurhash?: string | null;
  variants?: StoredVariant[];
}

/** A post as a viewer reads it: its author's public fields and the viewer's like and follow. */
export interface PostView {
  id: string;
  author_id: string;
  content: string;
  like_count: number;
  comment_count: number;
  created_at: Date;
  updated_at: Date;
  username: string;
  is_public: boolean;
  status: string;
  is_liked: boolean;
  viewer_follows: boolean;
  images: ImageRow[];
}

/** A post's author-independent read form: what `post:<id>` caches in Redis (post-cache.ts). */
export interface PostBase {
  id: string;
  author_id: string;
  content: string;
  created_at: Date;
  updated_at: Date;
  images: ImageRow[];
}

/** What changes without the post changing: counts, the author's fields, the viewer's like and follow. */
export interface PostViewerRow {
  id: string;
  author_id: string;
  like_count: number;
  comment_count: number;
  username: string;
  is_public: boolean;
  status: string;
  is_liked: boolean;
  viewer_follows: boolean;
}

export interface NewImage {
  mediaId: string;
  key: string;
  width: number;
  height: number;
  blurhash: string;
  variants: StoredVariant[];
}

/** Escapes LIKE wildcards so `%` and `_` match literally. */
export const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

// Per-post details for a viewer, in one statement with the post rows (no query per post).
const VIEW_COLUMNS = `p.id, p.author_id, p.content, p.like_count, p.comment_count, p.created_at, p.updated_at,
  a.username, a.is_public, a.status,
  EXISTS (SELECT 1 FROM likes l WHERE l.post_id = p.id AND l.user_id = :viewer) AS is_liked,
  EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = :viewer AND f.followee_id = p.author_id) AS viewer_follows,
  COALESCE((SELECT json_agg(json_build_object('id', i.media_id, 'key', i.key, 'width', i.width, 'height', i.height, 'order', i.position, 'blurhash', i.blurhash, 'variants', i.variants) ORDER BY i.position)
              FROM post_images i WHERE i.post_id = p.id), '[]'::json) AS images`;

const BASE_COLUMNS = `p.id, p.author_id, p.content, p.created_at, p.updated_at,
  COALESCE((SELECT json_agg(json_build_object('id', i.media_id, 'key', i.key, 'width', i.width, 'height', i.height, 'order', i.position, 'blurhash', i.blurhash, 'variants', i.variants) ORDER BY i.position)
              FROM post_images i WHERE i.post_id = p.id), '[]'::json) AS images`;

const VIEWER_COLUMNS = `p.id, p.author_id, p.like_count, p.comment_count, a.username, a.is_public, a.status,
  EXISTS (SELECT 1 FROM likes l WHERE l.post_id = p.id AND l.user_id = :viewer) AS is_liked,
  EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = :viewer AND f.followee_id = p.author_id) AS viewer_follows`;

export function createPostsRepository(db: Knex) {
  /** Views of these posts, newest first. */
  async function views(ids: string[], viewerId: string, trx: Knex = db): Promise<PostView[]> {
    if (ids.length === 0) return [];
    const res = await trx.raw(`SELECT ${VIEW_COLUMNS} FROM posts p JOIN authors a ON a.id = p.author_id WHERE p.id = ANY(:ids::uuid[]) ORDER BY p.id DESC`, {
      viewer: viewerId,
      ids,
    });
    return res.rows as PostView[];
  }

  return {
    views,

    /** Read forms of these posts (those that exist), in one statement. */
    async bases(ids: string[]): Promise<PostBase[]> {
      if (ids.length === 0) return [];
      const res = await db.raw(`SELECT ${BASE_COLUMNS} FROM posts p WHERE p.id = ANY(:ids::uuid[])`, { ids });
      return res.rows as PostBase[];
    },

    /** Counts, author fields and the viewer's like and follow of these posts (deleted ones are absent), newest first. */
    async viewerRows(ids: string[], viewerId: string): Promise<PostViewerRow[]> {
      if (ids.length === 0) return [];
      const res = await db.raw(`SELECT ${VIEWER_COLUMNS} FROM posts p JOIN authors a ON a.id = p.author_id WHERE p.id = ANY(:ids::uuid[]) ORDER BY p.id DESC`, {
        viewer: viewerId,
        ids,
      });
      return res.rows as PostViewerRow[];
    },

    /**
     * Home feed merge of big authors (not fanned out): the newest `limit` posts of the viewer's
     * agree followees among `bigAuthorIds`, one index probe per such author.
     */
    async bigFolloweeIds(viewerId: string, bigAuthorIds: string[], limit: number, cursor?: string): Promise<string[]> {
      const res = await db.raw(
        `SELECT lp.id FROM follows f
           CROSS JOIN LATERAL (
             SELECT p.id FROM posts p WHERE p.author_id = f.followee_id ${cursor ? 'AND p.id < :cursor' : ''}
              ORDER BY p.id DESC LIMIT :limit
           ) lp
          WHERE f.follower_id = :viewer AND f.followee_id = ANY(:big::uuid[])
          ORDER BY lp.id DESC LIMIT :limit`,
        { viewer: viewerId, big: bigAuthorIds, limit, ...(cursor ? { cursor } : {}) },
      );
      return (res.rows as Array<{ id: string }>).map((r) => r.id);
    },

    async bigAuthorIds(): Promise<string[]> {
      return db('big_authors').pluck('author_id');
    },

    async isBigAuthor(trx: Knex, authorId: string): Promise<boolean> {
      return Boolean(await trx('big_authors').where({ author_id: authorId }).first('author_id'));
    },

    async markBigAuthor(trx: Knex, authorId: string): Promise<void> {
      await trx('big_authors').insert({ author_id: authorId }).onConflict('author_id').ignore();
    },

    async view(id: string, viewerId: string, trx: Knex = db): Promise<PostView | undefined> {
      return (await views([id], viewerId, trx))[0];
    },

    async exists(id: string): Promise<boolean> {
      return Boolean(await db('posts').where({ id }).first('id'));
    },

    async insert(trx: Knex, post: { id: string; authorId: string; content: string; images: NewImage[] }): Promise<void> {
      await trx('posts').insert({ id: post.id, author_id: post.authorId, content: post.content });
      await trx('post_images').insert(
        post.images.map((im, position) => ({
          post_id: post.id,
          position,
          media_id: im.mediaId,
          key: im.key,
          width: im.width,
          height: im.height,
          blurhash: im.blurhash || null,
          variants: JSON.stringify(im.variants),
        })),
      );
    },

    /**
     * Home feed page: the viewer's own and their agree followees' posts, newest first. Each
     * author's newest posts come from the (author_id, id) index, so a page costs one index probe
     * per followed author however many posts they have.
     */
    async homeFeedIds(viewerId: string, limit: number, cursor?: string): Promise<string[]> {
      const res = await db.raw(
        `SELECT lp.id FROM (
            SELECT :viewer::uuid AS author_id
            UNION
            SELECT f.followee_id FROM follows f WHERE f.follower_id = :viewer
          ) src
          JOIN authors a ON a.id = src.author_id AND a.status = 'enabled'
          CROSS JOIN LATERAL (
            SELECT p.id FROM posts p
             WHERE p.author_id = src.author_id ${cursor ? 'AND p.id < :cursor' : ''}
             ORDER BY p.id DESC LIMIT :limit
          ) lp
          ORDER BY lp.id DESC LIMIT :limit`,
        { viewer: viewerId, limit, ...(cursor ? { cursor } : {}) },
      );
      return (res.rows as Array<{ id: string }>).map((r) => r.id);
    },

    /** One author's posts, newest first (visibility of the author is the caller's business). */
    async authorIds(authorId: string, limit: number, cursor?: string, trx: Knex = db): Promise<string[]> {
      const q = trx('posts').where({ author_id: authorId }).orderBy('id', 'desc').limit(limit).pluck('id');
      if (cursor) q.andWhere('id', '<', cursor);
      return q;
    },

    /**
     * Posts whose content contains `text` (case-insensitive, wildcards literal) that the viewer
     * may see; only `authorId`'s when given. The trigram index serves the LIKE.
     */
    async searchIds(viewerId: string, text: string, limit: number, opts: { authorId?: string; cursor?: string }): Promise<string[]> {
      const q = db('posts as p')
        .join('authors as a', 'a.id', 'p.author_id')
        .whereRaw(`lower(p.content) LIKE '%' || lower(?) || '%' ESCAPE '\\'`, [escapeLike(text)])
        .whereRaw(VISIBLE_POST_SQL, visiblePostBindings(viewerId))
        .orderBy('p.id', 'desc')
        .limit(limit)
        .pluck('p.id');
      if (opts.authorId) q.andWhere('p.author_id', opts.authorId);
      if (opts.cursor) q.andWhere('p.id', '<', opts.cursor);
      return q;
    },

    /** Answers the post's new version (0 when it is gone). */
    async updateContent(trx: Knex, id: string, content: string): Promise<number> {
      const [row] = await trx('posts').where({ id }).update({ content, updated_at: trx.fn.now() }, ['version']);
      return row ? Number((row as { version: string }).version) : 0;
    },

    /** Accepted followers of an author from content's replica, at most `max + 1` (one statement). */
    async followerIds(authorId: string, max: number, trx: Knex = db): Promise<string[]> {
      return trx('follows')
        .where({ followee_id: authorId })
        .limit(max + 1)
        .pluck('follower_id');
    },

    /**
     * Deletes a post (images, likes and comments cascade); answers every object key its images
     * own: the served image, its variants, and the uploaded object (or kept original).
     */
    async delete(trx: Knex, id: string): Promise<string[]> {
      const res = await trx.raw(
        `SELECT k FROM (
            SELECT i.key AS k FROM post_images i WHERE i.post_id = :id
            UNION SELECT v->>'key' FROM post_images i, jsonb_array_elements(i.variants) v WHERE i.post_id = :id
            UNION SELECT m.key FROM media m WHERE m.post_id = :id
            UNION SELECT m.processed_key FROM media m WHERE m.post_id = :id AND m.processed_key IS NOT NULL
            UNION SELECT v->>'key' FROM media m, jsonb_array_elements(m.variants) v WHERE m.post_id = :id
          ) keys ORDER BY k`,
        { id },
      );
      await trx('posts').where({ id }).delete();
      return (res.rows as Array<{ k: string }>).map((r) => r.k);
    },

    /** The post's author and creation time, the row locked until `trx` ends (deletion). */
    lockForDelete: (trx: Knex, id: string): Promise<{ author_id: string; created_at: Date } | undefined> =>
      trx('posts').where({ id }).forUpdate().first('author_id', 'created_at'),

    /** Adds or removes the user's like; answers whether that changed anything. */
    async setLike(trx: Knex, postId: string, userId: string, liked: boolean): Promise<boolean> {
      const changed = liked
        ? await trx('likes').insert({ post_id: postId, user_id: userId }).onConflict(['post_id', 'user_id']).ignore().returning('post_id')
        : await trx('likes').where({ post_id: postId, user_id: userId }).delete().returning('post_id');
      return changed.length > 0;
    },

    /** Adds to a counter; answers the new value and the post's new version, or null when the post is gone. */
    async bump(trx: Knex, id: string, column: 'like_count' | 'comment_count', delta: number): Promise<{ count: number; version: number } | null> {
      const [row] = await trx('posts')
        .where({ id })
        .update({ [column]: trx.raw('?? + ?', [column, delta]) }, [column, 'version']);
      return row ? { count: Number((row as Record<string, number>)[column]), version: Number((row as { version: string }).version) } : null;
    },

    /** Bumps a post's version (its newest comments changed); answers it, or null when the post is gone. */
    async touch(trx: Knex, id: string): Promise<number | null> {
      const [row] = await trx('posts')
        .where({ id })
        .update({ version: trx.raw('version') }, ['version']);
      return row ? Number((row as { version: string }).version) : null;
    },

    async likeCount(trx: Knex, id: string): Promise<number | null> {
      const row = await trx('posts').where({ id }).first('like_count');
      return row ? Number(row.like_count) : null;
    },

    /** A page of live posts' ids and authors after `after`, by post id (the post snapshot identity's replica backfills from). */
    postsAfter(after: string | undefined, limit: number): Promise<Array<{ id: string; author_id: string }>> {
      const q = db('posts').select('id', 'author_id').orderBy('id').limit(limit);
      if (after !== undefined) q.where('id', '>', after);
      return q;
    },

    async countByAuthor(authorIds: string[]): Promise<Map<string, number>> {
      const counts = new Map<string, number>();
      if (authorIds.length === 0) return counts;
      const rows = await db('posts')
        .whereIn('author_id', authorIds)
        .groupBy('author_id')
        .select('author_id')
        .count<{ author_id: string; count: number }[]>('* as count');
      for (const r of rows) counts.set(r.author_id, Number(r.count));
      return counts;
    },
  };
}

export type PostsRepository = ReturnType<typeof createPostsRepository>;
