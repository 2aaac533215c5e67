import type { Logger, Redis } from '@shutter/kit';
import type { Knex } from '@shutter/kit/db';
import { createVersionedForms, createVersionedSets } from '../cache/versioned';
import type { ImageRow, PostView } from './posts-repository';

/** A post's read form in Redis (`post:<id>`): its own fields, counters and 2 newest visible comments. */
export interface PostForm {
  id: string;
  author_id: string;
  content: string;
  created_at: string;
  updated_at: string;
  images: ImageRow[];
  like_count: number;
  comment_count: number;
  comments: CommentForm[];
}

export interface CommentForm {
  id: string;
  post_id: string;
  author_id: string;
  content: string;
  created_at: string;
  updated_at: string;
}

/** An author's read form in Redis (`author:<id>`): content's replica row of the user. */
export interface AuthorForm {
  id: string;
  username: string;
  name: string;
  is_public: boolean;
  status: string;
  profile_image_key: string | null;
  profile: Record<string, unknown>;
}

/** A post as a viewer reads it, with its newest comments. */
export type PostRead = PostView & { comments: CommentForm[] };

/** Comments shown with a post (docs/api.md: its 2 newest). */
export const NEWEST_COMMENTS = 2;

const IMAGES = `COALESCE((SELECT json_agg(json_build_object('id', i.media_id, 'key', i.key, 'width', i.width, 'height', i.height, 'order', i.position, 'blurhash', i.blurhash, 'variants', i.variants) ORDER BY i.position)
  FROM post_images i WHERE i.post_id = p.id), '[]'::json)`;
const NEWEST = `COALESCE((SELECT json_agg(c ORDER BY c.id DESC) FROM (
    SELECT c.id, c.post_id, c.author_id, c.content, c.created_at, c.updated_at FROM comments c JOIN authors ca ON ca.id = c.author_id AND ca.status = 'enabled'
     WHERE c.post_id = p.id ORDER BY c.id DESC LIMIT ${NEWEST_COMMENTS}) c), '[]'::json)`;

const iso = (d: Date | string) => (d instanceof Date ? d.toISOString() : new Date(d).toISOString());

/**
 * The hot read path of posts (ARCHITECTURE *Hot paths*): a page of posts is MGETs of post and
 * author forms and two SMISMEMBERs (the viewer's likes among the page, the viewer's follows among
 * its authors) — no SQL in the steady state. Every copy is versioned (cache/versioned.ts): the
 * write paths call the `invalidate*` functions in their transactions with the new versions.
 */
export function createPostReads(deps: { db: Knex; redis: Redis; log: Logger; ttlSeconds: number }) {
  const { db, redis, log, ttlSeconds } = deps;

  const posts = createVersionedForms<PostForm>({
    redis,
    log,
    prefix: 'post:',
    ttlSeconds,
    async load(ids) {
      const res = await db.raw(
        `SELECT p.id, p.author_id, p.content, p.created_at, p.updated_at, p.like_count, p.comment_count, p.version, ${IMAGES} AS images, ${NEWEST} AS comments
           FROM posts p WHERE p.id = ANY(?::uuid[])`,
        [ids],
      );
      return (res.rows as Array<PostForm & { version: string; created_at: Date; updated_at: Date }>).map(({ version, ...r }) => ({
        id: r.id,
        version: Number(version),
        value: {
          ...r,
          created_at: iso(r.created_at),
          updated_at: iso(r.updated_at),
          comments: r.comments.map((c) => ({ ...c, created_at: iso(c.created_at), updated_at: iso(c.updated_at) })),
        },
      }));
    },
  });

  const authors = createVersionedForms<AuthorForm>({
    redis,
    log,
    prefix: 'content:author:',
    ttlSeconds,
    async load(ids) {
      const rows = await db('authors').whereIn('id', ids).select('id', 'username', 'name', 'is_public', 'status', 'profile_image_key', 'profile', 'version');
      return (rows as Array<AuthorForm & { version: string }>).map(({ version, ...value }) => ({ id: value.id, version: Number(version), value }));
    },
  });

  const likes = createVersionedSets({
    redis,
    log,
    prefix: 'content:likes:',
    ttlSeconds,
    async load(userId) {
      const res = await db.raw('SELECT COALESCE((SELECT version FROM like_versions WHERE user_id = :u), 0) AS version, ARRAY(SELECT post_id::text FROM likes WHERE user_id = :u) AS members', {
        u: userId,
      });
      const row = res.rows[0] as { version: string; members: string[] };
      return { version: Number(row.version), members: row.members };
    },
  });

  const followees = createVersionedSets({
    redis,
    log,
    prefix: 'content:followees:',
    ttlSeconds,
    async load(userId) {
      const res = await db.raw(
        'SELECT COALESCE((SELECT version FROM follow_versions WHERE follower_id = :u), 0) AS version, ARRAY(SELECT followee_id::text FROM follows WHERE follower_id = :u) AS members',
        { u: userId },
      );
      const row = res.rows[0] as { version: string; members: string[] };
      return { version: Number(row.version), members: row.members };
    },
  });

  /** Bumps a per-user set's version in `trx` and marks the copy; answers the new version. */
  async function bumpSet(trx: Knex, table: 'like_versions' | 'follow_versions', column: string, userId: string): Promise<number> {
    const res = await trx.raw(`INSERT INTO ${table} (${column}, version) VALUES (?, 1) ON CONFLICT (${column}) DO UPDATE SET version = ${table}.version + 1 RETURNING version`, [userId]);
    return Number((res.rows[0] as { version: string }).version);
  }

  return {
    posts,
    authors,

    /** Whether these posts exist (deleted ones do not), from their forms. */
    async exist(ids: string[]): Promise<Set<string>> {
      return new Set((await posts.get(ids)).keys());
    },

    /** Views of these posts for the viewer, newest first; deleted posts (or unknown authors) left out. */
    async views(ids: string[], viewerId: string): Promise<PostRead[]> {
      if (ids.length === 0) return [];
      const forms = await posts.get(ids);
      const authorIds = new Set<string>();
      for (const f of forms.values()) {
        authorIds.add(f.author_id);
        for (const c of f.comments) authorIds.add(c.author_id);
      }
      const [authorForms, liked, followed] = await Promise.all([authors.get([...authorIds]), likes.has(viewerId, [...forms.keys()]), followees.has(viewerId, [...authorIds])]);
      const out: PostRead[] = [];
      for (const f of forms.values()) {
        const a = authorForms.get(f.author_id);
        if (!a) continue;
        out.push({
          id: f.id,
          author_id: f.author_id,
          content: f.content,
          like_count: f.like_count,
          comment_count: f.comment_count,
          created_at: new Date(f.created_at),
          updated_at: new Date(f.updated_at),
          username: a.username,
          is_public: a.is_public,
          status: a.status,
          is_liked: liked.has(f.id),
          viewer_follows: followed.has(f.author_id),
          images: f.images,
          comments: f.comments.filter((c) => authorForms.get(c.author_id)?.status === 'enabled'),
        });
      }
      return out.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    },

    /** Which of these authors the viewer follows (agree). */
    followeesAmong: (viewerId: string, authorIds: string[]) => followees.has(viewerId, authorIds),

    /** Whether the viewer follows the author (agree), from the viewer's followee set. */
    async follows(viewerId: string, authorId: string): Promise<boolean> {
      return (await followees.has(viewerId, [authorId])).has(authorId);
    },

    /** After an update of posts answered these rows' new versions (in the same transaction). */
    async postsChanged(rows: Array<{ id: string; version: number | string }>): Promise<void> {
      await Promise.all(rows.map((r) => posts.invalidate(r.id, Number(r.version))));
    },

    /** A post's images changed after their own commit (the photo backfill): a new version, marked. */
    async postImagesChanged(id: string): Promise<void> {
      await db.transaction(async (trx) => {
        const [row] = await trx('posts').where({ id }).update({ version: trx.raw('version') }, ['version']);
        if (row) await posts.invalidate(id, Number((row as { version: string }).version));
      });
    },

    async authorChanged(id: string, version: number | string): Promise<void> {
      await authors.invalidate(id, Number(version));
    },

    /** A post was deleted (in `trx`'s commit or already): its form never comes back. */
    async postDeleted(id: string): Promise<void> {
      await posts.tombstone(id);
    },

    /** The user's likes change in `trx`. */
    async likesChanged(trx: Knex, userId: string): Promise<void> {
      await likes.invalidate(userId, await bumpSet(trx, 'like_versions', 'user_id', userId));
    },

    /** The user's followees change in `trx`. */
    async followeesChanged(trx: Knex, followerId: string): Promise<void> {
      await followees.invalidate(followerId, await bumpSet(trx, 'follow_versions', 'follower_id', followerId));
    },
  };
}

export type PostReads = ReturnType<typeof createPostReads>;
