import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { canConnect, freePort } from '@shutter/testing/src/backends';
import { waitFor } from '@shutter/testing/src/http';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { render } = require('../render') as typeof import('../render');

/**
 * The real nginx with Shutter's config, in front of a small Node server standing in for the
 * gateway (the thing under test is nginx itself). Each nginx here is rendered with a different
 * option, so one test's requests never use up another's rate limit.
 */

const NGINX = ['nginx', '/usr/sbin/nginx', '/usr/local/sbin/nginx'].find((bin) => spawnSync(bin, ['-v']).status === 0);

interface Edge {
  url: string;
  stop(): Promise<void>;
}

const started: Edge[] = [];

async function startNginx(
  name: string,
  opts: {
    gateway: string;
    rateLimit?: string;
    burst?: number;
    authRateLimit?: string;
    authBurst?: number;
    maxBodySize?: string;
    retryAfter?: number;
    streamsPerAddr?: number;
  },
): Promise<Edge> {
  const port = await freePort();
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), `shutter-nginx-${name}-`));
  const { args } = render({ ...opts, listen: port, outDir, workerProcesses: 1 });
  const child: ChildProcess = spawn(NGINX as string, [...args, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  for (let i = 0; i < 400 && child.exitCode === null && !(await canConnect(port)); i++) await new Promise((r) => setTimeout(r, 50));
  if (!(await canConnect(port))) {
    const log = fs.existsSync(path.join(outDir, 'error.log')) ? fs.readFileSync(path.join(outDir, 'error.log'), 'utf8') : '';
    child.kill('SIGKILL');
    throw new Error(`nginx did not start on ${port}:\n${stderr}\n${log}`);
  }
  const edge: Edge = {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => {
          fs.rmSync(outDir, { recursive: true, force: true });
          resolve();
        });
        child.kill('SIGQUIT'); // graceful: waits for open requests (none are left here)
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }),
  };
  started.push(edge);
  return edge;
}

/** The gateway stand-in: echoes what it received; /api/events/stream holds the response open. */
function startUpstream() {
  let releaseStream: () => void = () => undefined;
  let streamEnded = false;
  const server = http.createServer((req, res) => {
    if (req.url?.startsWith('/api/events/stream?hold')) {
      // Held open until the client goes.
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.flushHeaders();
      return;
    }
    if (req.url === '/api/events/stream') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.flushHeaders();
      // The event is a write of its own, after the headers: what a buffering proxy would hold back.
      setTimeout(() => res.write('id: 1\nevent: like\ndata: {"event_id":"1"}\n\n'), 100);
      const end = () => {
        if (streamEnded) return;
        streamEnded = true;
        res.end('id: 2\nevent: like\ndata: {"event_id":"2"}\n\n');
      };
      releaseStream = end;
      // Far off, so that an event nginx held back could only arrive long after the test's bound.
      setTimeout(end, 60_000).unref();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.stringify({ headers: req.headers, method: req.method, url: req.url, received: Buffer.concat(chunks).length, pad: 'x'.repeat(4000) });
      // The gateway sets its own CORS headers and echoes the request id.
      res.writeHead(200, {
        'content-type': 'application/json',
        'access-control-allow-origin': 'https://app.example',
        'x-request-id': String(req.headers['x-request-id'] ?? ''),
      });
      res.end(body);
    });
  });
  return {
    server,
    release: () => releaseStream(),
    ended: () => streamEnded,
    listen: () => new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port))),
  };
}

async function expectEnvelope(res: Response, status: number, code: string): Promise<Record<string, string>> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  expect(res.headers.get('access-control-allow-origin')).toBe('*');
  const body = (await res.json()) as Record<string, string>;
  expect(body).toEqual({ detail: expect.any(String), code, request_id: res.headers.get('x-request-id') });
  expect(body.request_id).toMatch(/^[A-Za-z0-9._:-]+$/);
  return body;
}

describe('nginx edge', () => {
  const upstream = startUpstream();
  let edge: Edge;

  beforeAll(async () => {
    if (!NGINX) throw new Error('nginx is not installed: run scripts/install-system-deps.sh (it installs nginx, chromium and redis-server where missing)');
    const port = await upstream.listen();
    edge = await startNginx('main', { gateway: `127.0.0.1:${port}`, rateLimit: '1000r/s', burst: 1000, maxBodySize: '1k' });
  });

  afterAll(async () => {
    await Promise.all(started.map((e) => e.stop()));
    upstream.release();
    await new Promise((r) => upstream.server.close(r));
  });

  it('generates a request id, passes it to the gateway and returns it once', async () => {
    const res = await fetch(`${edge.url}/api/users/me`);
    const echoed = (await res.json()) as { headers: Record<string, string> };
    const id = res.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(echoed.headers['x-request-id']).toBe(id);
    // undici joins repeated headers with ", ": one value means one header.
    expect(id).not.toContain(',');
  });

  it("keeps the client's request id, and replaces one that is not a plain token", async () => {
    const mine = await fetch(`${edge.url}/api/users/me`, { headers: { 'X-Request-Id': 'client-abc.123' } });
    expect(mine.headers.get('x-request-id')).toBe('client-abc.123');
    const bad = await fetch(`${edge.url}/api/users/me`, { headers: { 'X-Request-Id': 'a"b{}' } });
    expect(bad.headers.get('x-request-id')).toMatch(/^[0-9a-f]{32}$/);
  });

  it.each(['/api/users/me', '/api/posts?limit=1', '/api/events/stream-info'])(
    'forwards the client address and scheme, and leaves CORS on proxied responses to the gateway (%s)',
    async (route) => {
      const res = await fetch(`${edge.url}${route}`, { headers: { 'X-Forwarded-For': '6.6.6.6', Origin: 'https://app.example' } });
      const echoed = (await res.json()) as { headers: Record<string, string> };
      expect(echoed.headers['x-forwarded-for']).toBe('127.0.0.1');
      expect(echoed.headers['x-forwarded-proto']).toBe('http');
      expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example');
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f]{32}$/);
    },
  );

  it('compresses JSON for clients that accept gzip', async () => {
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get(`${edge.url}/api/posts`, { headers: { 'accept-encoding': 'gzip' } }, resolve).on('error', reject);
    });
    res.resume();
    expect(res.headers['content-encoding']).toBe('gzip');
  });

  it('answers an over-limit body with a 413 JSON envelope and CORS headers', async () => {
    const res = await fetch(`${edge.url}/api/posts/`, {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=x' },
      body: Buffer.alloc(4096, 1),
    });
    await expectEnvelope(res, 413, 'payload_too_large');
    const small = await fetch(`${edge.url}/api/posts/`, { method: 'POST', body: Buffer.alloc(512, 1) });
    expect(((await small.json()) as { received: number }).received).toBe(512);
  });

  it('answers requests it cannot read with a 400 JSON envelope, not HTML or a 500', async () => {
    const raw = (request: string) =>
      new Promise<string>((resolve, reject) => {
        const url = new URL(edge.url);
        const socket = net.connect(Number(url.port), url.hostname, () => socket.end(request));
        let out = '';
        socket.on('data', (b: Buffer) => (out += b.toString()));
        socket.on('close', () => resolve(out));
        socket.on('error', reject);
      });
    for (const request of ['GARBAGE\r\n\r\n', `GET /api/users/me HTTP/1.1\r\nHost: a\r\nCookie: ${'a'.repeat(20000)}\r\n\r\n`]) {
      const response = await raw(request);
      expect(response).toMatch(/^HTTP\/1\.1 400 /);
      expect(response).toMatch(/\r\nContent-Type: application\/json\r\n/i);
      expect(response).toMatch(/\r\nAccess-Control-Allow-Origin: \*\r\n/i);
      expect(response).toContain('"code":"bad_request"');
    }
  });

  it('passes Server-Sent Events through as they are written', async () => {
    const first = await new Promise<{ chunk: string; upstreamEnded: boolean; res: http.IncomingMessage }>((resolve, reject) => {
      setTimeout(() => reject(new Error('the first event did not arrive within 20 s: nginx held it back')), 20_000).unref();
      http
        .get(`${edge.url}/api/events/stream`, { headers: { accept: 'text/event-stream', 'accept-encoding': 'gzip' } }, (res) => {
          let seen = '';
          const onData = (b: Buffer) => {
            seen += b.toString();
            if (!seen.includes('id: 1')) return;
            res.off('data', onData);
            resolve({ chunk: seen, upstreamEnded: upstream.ended(), res });
          };
          res.on('data', onData);
        })
        .on('error', reject);
    });
    expect(first.upstreamEnded).toBe(false);
    expect(first.chunk).toContain('id: 1');
    expect(first.res.headers['content-type']).toBe('text/event-stream');
    expect(first.res.headers['content-encoding']).toBeUndefined();
    upstream.release();
    let rest = '';
    for await (const b of first.res) rest += (b as Buffer).toString();
    expect(rest).toContain('id: 2');
  });

  it('limits requests per address with a 429 JSON envelope and Retry-After', async () => {
    const limited = await startNginx('limited', {
      gateway: `127.0.0.1:${(upstream.server.address() as { port: number }).port}`,
      rateLimit: '1r/m',
      burst: 1,
      retryAfter: 60,
    });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${limited.url}/api/users/me`);
      statuses.push(res.status);
      if (res.status === 429) {
        await expectEnvelope(res, 429, 'rate_limited');
        expect(res.headers.get('retry-after')).toBe('60');
      } else {
        expect(res.headers.get('retry-after')).toBeNull();
        await res.arrayBuffer();
      }
    }
    expect(statuses).toEqual([200, 200, 429]);
    // Preflights are never counted: a browser must be able to read the 429.
    const preflight = await fetch(`${limited.url}/api/users/me`, { method: 'OPTIONS' });
    expect(preflight.status).toBe(200);
  });

  it('limits the auth routes per address more tightly than the rest', async () => {
    const gateway = `127.0.0.1:${(upstream.server.address() as { port: number }).port}`;
    const auth = await startNginx('auth', { gateway, rateLimit: '1000r/s', burst: 1000, authRateLimit: '1r/m', authBurst: 1 });
    const post = (p: string) => fetch(`${auth.url}${p}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    const statuses: number[] = [];
    for (const p of ['/api/users/login', '/api/users/refresh', '/api/users/register/', '/api/users/password']) {
      const res = await post(p);
      statuses.push(res.status);
      if (res.status === 429) await expectEnvelope(res, 429, 'rate_limited');
      else await res.arrayBuffer();
    }
    expect(statuses).toEqual([200, 200, 429, 429]);
    // Other routes from the same address are not held back by it.
    for (let i = 0; i < 5; i++) expect((await fetch(`${auth.url}/api/users/me`)).status).toBe(200);
  });

  it('limits open event streams per address with a 429 JSON envelope', async () => {
    const edge2 = await startNginx('streams', {
      gateway: `127.0.0.1:${(upstream.server.address() as { port: number }).port}`,
      rateLimit: '1000r/s',
      burst: 1000,
      streamsPerAddr: 2,
    });
    const holds: AbortController[] = [];
    const hold = async () => {
      const ctrl = new AbortController();
      holds.push(ctrl);
      return fetch(`${edge2.url}/api/events/stream?hold=${holds.length}`, { signal: ctrl.signal });
    };
    try {
      expect([(await hold()).status, (await hold()).status]).toEqual([200, 200]);
      await expectEnvelope(await hold(), 429, 'rate_limited');
      // Other routes from the same address are not affected.
      expect((await fetch(`${edge2.url}/api/users/me`)).status).toBe(200);
      holds[0]!.abort();
      await waitFor(async () => {
        const res = await hold();
        if (res.status === 200) return true;
        await res.arrayBuffer();
        return false;
      }, 5000);
    } finally {
      for (const c of holds) c.abort();
    }
  });

  it('answers 502 in the JSON envelope when no gateway is up', async () => {
    const down = await startNginx('down', { gateway: `127.0.0.1:${await freePort()}` });
    const res = await fetch(`${down.url}/api/posts`, { headers: { 'X-Request-Id': 'trace-502' } });
    const body = await expectEnvelope(res, 502, 'bad_gateway');
    expect(body.request_id).toBe('trace-502');
  });
});
