import type { Knex } from '@shutter/kit/db';

/** A comment with its author's public fields (a disabled author's comments are never listed). */
export interface CommentView {
  id: string;
  post_id: string;
  author_id: string;
  content: string;
  created_at: Date;
  updated_at: Date;
  username: string;
  name: string;
  profile_image_key: string | null;
  profile: Record<string, unknown>;
}

/** A comment about to change, with what decides who may change it. */
export interface CommentForChange {
  id: string;
  post_id: string;
  author_id: string;
  comment_author_status: string;
  post_author_id: string;
  post_author_public: boolean;
  post_author_status: string;
  viewer_follows: boolean;
}

const VIEW = 'c.id, c.post_id, c.author_id, c.content, c.created_at, c.updated_at, ca.username, ca.name, ca.profile_image_key, ca.profile';

export function createCommentsRepository(db: Knex) {
  return {
    /** A post's visible comments, newest first. */
    async page(postId: string, offset: number, limit: number, trx: Knex = db): Promise<CommentView[]> {
      return trx('comments as c')
        .join('authors as ca', 'ca.id', 'c.author_id')
        .where('c.post_id', postId)
        .andWhere('ca.status', 'enabled')
        .orderBy('c.id', 'desc')
        .offset(offset)
        .limit(limit)
        .select(db.raw(VIEW));
    },

    async view(id: string, trx: Knex = db): Promise<CommentView | undefined> {
      return trx('comments as c').join('authors as ca', 'ca.id', 'c.author_id').where('c.id', id).first(db.raw(VIEW));
    },

    /**
     * A new comment's author status, the author's row FOR SHARE: a concurrent disable (which
     * recounts that author's comments) counts the comment after it is written.
     */
    async lockAuthorStatus(trx: Knex, authorId: string): Promise<string | undefined> {
      const row = await trx('authors').where({ id: authorId }).forShare().first('status');
      return row?.status;
    },

    /**
     * Locks a comment for an edit or delete, and its author's row FOR SHARE: a concurrent
     * disable (which recounts that author's comments) waits for this change, or this for it.
     */
    async lockForChange(trx: Knex, id: string, viewerId: string): Promise<CommentForChange | undefined> {
      const res = await trx.raw(
        `SELECT c.id, c.post_id, c.author_id, ca.status AS comment_author_status,
                p.author_id AS post_author_id, pa.is_public AS post_author_public, pa.status AS post_author_status,
                EXISTS (SELECT 1 FROM follows f WHERE f.follower_id = ? AND f.followee_id = p.author_id) AS viewer_follows
           FROM comments c
           JOIN posts p ON p.id = c.post_id
           JOIN authors pa ON pa.id = p.author_id
           JOIN authors ca ON ca.id = c.author_id
          WHERE c.id = ?
          FOR UPDATE OF c FOR SHARE OF ca`,
        [viewerId, id],
      );
      return res.rows[0] as CommentForChange | undefined;
    },

    async insert(trx: Knex, c: { id: string; postId: string; authorId: string; content: string }): Promise<void> {
      await trx('comments').insert({ id: c.id, post_id: c.postId, author_id: c.authorId, content: c.content });
    },

    async updateContent(trx: Knex, id: string, content: string): Promise<void> {
      await trx('comments').where({ id }).update({ content, updated_at: trx.fn.now() });
    },

    async delete(trx: Knex, id: string): Promise<void> {
      await trx('comments').where({ id }).delete();
    },
  };
}

export type CommentsRepository = ReturnType<typeof createCommentsRepository>;
