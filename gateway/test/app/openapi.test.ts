import * as fs from 'node:fs';
import { OPENAPI_FILE } from '../../../scripts/openapi';
import { testApp, type TestApp } from './test-app';

let t: TestApp;
beforeAll(async () => {
  t = await testApp();
});
afterAll(() => t?.stop());

// Every route of docs/api.md, as method + OpenAPI path.
const API_ROUTES = [
  'post /api/users/register',
  'post /api/users/login',
  'post /api/users/refresh',
  'post /api/users/logout',
  'post /api/users/logout-all',
  'patch /api/users/password',
  'get /api/users/me',
  'get /api/users/{user_id}',
  'get /api/users',
  'patch /api/users',
  'patch /api/users/{user_id}',
  'post /api/follows/request/{user_id}',
  'post /api/follows/{follows_id}',
  'delete /api/follows/{follows_id}',
  'get /api/follows',
  'post /api/posts',
  'post /api/media/uploads',
  'get /api/posts/{post_id}',
  'get /api/posts',
  'patch /api/posts/{post_id}',
  'delete /api/posts/{post_id}',
  'post /api/posts/like/{post_id}',
  'post /api/posts/unlike/{post_id}',
  'get /api/posts/comment/{post_id}',
  'post /api/posts/comment/{post_id}',
  'patch /api/posts/comment/{comment_id}',
  'delete /api/posts/comment/{comment_id}',
  'get /api/events',
  'post /api/events/read/{event_id}',
  'post /api/events/read-all',
  'get /api/events/unread-count',
  'get /api/events/stream',
  'post /api/events/stream-ticket',
];

describe('the OpenAPI document', () => {
  it('describes every route of the API contract, each with responses and the bearer scheme where needed', async () => {
    const doc = (await t.api.get('/openapi.json')).body;
    const documented = new Set<string>();
    for (const [p, ops] of Object.entries<any>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(ops)) {
        documented.add(`${method} ${p.replace(/\/$/, '')}`);
        expect(Object.keys(op.responses ?? {}).length).toBeGreaterThan(0);
      }
    }
    expect(API_ROUTES.filter((r) => !documented.has(r))).toEqual([]);
    const publicOps = ['post /api/users/register', 'post /api/users/login', 'post /api/users/refresh'];
    for (const r of API_ROUTES.filter((x) => !publicOps.includes(x))) {
      const [method, p] = r.split(' ') as [string, string];
      const op = doc.paths[p]?.[method] ?? doc.paths[`${p}/`]?.[method];
      expect({ route: r, security: op.security }).toEqual({ route: r, security: [{ bearer: [] }] });
    }
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('names every operation uniquely and gives every response an example', async () => {
    const doc = (await t.api.get('/openapi.json')).body;
    const ids: string[] = [];
    const missing: string[] = [];
    for (const [p, ops] of Object.entries<any>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(ops)) {
        if (op.operationId) ids.push(op.operationId);
        else missing.push(`${method} ${p}`);
        for (const [status, res] of Object.entries<any>(op.responses ?? {})) {
          for (const media of Object.values<any>(res.content ?? {})) {
            if (media.example === undefined) missing.push(`${method} ${p} ${status} example`);
          }
        }
      }
    }
    expect(missing).toEqual([]);
    expect(new Set(ids).size).toBe(ids.length);
    expect(doc.paths['/api/users/{user_id}'].get.responses['404'].content['application/json'].example).toMatchObject({ code: 'not_found' });
  });

  it('is the committed docs/openapi.json (run `make openapi` after changing a route)', async () => {
    const served = (await t.api.get('/openapi.json')).body;
    const committed = JSON.parse(fs.readFileSync(OPENAPI_FILE, 'utf8'));
    // `servers` is the deployment's own PUBLIC_URL; everything else must match.
    expect({ ...served, servers: undefined }).toEqual({ ...committed, servers: undefined });
  });
});

describe('the docs', () => {
  it('Swagger UI is served at /docs without a token, outside every rate limit', async () => {
    const res = await t.api.get('/docs');
    const page = res.status === 302 ? await t.api.get(String(res.headers.get('location'))) : res;
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('x-ratelimit-limit')).toBeNull();
  });
});
