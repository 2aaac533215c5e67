import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { commonConfig, env, loadConfig } from '@shutter/kit';
import { z } from 'zod';

/** SigV4 presigned URLs live at most 7 days; the signer adds up to 15 minutes (see url-signer.ts). */
const MAX_PRESIGN_TTL = 7 * 24 * 3600 - 900;

export const contentConfigShape = {
  ...commonConfig,
  GRPC_PORT: env.port(50053),
  METRICS_PORT: env.port(9103),
  IDENTITY_ADDR: env.str('127.0.0.1:50051'),
  SOCIAL_GRAPH_ADDR: env.str('127.0.0.1:50052'),
  /** S3 API endpoint; unset: AWS S3 in S3_REGION. Clients upload to and download from it directly. */
  S3_ENDPOINT: env.optionalStr(),
  S3_REGION: env.str('us-east-1'),
  S3_BUCKET: env.str('shutter-media'),
  /** Unset: the SDK's default credential chain (environment, instance role, …). */
  S3_ACCESS_KEY_ID: env.optionalStr(),
  S3_SECRET_ACCESS_KEY: env.optionalStr(),
  S3_FORCE_PATH_STYLE: env.bool(false),
  /**
   * The S3 endpoint as clients reach it, when it differs from S3_ENDPOINT: upload and image URLs
   * are made for this origin (e.g. the API's own origin, where nginx passes the bucket's path to the
   * store with the Host header unchanged). Unset: S3_ENDPOINT.
   */
  S3_CLIENT_ENDPOINT: env.optionalStr(),
  /** Public or CDN base URL for downloads (`<base>/<key>`); unset: presigned GET URLs. */
  S3_PUBLIC_URL: env.optionalStr(),
  /** Lifetime of presigned image URLs in seconds: at least an hour (docs/api.md). */
  S3_PRESIGN_TTL: z.coerce.number().int().min(3600).max(MAX_PRESIGN_TTL).default(3600),
  /** How long an unused media id stays usable; then the sweeper deletes it and its object. */
  MEDIA_UNUSED_TTL_SECONDS: env.int(24 * 3600),
  /**
   * Images decoded at once (the photo pipeline's pool), each on one libvips thread. Default: the
   * cores less one (a core stays free for every other request), 1 to 2 (each costs up to ~60 MB
   * for a 12–15 MP JPEG, ~150 MB for a 50 MP PNG turned 90°).
   */
  IMAGE_CONCURRENCY: z.coerce
    .number()
    .int()
    .min(1)
    .max(64)
    .default(Math.max(1, Math.min(availableParallelism() - 1, 2))),
  /** Keep each uploaded file (never served) at its media key after processing; default: deleted. */
  MEDIA_KEEP_ORIGINALS: env.bool(false),
  /** Where multipart uploads and direct uploads are spooled while processed (at most 20 MiB per image in flight). */
  MEDIA_TMP_DIR: env.str(join(tmpdir(), 'shutter-content')),
  /** How often unused media and expired idempotency keys are swept. */
  SWEEP_INTERVAL_MS: env.int(5 * 60_000),
  /** Newest post ids kept per home timeline in Redis (`feed:<user>`); older pages read Postgres. */
  FEED_MAX_ITEMS: env.int(800),
  /** Authors with more agree followers than this are not fanned out: merged into feeds at read time. */
  FEED_FANOUT_MAX_FOLLOWERS: env.int(10_000),
  /** Idle lifetime of a timeline; every read refreshes it, a missing one is rebuilt from Postgres. */
  FEED_TTL_SECONDS: env.int(7 * 24 * 3600),
  /** Lifetime of the versioned copies in Redis (post and author forms, viewers' like and followee sets); changes mark them at once. */
  POST_CACHE_TTL_SECONDS: env.int(24 * 3600),
};

export type ContentConfig = Readonly<z.infer<z.ZodObject<typeof contentConfigShape>>>;

export const loadContentConfig = (e: NodeJS.ProcessEnv = process.env): ContentConfig => loadConfig(contentConfigShape, e);
