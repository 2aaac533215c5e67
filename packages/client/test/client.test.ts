import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { REPO_ROOT, startStack, type Stack } from '@shutter/testing';
import { ShutterError, createShutterClient, type Tokens } from '../src';
import { walkthrough } from '../../../examples/walkthrough';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.stop());

describe('@shutter/client', () => {
  it('is generated from the committed OpenAPI document (`make openapi` regenerates both)', () => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'client-')), 'schema.d.ts');
    execFileSync(path.join(REPO_ROOT, 'node_modules/.bin/openapi-typescript'), [path.join(REPO_ROOT, 'docs/openapi.json'), '-o', out], { stdio: 'pipe' });
    expect(fs.readFileSync(out, 'utf8')).toBe(fs.readFileSync(path.join(__dirname, '../src/schema.d.ts'), 'utf8'));
  });

  it('runs the worked example: upload, post, follow, feed, like, comment, live events', async () => {
    const lines: string[] = [];
    const { events, feedHasPost } = await walkthrough(stack.url, (l) => lines.push(l));
    expect(feedHasPost).toBe(true);
    expect(events.map((e) => e.type).sort()).toEqual(['comment', 'friend_request', 'like']);
    expect(lines.some((l) => /1 image\(s\)/.test(l))).toBe(true);
  });

  it('throws the error envelope as a ShutterError', async () => {
    const client = createShutterClient({ baseUrl: stack.url });
    await client.register({ email: `e${Date.now()}@example.com`, username: `e_${Date.now().toString(36)}`, password: 'correct horse battery' });
    const err = await client
      .unwrap(client.api.GET('/api/users/{user_id}', { params: { path: { user_id: '00000000-0000-4000-8000-000000000000' } } }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShutterError);
    expect(err).toMatchObject({ status: 404, code: 'not_found' });
    expect((err as ShutterError).requestId).toMatch(/\S/);
    const bad = await client.unwrap(client.api.GET('/api/users/{user_id}', { params: { path: { user_id: 'nope' } } })).catch((e: unknown) => e);
    expect(bad).toMatchObject({ status: 422, code: 'validation_error' });
  });

  it('refreshes a rejected access token once and repeats the request; a dead session clears the tokens', async () => {
    const first = createShutterClient({ baseUrl: stack.url });
    const user = await first.register({ email: `r${Date.now()}@example.com`, username: `r_${Date.now().toString(36)}`, password: 'correct horse battery' });
    const seen: Array<Tokens | null> = [];
    // An app restarting with a stale access token and a good refresh token.
    const client = createShutterClient({
      baseUrl: stack.url,
      tokens: { token: 'stale', refresh_token: first.tokens!.refresh_token },
      onTokens: (t) => seen.push(t),
    });
    const [a, b] = await Promise.all([client.unwrap(client.api.GET('/api/users/me')), client.unwrap(client.api.GET('/api/users/me'))]);
    expect(a.user.user_id).toBe(user.user_id);
    expect(b.user.user_id).toBe(user.user_id);
    expect(seen).toHaveLength(1); // concurrent 401s shared one refresh
    expect(seen[0]!.token).not.toBe('stale');

    // The refresh token `first` holds was rotated away: presenting it again ends the session.
    const reused = createShutterClient({
      baseUrl: stack.url,
      tokens: { token: 'stale', refresh_token: first.tokens!.refresh_token },
      onTokens: (t) => seen.push(t),
    });
    const err = await reused.unwrap(reused.api.GET('/api/users/me')).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 401 });
    expect(reused.tokens).toBeNull();
  });
});
