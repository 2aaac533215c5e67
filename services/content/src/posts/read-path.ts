import type { Logger, Metrics, Redis } from '@shutter/kit';
import type { Knex } from '@shutter/kit/db';
import { createVersionedForms, createVersionedSets } from '../cache/versioned';
import { createPostsRepository, type ImageRow, type PostView } from './posts-repository';
import { createReadFormsRepository } from './read-forms-repository';

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

const iso = (d: Date | string) => (d instanceof Date ? d.toISOString() : new Date(d).toISOString());

/**
 * The hot read path of posts (docs/architecture.md *Hot paths*): a page of posts is MGETs of post and
 * author forms and two SMISMEMBERs (the viewer's likes among the page, the viewer's follows among
 * its authors) — no SQL in the steady state. Every copy is versioned (cache/versioned.ts): the
 * write paths call the `invalidate*` functions in their transactions with the new versions.
 */
export function createPostReads(deps: { db: Knex; redis: Redis; log: Logger; ttlSeconds: number; metrics?: Metrics }) {
  const { db, redis, log, ttlSeconds, metrics } = deps;
  const sql = createReadFormsRepository(db);
  const postRows = createPostsRepository(db);

  const posts = createVersionedForms<PostForm>({
    redis,
    log,
    name: 'post_form',
    prefix: 'post:',
    ttlSeconds,
    metrics,
    async load(ids) {
      return (await sql.posts(ids)).map(({ version, ...r }) => ({
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
    name: 'author_form',
    prefix: 'content:author:',
    ttlSeconds,
    metrics,
    async load(ids) {
      return (await sql.authors(ids)).map(({ version, ...value }) => ({ id: value.id, version: Number(version), value }));
    },
  });

  const likes = createVersionedSets({
    redis,
    log,
    name: 'likes_set',
    prefix: 'content:likes:',
    ttlSeconds,
    metrics,
    load: (userId) => sql.likes(userId),
  });

  const followees = createVersionedSets({
    redis,
    log,
    name: 'followees_set',
    prefix: 'content:followees:',
    ttlSeconds,
    metrics,
    load: (userId) => sql.followees(userId),
  });

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
      const [authorForms, liked, followed] = await Promise.all([
        authors.get([...authorIds]),
        likes.has(viewerId, [...forms.keys()]),
        followees.has(viewerId, [...authorIds]),
      ]);
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

    /** The caches whose markers a user-facing write may defer (cache/pending-marks.ts). */
    deferrable: [posts, likes],

    /**
     * After an update of posts answered these rows' new versions (in the same transaction).
     * `deferTo`, a user-facing write's transaction: with Redis unreachable the markers are
     * recorded in it rather than failing the write (cache/pending-marks.ts). Without it (event
     * consumers, which retry) the call fails.
     */
    async postsChanged(rows: Array<{ id: string; version: number | string }>, deferTo?: Knex): Promise<void> {
      await Promise.all(rows.map((r) => posts.invalidate(r.id, Number(r.version), deferTo)));
    },

    /** A post's images changed after their own commit (the photo backfill): a new version, marked. */
    async postImagesChanged(id: string): Promise<void> {
      await db.transaction(async (trx) => {
        const version = await postRows.touch(trx, id);
        if (version !== null) await posts.invalidate(id, version);
      });
    },

    async authorChanged(id: string, version: number | string): Promise<void> {
      await authors.invalidate(id, Number(version));
    },

    /** A post was deleted (committed): its form never comes back. `deferTo` as in postsChanged (after the commit: the pool). */
    async postDeleted(id: string, deferTo?: Knex): Promise<void> {
      await posts.tombstone(id, deferTo);
    },

    /** The user's likes change in `trx` (a user-facing write: the marker may be deferred to `trx`). */
    async likesChanged(trx: Knex, userId: string): Promise<void> {
      for (const b of await sql.bumpSetVersions(trx, 'likes', [userId])) await likes.invalidate(b.id, b.version, trx);
    },

    /** These users' followees change in `trx` (one statement for all). */
    async followeesChanged(trx: Knex, followerIds: string[]): Promise<void> {
      const bumped = await sql.bumpSetVersions(trx, 'followees', followerIds);
      await Promise.all(bumped.map((b) => followees.invalidate(b.id, b.version)));
    },
  };
}

export type PostReads = ReturnType<typeof createPostReads>;
