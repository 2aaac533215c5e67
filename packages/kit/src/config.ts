import { z } from 'zod';
import * as dotenv from 'dotenv';
import * as path from 'node:path';
import * as fs from 'node:fs';

/** Loads `.env` from the repository root (process variables win over it). Called once per process. */
export function loadDotEnv(): void {
  let dir = process.cwd();
  for (let i = 0; i < 5; i++) {
    const file = path.join(dir, '.env');
    if (fs.existsSync(file)) {
      dotenv.config({ path: file, override: false, quiet: true });
      return;
    }
    dir = path.dirname(dir);
  }
}

/**
 * Validates the environment once at boot into a typed, frozen object. A missing or bad value
 * stops the process with a message naming the variable.
 */
export function loadConfig<S extends z.ZodRawShape>(shape: S, env: NodeJS.ProcessEnv = process.env): Readonly<z.infer<z.ZodObject<S>>> {
  const result = z.object(shape).safeParse(env);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    const err = new Error(`invalid configuration:\n${lines.join('\n')}`);
    err.name = 'ConfigError';
    throw err;
  }
  return Object.freeze(result.data) as Readonly<z.infer<z.ZodObject<S>>>;
}

/** Env helpers: every variable is a string; these turn them into typed values with defaults. */
export const env = {
  str: (def?: string) => (def === undefined ? z.string().min(1) : z.string().min(1).default(def)),
  optionalStr: () =>
    z
      .string()
      .optional()
      .transform((v) => (v === '' ? undefined : v)),
  int: (def: number) => z.coerce.number().int().default(def),
  port: (def: number) => z.coerce.number().int().min(0).max(65535).default(def),
  bool: (def: boolean) =>
    z
      .enum(['true', 'false', '1', '0'])
      .default(def ? 'true' : 'false')
      .transform((v) => v === 'true' || v === '1'),
  url: (def?: string) => (def === undefined ? z.string().url() : z.string().url().default(def)),
  logLevel: () => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** `true`, `false` or a hop count: how many proxies' X-Forwarded-For to trust. */
  hops: (def: number) =>
    z
      .string()
      .default(String(def))
      .transform((v, ctx) => {
        if (v === 'true') return 1;
        if (v === 'false' || v === '') return 0;
        const n = Number(v);
        if (Number.isInteger(n) && n >= 0) return n;
        ctx.addIssue({ code: 'custom', message: 'must be true, false or a number of proxies' });
        return z.NEVER;
      }),
};

/**
 * Internal call authentication (grpc/internal-auth.ts `loadInternalKeys`): per-process Ed25519
 * keys, or keys derived from one shared secret given directly or kept in a file made on first start.
 */
export const internalAuthConfig = {
  INTERNAL_AUTH_SECRET: env.optionalStr(),
  INTERNAL_AUTH_SECRET_FILE: env.str('.data/internal-auth.secret'),
  INTERNAL_AUTH_PRIVATE_KEY: env.optionalStr(),
  INTERNAL_AUTH_PUBLIC_KEYS: env.optionalStr(),
};

/** Variables every service reads. */
export const commonConfig = {
  ...internalAuthConfig,
  LOG_LEVEL: env.logLevel(),
  /** Address servers bind to: 0.0.0.0 in containers, 127.0.0.1 for `make dev`. */
  HOST: env.str('0.0.0.0'),
  DATABASE_URL: env.str('postgres://postgres@127.0.0.1:5432/shutter'),
  DATABASE_POOL_MAX: env.int(10),
  REDIS_URL: env.str('redis://127.0.0.1:6379'),
  REDIS_KEY_PREFIX: z.string().default(''),
  METRICS_PORT: env.port(0),
  SHUTDOWN_TIMEOUT_MS: env.int(10000),
};
