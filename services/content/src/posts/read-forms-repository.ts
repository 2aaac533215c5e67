import type { Knex } from '@shutter/kit/db';
import type { AuthorForm, CommentForm, PostForm } from './read-path';

/** Comments shown with a post (docs/api.md: its 2 newest). */
export const NEWEST_COMMENTS = 2;

const IMAGES = `COALESCE((SELECT json_agg(json_build_object('id', i.media_id, 'key', i.key, 'width', i.width, 'height', i.height, 'order', i.position, 'blurhash', i.blurhash, 'variants', i.variants) ORDER BY i.position)
  FROM post_images i WHERE i.post_id = p.id), '[]'::json)`;
const NEWEST = `COALESCE((SELECT json_agg(c ORDER BY c.id DESC) FROM (
    SELECT c.id, c.post_id, c.author_id, c.content, c.created_at, c.updated_at FROM comments c JOIN authors ca ON ca.id = c.author_id AND ca.status = 'enabled'
     WHERE c.post_id = p.id ORDER BY c.id DESC LIMIT ${NEWEST_COMMENTS}) c), '[]'::json)`;

type Stamped<T> = Omit<T, 'created_at' | 'updated_at'> & { created_at: Date; updated_at: Date };

/** A post's form as Postgres answers it: timestamps as dates, and the version it was read at. */
export type PostFormRow = Omit<Stamped<PostForm>, 'comments'> & { comments: Array<Stamped<CommentForm>>; version: string };

/** A per-user set (likes, followees) with the version its writers bump in their transaction. */
export interface VersionedSet {
  version: number;
  members: string[];
}

/**
 * The SQL behind the post read path's versioned copies in Redis (read-path.ts): what a miss loads
 * and the version bumps the write paths make in their transactions.
 */
export function createReadFormsRepository(db: Knex) {
  const versionedSet = async (sql: string, userId: string): Promise<VersionedSet> => {
    const res = await db.raw(sql, { u: userId });
    const row = res.rows[0] as { version: string; members: string[] };
    return { version: Number(row.version), members: row.members };
  };

  return {
    /** Each existing post's own fields, counters, images and newest visible comments. */
    async posts(ids: string[]): Promise<PostFormRow[]> {
      const res = await db.raw(
        `SELECT p.id, p.author_id, p.content, p.created_at, p.updated_at, p.like_count, p.comment_count, p.version, ${IMAGES} AS images, ${NEWEST} AS comments
           FROM posts p WHERE p.id = ANY(?::uuid[])`,
        [ids],
      );
      return res.rows as PostFormRow[];
    },

    authors: (ids: string[]): Promise<Array<AuthorForm & { version: string }>> =>
      db('authors').whereIn('id', ids).select('id', 'username', 'name', 'is_public', 'status', 'profile_image_key', 'profile', 'version'),

    likes: (userId: string) =>
      versionedSet(
        'SELECT COALESCE((SELECT version FROM like_versions WHERE user_id = :u), 0) AS version, ARRAY(SELECT post_id::text FROM likes WHERE user_id = :u) AS members',
        userId,
      ),

    followees: (userId: string) =>
      versionedSet(
        'SELECT COALESCE((SELECT version FROM follow_versions WHERE follower_id = :u), 0) AS version, ARRAY(SELECT followee_id::text FROM follows WHERE follower_id = :u) AS members',
        userId,
      ),

    /** Bumps per-user sets' versions in `trx` (one statement, rows locked in id order); answers the new versions. */
    async bumpSetVersions(trx: Knex, set: 'likes' | 'followees', userIds: string[]): Promise<Array<{ id: string; version: number }>> {
      const [table, column] = set === 'likes' ? ['like_versions', 'user_id'] : ['follow_versions', 'follower_id'];
      const res = await trx.raw(
        `INSERT INTO ${table} (${column}, version) SELECT u, 1 FROM unnest(?::uuid[]) AS u ORDER BY u
           ON CONFLICT (${column}) DO UPDATE SET version = ${table}.version + 1 RETURNING ${column} AS id, version`,
        [[...new Set(userIds)]],
      );
      return (res.rows as Array<{ id: string; version: string }>).map((r) => ({ id: r.id, version: Number(r.version) }));
    },
  };
}

export type ReadFormsRepository = ReturnType<typeof createReadFormsRepository>;
