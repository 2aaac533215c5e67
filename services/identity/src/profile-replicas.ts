import { decodeEvent, EDGE_STATUS_VERSION, type EdgeStatus, type EventType } from '@shutter/contracts';
import type { content, socialgraph } from '@shutter/proto';
import { snapshotSource, type Client, type Logger, type Metrics, type Redis } from '@shutter/kit';
import { createEventConsumer, defineReplica, type Knex, type ReplicaBackfill } from '@shutter/kit/db';
import type { UserRow } from './users-repository';

/** Consumer group of identity on the "events" stream (its idempotency namespace too). */
export const CONSUMER_GROUP = 'identity';

export const CONSUMED_TYPES = [
  'follow.requested',
  'follow.created',
  'follow.accepted',
  'follow.removed',
  'post.created',
  'post.deleted',
] as const satisfies readonly EventType[];

export const edgesReplica = defineReplica({ table: 'follow_edges', key: ['follows_id'], fields: ['follower_id', 'followee_id', 'status'] });

/** A post is created live, then deleted (a tombstone, terminal): its version, as content's snapshot gives it. */
const POST_VERSION = { live: 1, deleted: 2 };
export const postsReplica = defineReplica({ table: 'author_posts', key: ['post_id'], fields: ['author_id', 'deleted'] });

/** One post's replicated state, as its event or content's snapshot carries it. */
export interface AuthorPost {
  postId: string;
  authorId: string;
  deleted: boolean;
}

/** One edge's whole state, as its event or social-graph's snapshot carries it. */
export interface Edge {
  followsId: string;
  followerId: string;
  followeeId: string;
  status: 'pending' | 'agree' | 'removed';
}

/** What a profile shows beside the user: the viewer's relationship and the user's counts. */
export interface ProfileFacts {
  followStatus: 'none' | 'pending' | 'agree';
  followsId: string;
  followerCount: number;
  followingCount: number;
  postCount: number;
}

/**
 * Identity's replicas for profile pages (GetProfile answers from them, calling no one):
 *
 * - `follow_edges`: social-graph's edges by edge id (kit defineReplica, version = status rank). An
 *   edge's status only moves forward (pending → agree → removed; a re-follow is a new edge id,
 *   UUIDv7, so newer), and a pair's relationship is its newest edge. Applying an edge event is
 *   therefore commutative and idempotent: duplicates, reordering, retries and replays all converge
 *   to the owner's state. Backfilled once from social-graph's edge snapshot (server.ts) through
 *   the same `applyEdges`, a chunk at a time, so snapshot rows and events converge too.
 * - `follow_counts`: agree counts, adjusted in the same transaction whenever a pair's effective
 *   agree-ness changes (the pair is locked while it is decided; see `applyEdges`).
 * - `author_posts` / `post_counts`: content's post ids per author (kit defineReplica, version
 *   live 1, deleted 2), a deleted post kept as a tombstone, the count moved only by a real change
 *   of a row's liveness (see `applyPosts`). Backfilled once from content's post snapshot.
 */
export function createProfileReplicas(deps: { db: Knex }) {
  const { db } = deps;

  /**
   * Applies edges (one event's, or a backfilled snapshot chunk) in `trx`, in five statements
   * whatever their number: the pairs' locks, their agree-ness before, the replica (kit applyMany),
   * their agree-ness after, and the counts moved by the pairs whose agree-ness changed.
   *
   * Why counts move by deltas, summed per user in one statement, rather than being recomputed for
   * the touched users: a recount costs each touched user's whole degree on every chunk (a user
   * with 100 000 followers is in nearly every chunk of a big graph), and it is not safe against
   * concurrent events unless it locks the count rows before reading the edges (an event's +1
   * committed after a recount's read and before its write would be overwritten). Deltas stay
   * correct under concurrency because each pair's change is decided under the pair's lock, the
   * same lock whether the edge came as an event or in a chunk (taken in key order, so chunks never
   * deadlock): a second transaction on the pair waits, then sees the first's edges, so its before
   * equals the first's after and every change of a pair's agree-ness is counted exactly once.
   * Increments of one user's row by different pairs commute (`count + delta` on the row as
   * committed), and rows are written in user id order, so two writers never wait in a cycle.
   */
  async function applyEdges(trx: Knex, edges: Edge[]): Promise<void> {
    if (edges.length === 0) return;
    const pairKeys = [...new Set(edges.map((e) => `${e.followerId}:${e.followeeId}`))].sort();
    await trx.raw("SELECT pg_advisory_xact_lock(hashtextextended('identity.follow_edges:' || p, 0)) FROM (SELECT unnest(?::text[]) AS p ORDER BY 1) s", [
      pairKeys,
    ]);
    const pairs = JSON.stringify(pairKeys.map((k) => ({ follower_id: k.slice(0, k.indexOf(':')), followee_id: k.slice(k.indexOf(':') + 1) })));
    const before = await agreeOf(trx, pairs);
    await edgesReplica.applyMany(
      trx,
      edges.map((e) => ({
        follows_id: e.followsId,
        follower_id: e.followerId,
        followee_id: e.followeeId,
        status: e.status,
        version: EDGE_STATUS_VERSION[e.status as EdgeStatus],
      })),
    );
    const after = await agreeOf(trx, pairs);
    const deltas = new Map<string, { followers: number; following: number }>();
    const add = (user: string, followers: number, following: number) => {
      const d = deltas.get(user) ?? { followers: 0, following: 0 };
      deltas.set(user, { followers: d.followers + followers, following: d.following + following });
    };
    for (const [k, agree] of after) {
      if (before.get(k) === agree) continue;
      const d = agree ? 1 : -1;
      const [follower, followee] = k.split(':') as [string, string];
      add(followee, d, 0);
      add(follower, 0, d);
    }
    const rows = [...deltas]
      .filter(([, d]) => d.followers || d.following)
      .map(([user_id, d]) => ({ user_id, follower_count: d.followers, following_count: d.following }));
    if (rows.length === 0) return;
    await trx.raw(
      `INSERT INTO follow_counts (user_id, follower_count, following_count)
         SELECT * FROM json_to_recordset(?::json) AS c(user_id uuid, follower_count int, following_count int) ORDER BY user_id
         ON CONFLICT (user_id) DO UPDATE SET follower_count = follow_counts.follower_count + EXCLUDED.follower_count,
                                             following_count = follow_counts.following_count + EXCLUDED.following_count`,
      [JSON.stringify(rows)],
    );
  }

  /**
   * Applies posts (one event's, or a backfilled snapshot chunk) in `trx`, in three statements
   * whatever their number: the posts' locks, the replica (kit applyMany, which answers each applied
   * row with the row it replaced), and the counts moved by the posts whose liveness changed.
   * Counts move by summed deltas for the reasons given at `applyEdges`, under the same discipline:
   * each post's change is decided under the post's advisory lock (taken in key order, the same lock
   * for an event and a chunk), so a second transaction on a post (a duplicate, or its deletion
   * racing its creation) waits and then sees the first's row as its `before`, a post not yet held
   * included (a row lock alone cannot cover a row that does not exist yet); every change of a
   * post's liveness is counted exactly once, and count rows are written in user id order.
   */
  async function applyPosts(trx: Knex, posts: AuthorPost[]): Promise<void> {
    if (posts.length === 0) return;
    const ids = [...new Set(posts.map((p) => p.postId))].sort();
    await trx.raw("SELECT pg_advisory_xact_lock(hashtextextended('identity.author_posts:' || p, 0)) FROM (SELECT unnest(?::text[]) AS p ORDER BY 1) s", [ids]);
    const applied = await postsReplica.applyMany(
      trx,
      posts.map((p) => ({ post_id: p.postId, author_id: p.authorId, deleted: p.deleted, version: p.deleted ? POST_VERSION.deleted : POST_VERSION.live })),
    );
    const deltas = new Map<string, number>();
    for (const { row, before } of applied) {
      const d = (row.deleted ? 0 : 1) - (before && !before.deleted ? 1 : 0);
      if (d) deltas.set(row.author_id as string, (deltas.get(row.author_id as string) ?? 0) + d);
    }
    const rows = [...deltas].filter(([, d]) => d).map(([user_id, post_count]) => ({ user_id, post_count }));
    if (rows.length === 0) return;
    await trx.raw(
      `INSERT INTO post_counts (user_id, post_count)
         SELECT * FROM json_to_recordset(?::json) AS c(user_id uuid, post_count int) ORDER BY user_id
         ON CONFLICT (user_id) DO UPDATE SET post_count = post_counts.post_count + EXCLUDED.post_count`,
      [JSON.stringify(rows)],
    );
  }

  /** Whether each pair's newest edge is agree (the pairs as JSON `[{follower_id, followee_id}]`). */
  const agreeOf = async (trx: Knex, pairs: string): Promise<Map<string, boolean>> => {
    const res = await trx.raw(
      `SELECT p.follower_id, p.followee_id,
              (SELECT e.status FROM follow_edges e WHERE e.follower_id = p.follower_id AND e.followee_id = p.followee_id
                ORDER BY e.follows_id DESC LIMIT 1) = 'agree' AS agree
         FROM json_to_recordset(?::json) AS p(follower_id uuid, followee_id uuid)`,
      [pairs],
    );
    return new Map(
      (res.rows as Array<{ follower_id: string; followee_id: string; agree: boolean | null }>).map((r) => [
        `${r.follower_id}:${r.followee_id}`,
        r.agree === true,
      ]),
    );
  };

  return {
    /** Applies one edge event (whole state: edge id, pair, status) in `trx`. */
    applyEdge: (trx: Knex, e: Edge) => applyEdges(trx, [e]),
    applyEdges,
    /** post.created (live) / post.deleted (tombstone) in `trx`. */
    applyPost: (trx: Knex, p: AuthorPost) => applyPosts(trx, [p]),
    applyPosts,

    /**
     * The user's row with the viewer's relationship to them and their counts: one statement (a
     * profile is a hot read: two statements cost it ~30 % of its rate against `/me`'s one).
     */
    async profile(viewerId: string, userId: string): Promise<{ user: UserRow; facts: ProfileFacts } | undefined> {
      const res = await db.raw(
        `SELECT u.*,
                (SELECT json_build_object('id', e.follows_id, 'status', e.status) FROM follow_edges e
                  WHERE e.follower_id = :viewer AND e.followee_id = u.id ORDER BY e.follows_id DESC LIMIT 1) AS profile_edge,
                COALESCE((SELECT follower_count FROM follow_counts WHERE user_id = u.id), 0) AS profile_follower_count,
                COALESCE((SELECT following_count FROM follow_counts WHERE user_id = u.id), 0) AS profile_following_count,
                COALESCE((SELECT post_count FROM post_counts WHERE user_id = u.id), 0) AS profile_post_count
           FROM users u WHERE u.id = :user`,
        { viewer: viewerId, user: userId },
      );
      const row = res.rows[0] as
        | (UserRow & {
            profile_edge: { id: string; status: string } | null;
            profile_follower_count: number;
            profile_following_count: number;
            profile_post_count: number;
          })
        | undefined;
      if (!row) return undefined;
      const { profile_edge: edge, profile_follower_count: followers, profile_following_count: following, profile_post_count: posts, ...user } = row;
      const live = edge && edge.status !== 'removed' ? edge : null;
      return {
        user,
        facts: {
          followStatus: live ? (live.status as 'pending' | 'agree') : 'none',
          followsId: live?.id ?? '',
          followerCount: Number(followers),
          followingCount: Number(following),
          postCount: Number(posts),
        },
      };
    },
  };
}

export type ProfileReplicas = ReturnType<typeof createProfileReplicas>;

/** Feeds the replicas from the event stream. */
export function createProfileReplicaConsumer(deps: { db: Knex; redis: Redis; log: Logger; replicas: ProfileReplicas; stream?: string; metrics?: Metrics }) {
  const { replicas } = deps;
  return createEventConsumer({
    db: deps.db,
    redis: deps.redis,
    log: deps.log,
    stream: deps.stream,
    metrics: deps.metrics,
    group: CONSUMER_GROUP,
    types: CONSUMED_TYPES,
    async handle(event, trx) {
      if (event.type !== 'post.created' && event.type !== 'post.deleted') {
        const m = decodeEvent(event.type, event.payload);
        const status = event.type === 'follow.removed' ? 'removed' : m.status === 'agree' ? 'agree' : 'pending';
        if (!(status in EDGE_STATUS_VERSION)) return;
        await replicas.applyEdge(trx, { followsId: m.followsId, followerId: m.followerId, followeeId: m.followeeId, status });
        return;
      }
      const m = decodeEvent(event.type, event.payload);
      await replicas.applyPost(trx, { postId: m.postId, authorId: m.authorId, deleted: event.type === 'post.deleted' });
    },
  });
}

/**
 * The edge replica's one-time backfill from social-graph's edge snapshot (kit
 * createReplicaBackfill): each chunk of edges through `applyEdges`, counts included, as their events would.
 */
export function createEdgeBackfill(deps: {
  db: Knex;
  log: Logger;
  replicas: ProfileReplicas;
  graph: Client<typeof socialgraph.SocialGraphServiceService>;
  retryMs?: number;
}): ReplicaBackfill {
  const { graph, replicas } = deps;
  return edgesReplica.backfillFrom<socialgraph.EdgeState>({
    db: deps.db,
    log: deps.log,
    retryMs: deps.retryMs,
    snapshot: snapshotSource(graph, 'streamEdgeSnapshot', (page) => page.edges),
    applyMany: (trx, edges) =>
      replicas.applyEdges(
        trx,
        edges.map((e) => ({ followsId: e.followsId, followerId: e.followerId, followeeId: e.followeeId, status: e.status === 'agree' ? 'agree' : 'pending' })),
      ),
  });
}

/**
 * The post replica's one-time backfill from content's post snapshot (kit createReplicaBackfill):
 * each chunk of posts through `applyPosts`, counts included, as their events would.
 */
export function createPostBackfill(deps: {
  db: Knex;
  log: Logger;
  replicas: ProfileReplicas;
  content: Client<typeof content.ContentServiceService>;
  retryMs?: number;
}): ReplicaBackfill {
  const { replicas } = deps;
  return postsReplica.backfillFrom<content.PostState>({
    db: deps.db,
    log: deps.log,
    retryMs: deps.retryMs,
    snapshot: snapshotSource(deps.content, 'streamPostSnapshot', (page) => page.posts),
    applyMany: (trx, posts) =>
      replicas.applyPosts(
        trx,
        posts.map((p) => ({ postId: p.postId, authorId: p.authorId, deleted: p.deleted })),
      ),
  });
}
