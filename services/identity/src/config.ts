import { commonConfig, env, loadConfig } from '@shutter/kit';
import { z } from 'zod';

export const identityConfigShape = {
  ...commonConfig,
  GRPC_PORT: env.port(50051),
  METRICS_PORT: env.port(9101),
  /** social-graph, whose edge snapshot the profile replica backfills from once (no request calls it). */
  SOCIAL_GRAPH_ADDR: env.str('127.0.0.1:50052'),
  /** content, whose post snapshot the post-count replica backfills from once (no request calls it). */
  CONTENT_ADDR: env.str('127.0.0.1:50053'),
  /** Ed25519 private key, PKCS#8 PEM. Unset: a key is generated once into JWT_KEY_FILE (development). */
  JWT_PRIVATE_KEY: env.optionalStr(),
  JWT_KEY_FILE: env.str('.data/identity/jwt-ed25519.pem'),
  ACCESS_TOKEN_TTL: env.int(900),
  REFRESH_TOKEN_TTL: env.int(30 * 24 * 3600),
  /** Password checks per (account, client address) per window; then 429 until the window ends. */
  LOGIN_MAX_ATTEMPTS: env.int(5),
  LOGIN_WINDOW_SECONDS: env.int(900),
  /** Failed password checks per client address (any account) per window. */
  LOGIN_ADDRESS_MAX_ATTEMPTS: env.int(100),
  LOGIN_ADDRESS_WINDOW_SECONDS: env.int(86_400),
  /** How often the revocation keys in Redis are rewritten from Postgres (@shutter/contracts). */
  REVOCATION_SYNC_MS: env.int(30_000),
  /** How often identity checks that Redis still holds them (a restart that lost them is repaired within this). */
  REVOCATION_CHECK_MS: env.int(1000),
  ADMIN_EMAIL: env.optionalStr(),
  ADMIN_PASSWORD: env.optionalStr(),
  ADMIN_USERNAME: z.string().default('admin'),
};

export type IdentityConfig = Readonly<z.infer<z.ZodObject<typeof identityConfigShape>>>;

export const loadIdentityConfig = (e: NodeJS.ProcessEnv = process.env): IdentityConfig => loadConfig(identityConfigShape, e);
