import { randomUUID } from 'node:crypto';
import { generate, operationsOf, type FuzzRequest, type Pools } from './requests';
import { chance, pick, rngOf } from './values';

/**
 * The API fuzzer (`make fuzz`, and a seeded slice in fuzz/test): reads the served OpenAPI
 * document, signs up two users with a post each, then sends generated requests one at a time and
 * checks every answer:
 *
 * - no 5xx;
 * - every error (4xx) is docs/api.md's envelope: `detail`, `code`, `request_id` (= X-Request-Id), and
 *   a 422 has `errors` naming fields;
 * - no stack trace or internal name in any error body;
 * - a refused write (POST/PATCH/DELETE answered 4xx) changed nothing the two users can see
 *   (their profiles, posts, comments, likes, follow lists), compared before and after.
 */
export interface FuzzOptions {
  baseUrl: string;
  seed: number;
  requests: number;
  /** Progress lines (every 1 000 requests); default silent. */
  log?: (line: string) => void;
}

export interface Finding {
  kind: '5xx' | 'envelope' | 'leak' | 'created-by-refused' | 'transport';
  request: { method: string; url: string; headers: Record<string, string>; body?: string; tags: string[] };
  status: number;
  response: string;
}

export interface FuzzReport {
  seed: number;
  requests: number;
  byStatus: Record<string, number>;
  serverErrors: number;
  findings: Finding[];
  ms: number;
}

// Stack frames, file paths, driver and library names: nothing of the kind belongs in an error body.
const LEAK =
  /\bat [\w$.<>]+ \(|node_modules|\/src\/|\.ts:\d+|\.js:\d+|ECONNREFUSED|\b(SELECT|INSERT INTO|UPDATE \w+ SET)\b|knex|postgres|ioredis|grpc|\bTypeError\b|\bReferenceError\b|RangeError|FST_[A-Z_]+|"stack"|"statusCode"/i;

interface Account {
  email: string;
  password: string;
  token: string;
  id: string;
}

const PASSWORD = 'fuzz-password-1';
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');

async function json(res: Response): Promise<any> {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export async function runFuzz(opts: FuzzOptions): Promise<FuzzReport> {
  const started = Date.now();
  const base = opts.baseUrl.replace(/\/$/, '');
  const rng = rngOf(opts.seed);
  const call = (method: string, path: string, token?: string, body?: unknown) =>
    fetch(base + path, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined && !(body instanceof FormData) ? { 'content-type': 'application/json' } : {}),
      },
      body: body instanceof FormData ? body : body === undefined ? undefined : JSON.stringify(body),
    });

  // --- setup: two users (one public), a post each, a comment, a follow request
  const run = `${opts.seed.toString(36)}${Date.now().toString(36)}`;
  async function signup(name: string): Promise<Account> {
    const email = `${name}@fuzz.test`;
    const res = await call('POST', '/api/users/register', undefined, { email, username: name, password: PASSWORD });
    const body = await json(res);
    if (res.status !== 201) throw new Error(`fuzz setup: register ${res.status} ${JSON.stringify(body)}`);
    return { email, password: PASSWORD, token: body.data.token, id: body.data.user.user_id };
  }
  const a = await signup(`fza_${run}`);
  const b = await signup(`fzb_${run}`);
  await call('PATCH', '/api/users', a.token, { is_public: true });
  async function post(u: Account): Promise<string> {
    const form = new FormData();
    form.set('content', 'fuzz seed post');
    form.append('images', new Blob([PNG], { type: 'image/png' }), 'p.png');
    const res = await call('POST', '/api/posts', u.token, form);
    const body = await json(res);
    if (res.status !== 201) throw new Error(`fuzz setup: post ${res.status} ${JSON.stringify(body)}`);
    return body.data.post_id;
  }
  const postA = await post(a);
  const postB = await post(b);
  const comment = (await json(await call('POST', `/api/posts/comment/${postB}`, b.token, { content: 'seed comment' }))).data?.comment_id ?? randomUUID();
  const follows = (await json(await call('POST', `/api/follows/request/${b.id}`, a.token))).data?.follows_id ?? randomUUID();
  const pools: Pools = {
    ids: [a.id, b.id, postA, postB, comment, follows, randomUUID(), '00000000-0000-0000-0000-000000000000'],
    tokens: [a.token, a.token, a.token, b.token, undefined],
  };

  // --- what a refused write must not change: everything the two users can see of themselves
  async function fingerprint(retry = true): Promise<string> {
    const read = async (u: Account, path: string) => {
      const res = await call('GET', path, u.token);
      return { status: res.status, body: await json(res), own: path === '/api/users/me' };
    };
    const parts = await Promise.all(
      [a, b].flatMap((u) => [
        read(u, '/api/users/me'),
        read(u, `/api/posts?user_id=${u.id}&limit=100`),
        read(u, `/api/posts/comment/${u === a ? postA : postB}?limit=100`),
        // Follow edges by id only: a request to an account that turns public is accepted by an
        // event handler a moment later (pending → agree) without any request of the fuzzer's.
        Promise.all(
          ['following', 'follower'].flatMap((type) => ['pending', 'agree'].map((st) => read(u, `/api/follows?type=${type}&status=${st}&limit=100`))),
        ).then((lists) => ({
          status: Math.max(...lists.map((l) => l.status)),
          body: lists.flatMap((l) => (l.body?.data?.users ?? []).map((x: { follows_id: string }) => x.follows_id)).sort(),
          own: false,
        })),
      ]),
    );
    // An access token that expired mid-run is renewed, not reported.
    if (retry && parts.some((p) => p.status === 401)) {
      await refreshTokens();
      return fingerprint(false);
    }
    return parts.map((p) => `${p.status}:${JSON.stringify(stripVolatile(p.body, !p.own))}`).join('\n');
  }
  async function refreshTokens(): Promise<void> {
    for (const u of [a, b]) {
      if ((await call('GET', '/api/users/me', u.token)).status !== 401) continue;
      const res = await call('POST', '/api/users/login', undefined, { email: u.email, password: u.password });
      if (res.status === 200) u.token = (await json(res)).data.token;
    }
    pools.tokens = [a.token, a.token, a.token, b.token, undefined];
  }

  const doc = await json(await fetch(`${base}/openapi.json`));
  const ops = operationsOf(doc).filter((o) => o.path.startsWith('/api') || o.path === '/');
  if (ops.length === 0) throw new Error('fuzz: the OpenAPI document has no operations');

  const report: FuzzReport = { seed: opts.seed, requests: 0, byStatus: {}, serverErrors: 0, findings: [], ms: 0 };
  let known: string | null = null;
  for (let i = 0; i < opts.requests; i++) {
    if (i > 0 && i % 250 === 0) await refreshTokens();
    const req = generate(rng, pick(rng, ops), pools, base);
    const write = req.method !== 'GET';
    if (write) known ??= await fingerprint();
    let status: number;
    let text: string;
    let requestId: string | null;
    try {
      const res = await fetch(req.url, { method: req.method, headers: req.headers, body: req.body });
      status = res.status;
      requestId = res.headers.get('x-request-id');
      text = await res.text();
    } catch (err) {
      // A request the client library itself refuses to send (an URL it cannot build) is not the server's fault.
      if (String((err as Error).cause ?? err).includes('Invalid URL')) continue;
      report.findings.push(finding('transport', req, 0, String(err)));
      continue;
    }
    report.requests++;
    report.byStatus[status] = (report.byStatus[status] ?? 0) + 1;
    if (status >= 500) {
      report.serverErrors++;
      report.findings.push(finding('5xx', req, status, text));
    } else if (status >= 400) {
      const problem = envelopeProblem(status, text, requestId);
      if (problem) report.findings.push(finding('envelope', req, status, `${problem}: ${text}`));
      if (LEAK.test(text)) report.findings.push(finding('leak', req, status, text));
    }
    if (write) {
      if (status >= 400) {
        const after = await fingerprint();
        if (after !== known) report.findings.push(finding('created-by-refused', req, status, diff(known!, after)));
        known = after;
      } else known = null; // an accepted write may change anything: look again before the next
    }
    if (chance(rng, 0.001)) await refreshTokens();
    if ((i + 1) % 1000 === 0) opts.log?.(`${i + 1} requests, ${report.serverErrors} × 5xx, ${report.findings.length} findings`);
  }
  report.ms = Date.now() - started;
  return report;
}

const VOLATILE = new Set(['url', 'message', 'request_id']);
// Copies of another service's data (authors on posts and comments, users on follow items) follow
// events and settle a moment after the write that changed them: /api/users/me checks the originals.
const REPLICATED = new Set(['user', 'username', 'name', 'metadata']);

/** Fields that change without any request of the fuzzer's (URLs are signed per response, ids per request). */
function stripVolatile(v: unknown, replicas: boolean): unknown {
  if (Array.isArray(v)) return v.map((x) => stripVolatile(x, replicas));
  if (typeof v !== 'object' || v === null) return v;
  return Object.fromEntries(
    Object.entries(v)
      .filter(([k]) => !VOLATILE.has(k) && !(replicas && REPLICATED.has(k)))
      .map(([k, x]) => [k, stripVolatile(x, replicas)]),
  );
}

function envelopeProblem(status: number, text: string, requestId: string | null): string | null {
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  if (typeof body !== 'object' || body === null) return 'not an object';
  const keys = Object.keys(body).filter((k) => !['detail', 'code', 'request_id', 'errors'].includes(k));
  if (keys.length) return `unexpected keys ${keys.join(', ')}`;
  if (typeof body.detail !== 'string' || !body.detail) return 'no detail';
  if (typeof body.code !== 'string' || !/^[a-z_]+$/.test(body.code)) return 'no snake_case code';
  if (typeof body.request_id !== 'string' || body.request_id !== requestId) return 'request_id is not X-Request-Id';
  if (status === 422) {
    if (!Array.isArray(body.errors) || body.errors.length === 0) return '422 without errors';
    for (const e of body.errors)
      if (typeof e?.field !== 'string' || typeof e?.message !== 'string' || !/^(body|query|path|header)(\.|$)/.test(e.field))
        return `bad errors item ${JSON.stringify(e)}`;
  }
  return null;
}

function finding(kind: Finding['kind'], req: FuzzRequest, status: number, response: string): Finding {
  const body = req.body === undefined ? undefined : (Buffer.isBuffer(req.body) ? req.body.toString('latin1') : req.body).slice(0, 500);
  return {
    kind,
    request: { method: req.method, url: req.url.slice(0, 500), headers: req.headers, body, tags: req.tags },
    status,
    response: response.slice(0, 800),
  };
}

function diff(before: string, after: string): string {
  const b = before.split('\n');
  const a = after.split('\n');
  const i = a.findIndex((line, k) => line !== b[k]);
  return `line ${i}: before ${b[i]?.slice(0, 300)} | after ${a[i]?.slice(0, 300)}`;
}
