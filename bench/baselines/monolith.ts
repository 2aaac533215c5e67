/**
 * Baseline: the home feed page as a one-process Fastify + pg monolith would serve it, with ONE SQL
 * statement over the services' tables (it reads their schemas directly: a measuring stick, not part
 * of Shutter). Same JSON as docs/api.md's `GET /api/posts` (page size `limit`, default 10), same bearer
 * tokens (verified with jose against the gateway's JWKS, each verified token cached until it
 * expires, as the gateway does), image URLs signed by content's own signer.
 *
 * The statement, as EXPLAIN ANALYZE shows it on the bench data set: the followees come from
 * graph.follows' pair key, the page from a backward scan of posts' primary key (many followees) or
 * posts_author_id (few), counts and is_liked from likes_pkey (whose prefix is likes(post_id)) and
 * comments_post_id, images from post_images' key; no index beyond the services' own is needed.
 */
import Fastify from 'fastify';
import { Pool } from 'pg';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { createUrlSigner } from '../../services/content/src/storage/url-signer';

export const FEED_SQL = `
SELECT p.id, p.author_id, u.username, p.content, p.created_at, p.updated_at,
  (SELECT count(*) FROM content.likes l WHERE l.post_id = p.id)::int AS like_count,
  (SELECT count(*) FROM content.comments c WHERE c.post_id = p.id)::int AS comment_count,
  (SELECT count(*) FROM content.likes l WHERE l.post_id = p.id AND l.user_id = $1) > 0 AS is_liked,
  COALESCE((SELECT json_agg(json_build_object('image_id', i.media_id, 'key', i.key, 'width', i.width, 'height', i.height, 'order', i.position, 'blurhash', i.blurhash, 'variants', i.variants) ORDER BY i.position)
              FROM content.post_images i WHERE i.post_id = p.id), '[]') AS images
FROM content.posts p JOIN identity.users u ON u.id = p.author_id AND u.status = 'enabled'
WHERE p.author_id IN (SELECT $1::uuid UNION ALL SELECT f.followee_id FROM graph.follows f WHERE f.follower_id = $1 AND f.status = 'agree')
ORDER BY p.id DESC
LIMIT $2`;

interface Row {
  id: string;
  author_id: string;
  username: string;
  content: string;
  created_at: Date;
  updated_at: Date;
  like_count: number;
  comment_count: number;
  is_liked: boolean;
  images: Array<{
    image_id: string;
    key: string;
    width: number;
    height: number;
    order: number;
    blurhash: string | null;
    variants: Array<{ key: string; width: number; height: number }>;
  }>;
}

async function main() {
  const e = process.env;
  const pool = new Pool({ connectionString: e.DATABASE_URL, max: Number(e.DATABASE_POOL_MAX ?? 10) });
  // An idle connection the server ends (a restart, pg_terminate_backend) is dropped and replaced.
  pool.on('error', (err) => console.error(`monolith: idle Postgres connection lost: ${err.message}`));
  const jwks = (await (await fetch(e.JWKS_URL!)).json()) as JSONWebKeySet;
  const keySet = createLocalJWKSet(jwks);
  const verified = new Map<string, { sub: string; exp: number }>();
  const signer = createUrlSigner({
    endpoint: e.S3_ENDPOINT,
    region: e.S3_REGION ?? 'us-east-1',
    bucket: e.S3_BUCKET ?? 'shutter-media',
    forcePathStyle: e.S3_FORCE_PATH_STYLE === 'true',
    ttlSeconds: 3600,
    credentials: async () => ({ accessKeyId: e.S3_ACCESS_KEY_ID ?? '', secretAccessKey: e.S3_SECRET_ACCESS_KEY ?? '' }),
  });

  const app = Fastify({ logger: false });
  app.get<{ Querystring: { limit?: string } }>('/api/posts', async (req, reply) => {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!token) return reply.code(401).send({ detail: 'Not authenticated', code: 'not_authenticated' });
    let caller = verified.get(token);
    if (!caller || caller.exp * 1000 < Date.now()) {
      try {
        const { payload } = await jwtVerify(token, keySet, { algorithms: ['EdDSA'] });
        caller = { sub: String(payload.sub), exp: Number(payload.exp) };
        verified.set(token, caller);
      } catch {
        return reply.code(401).send({ detail: 'Could not validate credentials', code: 'invalid_token' });
      }
    }
    const limit = Math.min(Math.max(Number(req.query.limit ?? 10) || 10, 1), 100);
    const { rows } = await pool.query<Row>(FEED_SQL, [caller.sub, limit + 1]);
    const page = rows.slice(0, limit);
    const posts = await Promise.all(
      page.map(async (r) => ({
        post_id: r.id,
        user_id: r.author_id,
        username: r.username,
        content: r.content,
        images: await Promise.all(
          r.images.map(async (i) => ({
            image_id: i.image_id,
            url: (await signer.sign(i.key)).url,
            width: i.width,
            height: i.height,
            order: i.order,
            blurhash: i.blurhash ?? '',
            variants: await Promise.all(i.variants.map(async (v) => ({ url: (await signer.sign(v.key)).url, width: v.width, height: v.height }))),
          })),
        ),
        like_count: r.like_count,
        comment_count: r.comment_count,
        is_liked: r.is_liked,
        created_at: r.created_at.toISOString(),
        updated_at: r.updated_at.toISOString(),
      })),
    );
    const hasMore = rows.length > limit;
    return { data: { posts, pagination: { limit, cursor_post_id: hasMore ? page[page.length - 1]!.id : null, has_more: hasMore } }, message: 'ok' };
  });
  const addr = await app.listen({ host: '127.0.0.1', port: Number(e.PORT ?? 0) });
  console.log(`listening ${addr}`);
  for (const s of ['SIGINT', 'SIGTERM'] as const)
    process.on(
      s,
      () =>
        void app
          .close()
          .then(() => pool.end())
          .then(() => process.exit(0)),
    );
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
