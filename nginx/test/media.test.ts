import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { canConnect, freePort } from '@shutter/testing/src/backends';
import { startLocalS3, type LocalS3 } from '@shutter/testing/src/s3';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { render } = require('../render') as typeof import('../render');

/**
 * Issue 12 (3): the rendered nginx config serves media from the API host. The real nginx in front
 * of a real S3 server (s3rver): URLs signed for nginx's own origin work through it (Host and path
 * reach the store unchanged); nothing but presigned reads and the direct-upload POST passes.
 */
const NGINX = ['nginx', '/usr/sbin/nginx', '/usr/local/sbin/nginx'].find((bin) => spawnSync(bin, ['-v']).status === 0);

let s3: LocalS3;
let nginx: ChildProcess;
let origin: string;
let outDir: string;
let signer: S3Client;

beforeAll(async () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'shutter-media-'));
  s3 = await startLocalS3({ dir: path.join(work, 's3') });
  const port = await freePort();
  outDir = path.join(work, 'nginx');
  // The gateway is never reached here: any address will do.
  const { args } = render({ gateway: '127.0.0.1:9', listen: port, outDir, workerProcesses: 1, s3: new URL(s3.endpoint).host, bucket: s3.bucket });
  nginx = spawn(NGINX as string, [...args, '-g', 'daemon off;'], { stdio: 'ignore' });
  for (let i = 0; i < 400 && !(await canConnect(port)); i++) await new Promise((r) => setTimeout(r, 50));
  origin = `http://127.0.0.1:${port}`;
  // What content does with S3_CLIENT_ENDPOINT: signs for the API's origin, not the store's.
  signer = new S3Client({
    endpoint: origin,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  const direct = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  await direct.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'media/u1/a.png', Body: Buffer.from('an image'), ContentType: 'image/png' }));
  direct.destroy();
});

afterAll(async () => {
  signer?.destroy();
  if (nginx && nginx.exitCode === null) {
    await new Promise<void>((resolve) => {
      nginx.once('exit', () => resolve());
      nginx.kill('SIGQUIT');
    });
  }
  await s3?.stop();
});

describe('media under the API host', () => {
  it('serves a presigned GET signed for the API origin, with CORS and a request id', async () => {
    const url = await getSignedUrl(signer, new GetObjectCommand({ Bucket: s3.bucket, Key: 'media/u1/a.png' }), { expiresIn: 600 });
    expect(url.startsWith(`${origin}/${s3.bucket}/`)).toBe(true);
    const res = await fetch(url, { headers: { origin: 'https://app.example' } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('an image');
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f]{32}$/);
  });

  it('passes Host, path and query to the store unchanged (what a SigV4 signature covers)', async () => {
    // A stand-in store that records what it receives (s3rver does not check query signatures).
    const seen: Array<{ host?: string; url?: string; method?: string }> = [];
    const store = http.createServer((req, res) => {
      seen.push({ host: req.headers.host, url: req.url, method: req.method });
      res.end('ok');
    });
    await new Promise<void>((r) => store.listen(0, '127.0.0.1', r));
    const port = await freePort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shutter-media-echo-'));
    const { args } = render({
      gateway: '127.0.0.1:9',
      listen: port,
      outDir: dir,
      workerProcesses: 1,
      s3: `127.0.0.1:${(store.address() as { port: number }).port}`,
      bucket: 'shutter-media',
    });
    const edge = spawn(NGINX as string, [...args, '-g', 'daemon off;'], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 400 && !(await canConnect(port)); i++) await new Promise((r) => setTimeout(r, 50));
      const path1 = '/shutter-media/media/u%201/x.webp?X-Amz-Signature=abc&X-Amz-Date=20260101T000000Z';
      expect((await fetch(`http://127.0.0.1:${port}${path1}`)).status).toBe(200);
      expect(seen).toEqual([{ host: `127.0.0.1:${port}`, url: path1, method: 'GET' }]);
    } finally {
      await new Promise<void>((resolve) => {
        edge.once('exit', () => resolve());
        edge.kill('SIGQUIT');
      });
      await new Promise((r) => store.close(r));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes a presigned direct upload (POST to /<bucket>) and answers the preflight itself', async () => {
    const post = await createPresignedPost(signer, {
      Bucket: s3.bucket,
      Key: 'media/u1/up.png',
      Conditions: [['content-length-range', 1, 1024]],
      Fields: { 'Content-Type': 'image/png' },
      Expires: 600,
    });
    expect(post.url).toBe(`${origin}/${s3.bucket}`);
    const form = new FormData();
    for (const [k, v] of Object.entries(post.fields)) form.append(k, v);
    form.append('file', new Blob([new Uint8Array(Buffer.from('uploaded'))], { type: 'image/png' }));
    const res = await fetch(post.url, { method: 'POST', body: form });
    expect(res.ok).toBe(true);
    const back = await fetch(await getSignedUrl(signer, new GetObjectCommand({ Bucket: s3.bucket, Key: 'media/u1/up.png' }), { expiresIn: 600 }));
    expect(await back.text()).toBe('uploaded');
    const preflight = await fetch(post.url, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-methods')).toBe('POST');
  });

  it('lets nothing else through: no listing, no PUT, no DELETE', async () => {
    expect((await fetch(`${origin}/${s3.bucket}/`)).status).toBe(403);
    expect((await fetch(`${origin}/${s3.bucket}/media/u1/a.png`, { method: 'PUT', body: 'x' })).status).toBe(403);
    expect((await fetch(`${origin}/${s3.bucket}/media/u1/a.png`, { method: 'DELETE' })).status).toBe(403);
    expect((await fetch(`${origin}/${s3.bucket}`, { method: 'GET' })).status).toBe(403);
    // (An unsigned GET of an object reaches the store, which refuses it for a private bucket;
    // s3rver, the test's store, does not check anonymous reads.)
  });
});
