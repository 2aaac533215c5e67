import { createHash, createHmac } from 'node:crypto';

export interface SigningCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface UrlSignerOptions {
  /** S3 endpoint (`http://127.0.0.1:9000`); unset: AWS S3 in `region`. */
  endpoint?: string;
  region: string;
  bucket: string;
  forcePathStyle: boolean;
  /** Public or CDN base: URLs are `<base>/<key>` and nothing is signed. */
  publicUrl?: string;
  /** Every URL handed out stays valid at least this long. */
  ttlSeconds: number;
  credentials: () => Promise<SigningCredentials>;
  now?: () => number;
}

export interface SignedUrl {
  url: string;
  /** Until then this same URL may be handed out again (it is still valid for ttlSeconds). */
  reusableUntil: Date;
}

/**
 * Signing time is rounded down to this window and the URL lives ttl + window: every URL stays
 * valid for at least ttl, and one key has one URL per window, so clients' caches hit.
 */
export const SIGNING_WINDOW_SECONDS = 900;

/** A public base's URLs never change: callers may keep them this long. */
const PUBLIC_REUSE_MS = 24 * 3600 * 1000;

/** Signed URLs kept per key (about 0.5 KB each): a feed page's images are mostly the same posts'. */
const MAX_CACHED_URLS = 20_000;
/**
 * Credentials are asked for at most this often (a page signs dozens of URLs): renewed ones are
 * used from then on. The SDK renews them minutes before they expire, so the old ones still work.
 */
export const CREDENTIALS_REUSE_MS = 1000;

/**
 * Download URLs for stored keys: `S3_PUBLIC_URL/<key>`, or presigned GETs (AWS Signature V4,
 * query form). Signed here with node:crypto (a few µs) rather than with the SDK's presigner
 * (~0.3–1.5 ms each): a page of posts holds up to a thousand images. A key's URL is the same for
 * a whole window, so it is signed once per window and credentials (renewed ones sign anew); the
 * query, the same for every key, once per window too. Cost per cached URL: a Map look-up.
 */
export function createUrlSigner(opts: UrlSignerOptions) {
  const now = opts.now ?? Date.now;
  const base = objectBase(opts);
  const expires = opts.ttlSeconds + SIGNING_WINDOW_SECONDS;
  /** What every URL of one window and one set of credentials shares. */
  let scope: { windowStart: number; creds: SigningCredentials; amzDate: string; scope: string; query: string; key: Buffer; reusableUntil: Date } | undefined;
  const signed = new Map<string, { windowStart: number; creds: SigningCredentials; url: SignedUrl }>();
  let current: { creds: SigningCredentials; until: number } | undefined;
  async function credentials(t: number): Promise<SigningCredentials> {
    if (current && t < current.until) return current.creds;
    const creds = await opts.credentials();
    current = { creds, until: t + CREDENTIALS_REUSE_MS };
    return creds;
  }

  function scopeOf(windowStart: number, creds: SigningCredentials) {
    if (scope?.windowStart === windowStart && sameCredentials(scope.creds, creds)) return scope;
    const amzDate = new Date(windowStart * 1000)
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d{3}/, '');
    const scopeDate = amzDate.slice(0, 8);
    const credentialScope = `${scopeDate}/${opts.region}/s3/aws4_request`;
    const params: Array<[string, string]> = [
      ['X-Amz-Algorithm', 'AWS4-HMAC-SHA256'],
      ['X-Amz-Content-Sha256', 'UNSIGNED-PAYLOAD'],
      ['X-Amz-Credential', `${creds.accessKeyId}/${credentialScope}`],
      ['X-Amz-Date', amzDate],
      ['X-Amz-Expires', String(expires)],
      ...(creds.sessionToken ? ([['X-Amz-Security-Token', creds.sessionToken]] as Array<[string, string]>) : []),
      ['X-Amz-SignedHeaders', 'host'],
    ];
    const query = params
      .map(([k, v]) => [encodeRfc3986(k), encodeRfc3986(v)] as const)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${k}=${v}`)
      .join('&');
    const kDate = hmac(`AWS4${creds.secretAccessKey}`, scopeDate);
    const key = hmac(hmac(hmac(kDate, opts.region), 's3'), 'aws4_request');
    scope = { windowStart, creds, amzDate, scope: credentialScope, query, key, reusableUntil: new Date((windowStart + SIGNING_WINDOW_SECONDS) * 1000) };
    return scope;
  }

  return {
    async sign(key: string): Promise<SignedUrl> {
      if (opts.publicUrl) return { url: `${opts.publicUrl.replace(/\/+$/, '')}/${encodePath(key)}`, reusableUntil: new Date(now() + PUBLIC_REUSE_MS) };
      const t = now();
      const windowStart = Math.floor(t / 1000 / SIGNING_WINDOW_SECONDS) * SIGNING_WINDOW_SECONDS;
      const creds = await credentials(t);
      const hit = signed.get(key);
      if (hit && hit.windowStart === windowStart && sameCredentials(hit.creds, creds)) return hit.url;
      const s = scopeOf(windowStart, creds);
      const path = `${base.path}/${encodePath(key)}`;
      const canonicalRequest = `GET\n${path}\n${s.query}\nhost:${base.host}\n\nhost\nUNSIGNED-PAYLOAD`;
      const stringToSign = `AWS4-HMAC-SHA256\n${s.amzDate}\n${s.scope}\n${sha256Hex(canonicalRequest)}`;
      const signature = createHmac('sha256', s.key).update(stringToSign).digest('hex');
      const url: SignedUrl = { url: `${base.origin}${path}?${s.query}&X-Amz-Signature=${signature}`, reusableUntil: s.reusableUntil };
      if (hit) signed.delete(key);
      else if (signed.size >= MAX_CACHED_URLS) signed.delete(signed.keys().next().value as string);
      signed.set(key, { windowStart, creds, url });
      return url;
    },
  };
}

const sameCredentials = (a: SigningCredentials, b: SigningCredentials) =>
  a === b || (a.accessKeyId === b.accessKeyId && a.secretAccessKey === b.secretAccessKey && a.sessionToken === b.sessionToken);

export type UrlSigner = ReturnType<typeof createUrlSigner>;

/** Where objects of the bucket live: origin, Host header and the path prefix before the key. */
function objectBase(opts: Pick<UrlSignerOptions, 'endpoint' | 'region' | 'bucket' | 'forcePathStyle'>) {
  const endpoint = new URL(opts.endpoint ?? `https://s3.${opts.region}.amazonaws.com`);
  const prefix = endpoint.pathname.replace(/\/+$/, '');
  if (opts.forcePathStyle) return { origin: endpoint.origin, host: endpoint.host, path: `${prefix}/${encodeRfc3986(opts.bucket)}` };
  const host = `${opts.bucket}.${endpoint.host}`;
  return { origin: `${endpoint.protocol}//${host}`, host, path: prefix };
}

/** S3 object keys: each path segment URI-encoded, slashes kept. */
const encodePath = (key: string) => key.split('/').map(encodeRfc3986).join('/');

const encodeRfc3986 = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
const sha256Hex = (s: string) => createHash('sha256').update(s).digest('hex');
