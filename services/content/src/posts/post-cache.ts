import { isBackendUnavailable, type Logger, type Redis } from '@shutter/kit';
import type { PostBase, PostsRepository, PostViewerRow, PostView } from './posts-repository';

const key = (postId: string) => `post:${postId}`;

/** The JSON form of a PostBase (dates as ISO strings). */
type Cached = Omit<PostBase, 'created_at' | 'updated_at'> & { created_at: string; updated_at: string };

const toJson = (b: PostBase) => JSON.stringify(b);
const fromJson = (s: string): PostBase => {
  const c = JSON.parse(s) as Cached;
  return { ...c, created_at: new Date(c.created_at), updated_at: new Date(c.updated_at) };
};

/**
 * Posts' read forms in Redis (ARCHITECTURE *Hot paths*): `post:<id>` is one JSON string of the
 * author-independent fields (id, author, content, images, dates), fetched with MGET for a page.
 * Misses are read from Postgres in one statement and written back with SET NX, so a fill that
 * read the row before an edit never overwrites the edit's SET. Counts, the author's fields
 * and the viewer's like are not cached: they come from one statement per page (`viewerRows`),
 * exact and reflecting the caller's own writes at once.
 */
export function createPostCache(deps: { redis: Redis; posts: PostsRepository; ttlSeconds: number; log: Logger }) {
  const { redis, posts, ttlSeconds, log } = deps;

  /**
   * The write committed; Redis down must not turn it into an error. (Known gap: if Redis kept its
   * data but refused this one command, the old form lives until POST_CACHE_TTL_SECONDS.)
   */
  const unavailable = (err: unknown) => {
    if (!isBackendUnavailable(err)) throw err;
    log.warn({ err }, 'could not update a post read form');
  };

  async function bases(ids: string[]): Promise<Map<string, PostBase>> {
    const found = new Map<string, PostBase>();
    if (ids.length === 0) return found;
    // Redis down: everything is a miss, read from Postgres (the cache holds only copies).
    const cached = await redis.mget(ids.map(key)).catch((err: unknown) => {
      if (!isBackendUnavailable(err)) throw err;
      log.warn({ err }, 'post read forms unavailable: reading Postgres');
      return null;
    });
    const missing: string[] = [];
    ids.forEach((id, i) => {
      const s = cached?.[i];
      if (s) found.set(id, fromJson(s));
      else missing.push(id);
    });
    if (missing.length === 0) return found;
    const rows = await posts.bases(missing);
    for (const row of rows) found.set(row.id, row);
    if (rows.length && cached) {
      const pipe = redis.pipeline();
      for (const row of rows) pipe.set(key(row.id), toJson(row), 'EX', ttlSeconds, 'NX');
      await pipe.exec().catch((err: unknown) => log.warn({ err }, 'could not store post read forms'));
    }
    return found;
  }

  return {
    bases,

    /** Views of these posts for a viewer, newest first: MGET of the read forms and one statement for the rest. */
    async views(ids: string[], viewerId: string, known?: PostViewerRow[]): Promise<PostView[]> {
      if (ids.length === 0) return [];
      const [base, rows] = await Promise.all([bases(ids), known ?? posts.viewerRows(ids, viewerId)]);
      const out: PostView[] = [];
      for (const r of rows) {
        const b = base.get(r.id);
        if (b) out.push({ ...b, ...r });
      }
      return out;
    },

    /** After an edit commits: the new read form, overwriting any older one. */
    async refresh(postId: string): Promise<void> {
      const [row] = await posts.bases([postId]);
      await (row ? redis.set(key(postId), toJson(row), 'EX', ttlSeconds) : redis.del(key(postId))).catch(unavailable);
    },

    /** After a delete commits (and on post.deleted). Lists never show a deleted post anyway: its row is gone. */
    async drop(postId: string): Promise<void> {
      await redis.del(key(postId)).catch(unavailable);
    },
  };
}

export type PostCache = ReturnType<typeof createPostCache>;
