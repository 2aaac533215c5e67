/**
 * The artifact smoke test (issue 14): the bundles the Dockerfile builds (scripts/build-bundle.sh,
 * the same script), started with plain `node` — no tsx, no source tree, no repository
 * node_modules — behind the real nginx with the rendered production config (the media path
 * included), then one user journey through nginx: register → direct upload → post → feed → like
 * → comment → event stream. Migrations run first on their own (MIGRATIONS=only), as in k8s.
 *
 * scripts/smoke.ts runs it (`make smoke`); infra/test/deploy-smoke.test.ts runs it in CI.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { apiClient, createDatabase, dropDatabase, freePort, waitFor, withDatabase, png, type ApiClient } from '@shutter/testing';
import { startLocalS3, type LocalS3 } from '../../packages/testing/src/s3';

const REPO = path.resolve(__dirname, '../..');
export const PROCESSES = ['identity', 'social-graph', 'content', 'notification', 'gateway'] as const;
export type ProcessName = (typeof PROCESSES)[number];

/**
 * Node heap caps (MiB, --max-old-space-size) per process: the same numbers docker-compose.yml
 * and k8s/ use (infra/test/deploy-compose.test.ts and deploy-k8s.test.ts compare them).
 */
export const HEAP_MB: Record<ProcessName, number> = { gateway: 192, identity: 160, 'social-graph': 128, content: 192, notification: 128 };

export interface Backends {
  /** A superuser URL to the server's maintenance database: a fresh database is made per run. */
  pgAdminUrl: string;
  redisUrl: string;
}

export interface ArtifactStack {
  /** nginx's origin: the API and /shutter-media/. */
  url: string;
  pids: Record<ProcessName | 'nginx', number>;
  /** Each process's /metrics (its metrics port on 127.0.0.1). */
  metricsUrls: Record<ProcessName, string>;
  /** Resident memory now and at its peak (VmHWM) per process, in MiB. */
  memory(): Record<string, { rssMiB: number; peakMiB: number }>;
  stop(): Promise<void>;
}

const run = promisify(execFile);

/** Builds every process with the Dockerfile's recipe into `<outDir>/<process>/`. */
export async function buildBundles(outDir: string): Promise<void> {
  await Promise.all(PROCESSES.map((p) => run('bash', [path.join(REPO, 'scripts/build-bundle.sh'), p, path.join(outDir, p)], { cwd: REPO })));
}

function memoryOf(pid: number): { rssMiB: number; peakMiB: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { rssMiB: Math.round(kb('VmRSS') / 102.4) / 10, peakMiB: Math.round(kb('VmHWM') / 102.4) / 10 };
}

/** Stops a child: SIGTERM (or `signal`), then SIGKILL after `ms`. */
function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', ms = 15_000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

/**
 * Starts the whole stack from bundles in `bundleDir` (buildBundles): a fresh database on the
 * Postgres server, a key prefix on the Redis server, a local S3 (s3rver), the five processes and
 * nginx. Each process gets only the environment written here.
 */
export async function startArtifactStack(
  bundleDir: string,
  backends: Backends,
  log: (m: string) => void = () => undefined,
  opts: { unlimited?: boolean } = {},
): Promise<ArtifactStack> {
  const runId = `${Date.now().toString(36)}${crypto.randomBytes(3).toString('hex')}`;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `shutter-smoke-${runId}-`));
  const database = `shutter_smoke_${runId}`;
  const children: Array<{ name: string; child: ChildProcess }> = [];
  let s3: LocalS3 | undefined;
  let nginx: ChildProcess | undefined;
  const logs: Record<string, string[]> = {};

  const stop = async () => {
    if (nginx) await stopChild(nginx, 'SIGQUIT');
    // The gateway first, then the services (reverse start order), as compose and k8s stop them.
    for (const { child } of [...children].reverse()) await stopChild(child);
    await s3?.stop();
    await dropDatabase(backends.pgAdminUrl, database).catch(() => undefined);
    fs.rmSync(work, { recursive: true, force: true });
  };

  try {
    await createDatabase(backends.pgAdminUrl, database);
    const store = await startLocalS3({ dir: path.join(work, 's3') });
    s3 = store;
    // Services listen on port 0 and log the ports they got (no race with other processes for a
    // port picked in advance); the gateway's HTTP and metrics ports are picked here.
    const ports = Object.fromEntries(PROCESSES.map((p) => [p, { main: 0, metrics: 0 }])) as Record<ProcessName, { main: number; metrics: number }>;
    ports.gateway = { main: await freePort(), metrics: await freePort() };
    // identity starts first yet backfills its edge and post replicas from social-graph and content:
    // those addresses are known in advance.
    ports['social-graph'].main = await freePort();
    ports.content.main = await freePort();
    const nginxPort = await freePort();
    const origin = `http://127.0.0.1:${nginxPort}`;
    const jwtKey = path.join(work, 'jwt-ed25519.pem');
    fs.writeFileSync(jwtKey, crypto.generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });

    const addr = (p: ProcessName) => `127.0.0.1:${ports[p].main}`;
    const common = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      NODE_ENV: 'production',
      LOG_FORMAT: 'json',
      LOG_LEVEL: process.env.SMOKE_LOG_LEVEL ?? 'warn',
      HOST: '127.0.0.1',
      REDIS_URL: backends.redisUrl,
      REDIS_KEY_PREFIX: `smoke:${runId}:`,
      DATABASE_URL: withDatabase(backends.pgAdminUrl, database),
      DATABASE_POOL_MAX: '5',
      // One file every process reads (compose: a shared secrets volume), made by the first to start.
      INTERNAL_AUTH_SECRET_FILE: path.join(bundleDir, 'internal-auth.secret'),
    };
    const envOf = (): Record<ProcessName, Record<string, string>> => ({
      identity: { JWT_KEY_FILE: jwtKey, SOCIAL_GRAPH_ADDR: addr('social-graph'), CONTENT_ADDR: addr('content') },
      'social-graph': { IDENTITY_ADDR: addr('identity') },
      content: {
        IDENTITY_ADDR: addr('identity'),
        SOCIAL_GRAPH_ADDR: addr('social-graph'),
        S3_ENDPOINT: store.endpoint,
        S3_CLIENT_ENDPOINT: origin,
        S3_REGION: store.region,
        S3_BUCKET: store.bucket,
        S3_ACCESS_KEY_ID: store.accessKeyId,
        S3_SECRET_ACCESS_KEY: store.secretAccessKey,
        S3_FORCE_PATH_STYLE: 'true',
      },
      notification: { IDENTITY_ADDR: addr('identity') },
      gateway: {
        PORT: String(ports.gateway.main),
        IDENTITY_ADDR: addr('identity'),
        SOCIAL_GRAPH_ADDR: addr('social-graph'),
        CONTENT_ADDR: addr('content'),
        NOTIFICATION_ADDR: addr('notification'),
        TRUST_PROXY: '1',
        PUBLIC_URL: origin,
        CORS_ORIGINS: '*',
        // A load test from one address would be all 429s (scripts/measure-memory.ts).
        ...(opts.unlimited && { RATE_LIMIT_SCALE: '1000000' }),
      },
    });

    // Migrations first, as the Kubernetes Job runs them (k8s/base/migrate-job.yaml): each service's
    // bundle with MIGRATIONS=only, lock waits bounded; then the processes start with MIGRATIONS=skip.
    await Promise.all(
      (['identity', 'social-graph', 'content', 'notification'] as const).map((p) =>
        run(process.execPath, [`dist/${p}.js`], {
          cwd: path.join(bundleDir, p, 'app'),
          env: { ...common, ...envOf()[p], MIGRATIONS: 'only', PGOPTIONS: '-c lock_timeout=10s' },
          timeout: 60_000,
        }).catch((err: Error & { stderr?: string; stdout?: string }) => {
          throw new Error(`${p} migrations failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`);
        }),
      ),
    );
    log('migrations applied (MIGRATIONS=only)');
    // The pods' init container (MIGRATIONS=wait) passes at once on the migrated schema.
    await run(process.execPath, ['dist/content.js'], {
      cwd: path.join(bundleDir, 'content', 'app'),
      env: { ...common, ...envOf().content, MIGRATIONS: 'wait' },
      timeout: 20_000,
    });

    const start = (p: ProcessName) => {
      const app = path.join(bundleDir, p, 'app');
      const child = spawn(process.execPath, [`dist/${p}.js`], {
        cwd: app,
        env: {
          ...common,
          ...(p === 'gateway' ? {} : { GRPC_PORT: String(ports[p].main), LOG_LEVEL: 'info' }),
          METRICS_PORT: String(ports[p].metrics),
          NODE_OPTIONS: `--max-old-space-size=${HEAP_MB[p]}`,
          MIGRATIONS: 'skip',
          ...envOf()[p],
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      logs[p] = [];
      const keep = (b: Buffer) => {
        const lines = logs[p]!;
        const fresh = b.toString().split('\n').filter(Boolean);
        // `<name> serving` carries the ports a service got (it listens on port 0).
        const serving = fresh.find((l) => l.includes(`"${p} serving"`));
        if (serving && p !== 'gateway') {
          const { grpc_port: grpc, metrics_port: metrics } = JSON.parse(serving) as { grpc_port: number; metrics_port: number };
          ports[p] = { main: grpc, metrics };
        }
        lines.push(...fresh);
        if (lines.length > 200) lines.splice(0, lines.length - 200);
      };
      child.stdout!.on('data', keep);
      child.stderr!.on('data', keep);
      children.push({ name: p, child });
      return child;
    };
    const ready = async (p: ProcessName) => {
      const child = children.find((c) => c.name === p)!.child;
      await waitFor(
        async () => {
          if (child.exitCode !== null) throw new Error(`${p} exited with ${child.exitCode}:\n${logs[p]!.slice(-20).join('\n')}`);
          if (!ports[p].metrics) return false; // not serving yet
          const res = await fetch(`http://127.0.0.1:${ports[p].metrics}/readyz`).catch(() => null);
          return res?.ok ?? false;
        },
        60_000,
        100,
      ).catch((err: Error) => {
        throw new Error(`${p} never became ready: ${err.message}\n${logs[p]!.slice(-20).join('\n')}`);
      });
      log(`${p} ready (pid ${child.pid})`);
    };
    // In dependency order, as compose starts them: content's replicas backfill from identity and
    // social-graph before it is ready, and it must know their addresses when it starts.
    for (const p of ['identity', 'social-graph'] as const) {
      start(p);
      await ready(p);
    }
    for (const p of ['content', 'notification'] as const) start(p);
    await Promise.all((['content', 'notification'] as const).map(ready));
    start('gateway');
    await ready('gateway');

    // The production nginx config, rendered as the image's envsubst step renders it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { render } = require(path.join(REPO, 'nginx/render.js')) as { render(o: object): { args: string[] } };
    const { args } = render({
      gateway: addr('gateway'),
      listen: nginxPort,
      outDir: path.join(work, 'nginx'),
      s3: new URL(store.endpoint).host,
      bucket: store.bucket,
      workerProcesses: 1,
      ...(opts.unlimited && { rateLimit: '100000r/s', burst: 100000 }),
    });
    const nginxBin = fs.existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';
    nginx = spawn(nginxBin, [...args, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
    const nginxErr: string[] = [];
    nginx.stderr!.on('data', (b: Buffer) => nginxErr.push(b.toString()));
    await waitFor(
      async () => {
        if (nginx!.exitCode !== null) throw new Error(`nginx exited: ${nginxErr.join('')}`);
        return (await fetch(`${origin}/nginx-healthz`).catch(() => null))?.ok ?? false;
      },
      10_000,
      50,
    );
    log(`nginx ready on ${origin}`);

    const pids = Object.fromEntries([...children.map(({ name, child }) => [name, child.pid!]), ['nginx', nginx.pid!]]) as ArtifactStack['pids'];
    return {
      url: origin,
      pids,
      metricsUrls: Object.fromEntries(PROCESSES.map((p) => [p, `http://127.0.0.1:${ports[p].metrics}/metrics`])) as Record<ProcessName, string>,
      memory: () => Object.fromEntries(children.filter(({ child }) => child.exitCode === null).map(({ name, child }) => [name, memoryOf(child.pid!)])),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

interface User {
  id: string;
  token: string;
}

/** Reads an SSE response into `events` until it is cancelled. */
function collectEvents(res: Response, events: Array<{ type: string; data: any }>) {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const pump = async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const type = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (type && data) events.push({ type, data: JSON.parse(data) });
      }
    }
  };
  const done = pump().catch(() => undefined);
  return { close: async () => (await reader.cancel().catch(() => undefined), await done) };
}

/**
 * One journey through nginx: two accounts, a follow accepted, a direct upload (presigned POST to
 * /<bucket> on the API host) used in a post, the image downloaded through nginx, the follower's
 * home feed, a like and a comment, each arriving on the author's live event stream.
 * Answers the names of the steps done.
 */
export async function smokeFlow(url: string): Promise<string[]> {
  const api: ApiClient = apiClient(url);
  const steps: string[] = [];
  const must = (ok: boolean, what: string, detail: unknown) => {
    if (!ok) throw new Error(`smoke: ${what}: ${JSON.stringify(detail)}`);
    steps.push(what);
  };
  const tag = crypto.randomBytes(4).toString('hex');
  const register = async (name: string): Promise<User> => {
    const res = await api.post('/api/users/register', { email: `${name}${tag}@smoke.test`, username: `${name}${tag}`, password: 'smoke-test-password' });
    must(res.status === 201, `register ${name}`, res.body);
    return { id: res.body.data.user.user_id, token: res.body.data.token };
  };

  const author = await register('author');
  const reader = await register('reader');

  // The author's live stream, open before anything happens to them.
  const stream = await fetch(`${url}/api/events/stream`, { headers: { authorization: `Bearer ${author.token}`, accept: 'text/event-stream' } });
  must(stream.status === 200 && /text\/event-stream/.test(stream.headers.get('content-type') ?? ''), 'event stream opens through nginx', stream.status);
  const events: Array<{ type: string; data: any }> = [];
  const sse = collectEvents(stream, events);
  try {
    const follow = await api.post(`/api/follows/request/${author.id}`, undefined, { token: reader.token });
    must(follow.status === 201, 'follow request (private account: pending)', follow.body);
    const accept = await api.post(`/api/follows/${follow.body.data.follows_id}`, { status: 'agree' }, { token: author.token });
    must(accept.status === 200, 'follow accepted', accept.body);

    const image = png(6, 4);
    const upload = await api.post('/api/media/uploads', { content_type: 'image/png', size_bytes: image.length }, { token: author.token });
    must(upload.status === 201, 'direct upload: presigned POST issued', upload.body);
    const { media_id: mediaId, upload: target } = upload.body.data as { media_id: string; upload: { url: string; fields: Record<string, string> } };
    must(target.url.startsWith(`${url}/`), 'upload URL is on the API host (nginx)', target.url);
    const form = new FormData();
    for (const [k, v] of Object.entries(target.fields)) form.append(k, v);
    form.append('file', new Blob([new Uint8Array(image)], { type: 'image/png' }));
    const put = await fetch(target.url, { method: 'POST', body: form });
    must(put.ok, 'direct upload through nginx to the store', { status: put.status, body: await put.text() });

    const post = await api.post('/api/posts/', { content: `smoke ${tag}`, media_ids: [mediaId] }, { token: author.token });
    must(post.status === 201, 'post with the uploaded media', post.body);
    const postId = post.body.data.post_id as string;

    const got = await api.get(`/api/posts/${postId}`, { token: reader.token });
    must(got.status === 200 && got.body.data.images.length === 1, 'post read by the follower', got.body);
    const imageUrl = got.body.data.images[0].url as string;
    must(imageUrl.startsWith(`${url}/`), 'image URL is on the API host (nginx)', imageUrl);
    const img = await fetch(imageUrl);
    const bytes = Buffer.from(await img.arrayBuffer());
    must(img.ok && bytes.subarray(0, 8).equals(image.subarray(0, 8)), 'image downloaded through nginx', { status: img.status, size: bytes.length });

    const feed = await waitFor(async () => {
      const res = await api.get('/api/posts', { token: reader.token });
      return res.status === 200 && res.body.data.posts.some((p: any) => p.post_id === postId) ? res : null;
    }, 15_000);
    must(true, "post in the follower's home feed", feed.status);

    const like = await api.post(`/api/posts/like/${postId}`, undefined, { token: reader.token });
    must(like.status === 200 && like.body.data.like_count === 1, 'like', like.body);
    const comment = await api.post(`/api/posts/comment/${postId}`, { content: 'nice one' }, { token: reader.token });
    must(comment.status === 201, 'comment', comment.body);

    await waitFor(() => (['like', 'comment'].every((t) => events.some((e) => e.type.includes(t))) ? true : null)).catch(() => {
      throw new Error(`smoke: the like and the comment never arrived on the stream; got ${JSON.stringify(events.map((e) => e.type))}`);
    });
    must(
      true,
      'like and comment arrive on the event stream',
      events.map((e) => e.type),
    );
  } finally {
    await sse.close();
  }
  return steps;
}
