import { chance, int, nastyValue, pick, plausibleString, NASTY_STRINGS, type Rng } from './values';

/** One operation of the served OpenAPI document, as the generator needs it. */
export interface Operation {
  method: string;
  path: string;
  params: Array<{ in: string; name: string; required: boolean; schema: Schema }>;
  bodies: Record<string, Schema>;
  secured: boolean;
}

type Schema = Record<string, unknown>;

/** What the generator draws ids and tokens from: real ones (the caller's and another user's), and none. */
export interface Pools {
  ids: string[];
  tokens: Array<string | undefined>;
}

export interface FuzzRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  /** For the report: which operation and which kinds of mischief. */
  op: string;
  tags: string[];
}

/** Long-lived or session-ending operations the fuzzer leaves out (see fuzz/README.md). */
const SKIPPED = new Set(['GET /api/events/stream', 'POST /api/users/logout-all']);

/** The operations of an OpenAPI 3 document, `$ref`s resolved. */
export function operationsOf(doc: { paths: Record<string, Record<string, Schema>>; components?: { schemas?: Record<string, Schema> } }): Operation[] {
  const resolve = (s: unknown): Schema => {
    const ref = (s as Schema | undefined)?.$ref;
    if (typeof ref === 'string') return resolve(doc.components?.schemas?.[ref.split('/').pop() ?? '']);
    return (s as Schema) ?? {};
  };
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const key = `${method.toUpperCase()} ${path}`;
      if (SKIPPED.has(key) || !['get', 'post', 'patch', 'delete', 'put'].includes(method)) continue;
      const params = ((op.parameters as Schema[] | undefined) ?? []).map((p) => ({
        in: String(p.in),
        name: String(p.name),
        required: Boolean(p.required),
        schema: resolve(p.schema),
      }));
      const content = ((op.requestBody as Schema | undefined)?.content ?? {}) as Record<string, Schema>;
      const bodies = Object.fromEntries(Object.entries(content).map(([type, c]) => [type, resolve(c.schema)]));
      ops.push({ method: method.toUpperCase(), path, params, bodies, secured: Array.isArray(op.security) && op.security.length > 0 });
    }
  }
  return ops;
}

/** A JSON value for `schema`: mostly plausible, sometimes hostile, fields sometimes missing or extra. */
export function valueFor(rng: Rng, schema: Schema, pools: Pools, tags: string[], depth = 0): unknown {
  if (chance(rng, 0.25)) {
    tags.push('nasty');
    return nastyValue(rng);
  }
  switch (schema.type) {
    case 'object': {
      const props = (schema.properties ?? {}) as Record<string, Schema>;
      const required = new Set((schema.required as string[] | undefined) ?? []);
      const out: Record<string, unknown> = {};
      for (const [k, s] of Object.entries(props)) {
        if (!required.has(k) && chance(rng, 0.4)) continue;
        if (required.has(k) && chance(rng, 0.05)) {
          tags.push('missing');
          continue;
        }
        out[k] = depth > 3 ? null : valueFor(rng, s, pools, tags, depth + 1);
      }
      if (chance(rng, 0.1)) {
        tags.push('extra');
        out[pick(rng, ['role', 'status', 'user_id', 'like_count', 'id', 'unknown_field'])] = nastyValue(rng);
      }
      return out;
    }
    case 'array': {
      const n = chance(rng, 0.1) ? int(rng, 11, 30) : int(rng, 0, 3);
      return Array.from({ length: n }, () => valueFor(rng, (schema.items ?? {}) as Schema, pools, tags, depth + 1));
    }
    case 'integer':
    case 'number': {
      const lo = Number(schema.minimum ?? 1);
      const hi = Number(schema.maximum ?? 100);
      return pick(rng, [lo, lo + 1, Math.min(hi, lo + 5), hi, hi + 1, lo - 1]);
    }
    case 'boolean':
      return chance(rng, 0.5);
    default:
      return plausibleString(rng, schema, pools);
  }
}

/** A value for a path or query parameter, as text (URL-encoded unless the mischief is the encoding). */
function paramText(rng: Rng, p: Operation['params'][number], pools: Pools, tags: string[]): string {
  if (chance(rng, 0.08)) {
    tags.push('raw-encoding');
    return pick(rng, ['%E0%A4%A', '%', '%00', '%ED%A0%80', '%zz', '%FF%FE', '..%2F..%2F', '%2e%2e']);
  }
  const v = valueFor(rng, p.schema, pools, tags);
  const text = typeof v === 'string' ? v : (JSON.stringify(v) ?? '');
  return encodeURIComponent(text.replace(/[\ud800-\udfff]/g, '')).slice(0, 8000);
}

const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
const GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

/** A multipart form, valid or broken in one of the ways clients break them. */
function multipart(rng: Rng, fields: Record<string, unknown>, tags: string[]): { type: string; body: Buffer } {
  const boundary = `fz${Math.floor(rng() * 1e12)}`;
  const parts: Buffer[] = [];
  const field = (name: string | null, value: string) =>
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data${name === null ? '' : `; name="${name}"`}\r\n\r\n${value}\r\n`));
  const file = (name: string, bytes: Buffer, type: string) =>
    parts.push(
      Buffer.concat([
        Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="f.png"\r\nContent-Type: ${type}\r\n\r\n`),
        bytes,
        Buffer.from('\r\n'),
      ]),
    );
  for (const [k, v] of Object.entries(fields)) field(k, typeof v === 'string' ? v : (JSON.stringify(v) ?? ''));
  const images = chance(rng, 0.1) ? 11 : int(rng, 0, 2);
  for (let i = 0; i < images; i++) {
    const kind = pick(rng, ['png', 'png', 'gif', 'text', 'random', 'truncated-png']);
    const bytes =
      kind === 'png'
        ? PNG
        : kind === 'gif'
          ? GIF
          : kind === 'text'
            ? Buffer.from('hello')
            : kind === 'random'
              ? Buffer.from(Array.from({ length: 64 }, () => int(rng, 0, 255)))
              : PNG.subarray(0, 20);
    file(pick(rng, ['images', 'images', 'profile_image', 'other']), bytes, pick(rng, ['image/png', 'image/gif', 'text/plain', 'application/octet-stream']));
    if (kind !== 'png') tags.push(`file-${kind}`);
  }
  const breakage = chance(rng, 0.3) ? pick(rng, ['no-boundary', 'truncated', 'nameless', 'no-end', 'garbage']) : null;
  if (breakage === 'nameless') field(null, 'no name');
  let body = Buffer.concat([...parts, Buffer.from(breakage === 'no-end' ? '' : `--${boundary}--\r\n`)]);
  if (breakage === 'truncated') body = body.subarray(0, Math.max(1, Math.floor(body.length * rng())));
  if (breakage === 'garbage') body = Buffer.from('this is not multipart');
  if (breakage) tags.push(`multipart-${breakage}`);
  return { type: breakage === 'no-boundary' ? 'multipart/form-data' : `multipart/form-data; boundary=${boundary}`, body };
}

/** One generated request for `op`. */
export function generate(rng: Rng, op: Operation, pools: Pools, base: string): FuzzRequest {
  const tags: string[] = [];
  const headers: Record<string, string> = {};
  const token = pick(rng, pools.tokens);
  if (token) headers.authorization = `Bearer ${token}`;
  else if (chance(rng, 0.3)) {
    headers.authorization = pick(rng, ['Bearer ', 'Bearer x.y.z', 'Basic dXNlcjpwYXNz', 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.']);
    tags.push('bad-token');
  }
  let path = op.path;
  const query: string[] = [];
  for (const p of op.params) {
    if (p.in === 'path') path = path.replace(`{${p.name}}`, paramText(rng, p, pools, tags));
    else if (p.in === 'query' && (p.required ? !chance(rng, 0.05) : chance(rng, 0.5))) query.push(`${p.name}=${paramText(rng, p, pools, tags)}`);
    else if (p.in === 'header' && chance(rng, 0.3))
      headers[p.name] = pick(rng, ['key-1', 'k'.repeat(300), ' ', 'ключ'.replace(/[^\x20-\x7e]/g, '?'), `k${int(rng, 0, 5)}`]);
  }
  if (chance(rng, 0.1)) query.push(pick(rng, ['_t=123', 'page=1&page=2', 'search[]=x', 'limit=1e999', 'x=%00', 'search=%']));
  if (chance(rng, 0.05)) path = pick(rng, [path + '/', path.replace(/^\/api/, '/api//'), path.toUpperCase()]);

  let body: string | Buffer | undefined;
  const types = Object.keys(op.bodies);
  const r = rng();
  if (types.length && r < 0.7) {
    const schema = op.bodies['application/json'] ?? op.bodies[types[0]!]!;
    const value = valueFor(rng, schema, pools, tags);
    if (types.includes('multipart/form-data') || (op.method !== 'GET' && chance(rng, 0.15))) {
      if (chance(rng, 0.5)) {
        const form = multipart(rng, typeof value === 'object' && value ? (value as Record<string, unknown>) : {}, tags);
        headers['content-type'] = form.type;
        body = form.body;
      }
    }
    if (body === undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(value);
    }
  } else if (r < 0.8 && op.method !== 'GET') {
    tags.push('odd-body');
    const kind = pick(rng, ['malformed-json', 'wrong-type', 'empty-json', 'array', 'string', 'huge-number', 'none']);
    if (kind === 'malformed-json') [headers['content-type'], body] = ['application/json', pick(rng, ['{', '{"a":}', '[1,', '{"a":1}}', "{'a':1}", '\u0000'])];
    else if (kind === 'wrong-type')
      [headers['content-type'], body] = [pick(rng, ['text/plain', 'application/xml', 'application/x-www-form-urlencoded', 'image/png']), 'a=1&b=2'];
    else if (kind === 'empty-json') [headers['content-type'], body] = ['application/json', ''];
    else if (kind === 'array') [headers['content-type'], body] = ['application/json', '[{"content":"x"}]'];
    else if (kind === 'string') [headers['content-type'], body] = ['application/json', JSON.stringify(pick(rng, NASTY_STRINGS))];
    else if (kind === 'huge-number') [headers['content-type'], body] = ['application/json', `{"content":${'9'.repeat(400)},"size_bytes":1e999}`];
    tags.push(kind);
  }
  const qs = query.length ? `?${query.join('&')}` : '';
  return { method: op.method, url: `${base}${path}${qs}`, headers, body, op: `${op.method} ${op.path}`, tags };
}
