import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  accounts,
  apiClient,
  createDatabase,
  dropDatabase,
  startStack,
  waitFor,
  withDatabase,
  png,
  type ApiClient,
  type Stack,
  type TestUser,
} from '@shutter/testing';
import { startLocalS3, type LocalS3 } from '../../packages/testing/src/s3';
import { backup, reconcile, restore, type BucketAccess } from '../../scripts/lib/backup';

/**
 * make backup / make restore (issue 14): a backup of a stack with users, a follow, a post with
 * images, a like, a comment and their notifications, restored into a fresh database and a fresh
 * bucket (another local S3), then a new stack on the restored pair finds every one of them.
 */
jest.setTimeout(120_000);

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'shutter-backup-'));
const restoredDb = `shutter_restored_${Date.now().toString(36)}`;
let source: Stack | undefined;
let restored: Stack | undefined;
let restoredS3: LocalS3 | undefined;

afterAll(async () => {
  await restored?.stop();
  await source?.stop();
  await restoredS3?.stop();
  await dropDatabase(process.env.TEST_PG_ADMIN_URL!, restoredDb).catch(() => undefined);
  fs.rmSync(work, { recursive: true, force: true });
});

const sourceBucket = (): BucketAccess => ({
  endpoint: process.env.TEST_S3_ENDPOINT,
  region: process.env.TEST_S3_REGION ?? 'us-east-1',
  bucket: process.env.TEST_S3_BUCKET ?? 'shutter-media',
  accessKeyId: process.env.TEST_S3_ACCESS_KEY_ID,
  secretAccessKey: process.env.TEST_S3_SECRET_ACCESS_KEY,
  forcePathStyle: true,
});

it('restores every post, image, follow and notification into a fresh database and bucket', async () => {
  source = await startStack();
  const api: ApiClient = apiClient(source.url);
  const { register, follow } = accounts(api, () => source!.env);
  const author = await register({ prefix: 'bka' });
  const reader = await register({ prefix: 'bkr' });
  const followsId = await follow(reader, author);

  const images = [png(5, 3), png(2, 7)];
  const form = new FormData();
  form.append('content', 'kept safe');
  images.forEach((im, i) => form.append('images', new Blob([new Uint8Array(im)], { type: 'image/png' }), `i${i}.png`));
  const created = await api.post('/api/posts', form, { token: author.token });
  expect(created.status).toBe(201);
  const postId = created.body.data.post_id as string;
  expect((await api.post(`/api/posts/like/${postId}`, undefined, { token: reader.token })).status).toBe(200);
  expect((await api.post(`/api/posts/comment/${postId}`, { content: 'a comment to keep' }, { token: reader.token })).status).toBe(201);
  // The notifications the event consumers wrote: like and comment for the author, the accepted
  // follow for the reader (the request itself is resolved once accepted).
  const eventsOf = async (a: ApiClient, token: string) =>
    ((await a.get('/api/events', { token })).body?.data?.events ?? []) as Array<{ event_id: string; type: string }>;
  const authorEvents = await waitFor(async () => ((await eventsOf(api, author.token)).length >= 2 ? eventsOf(api, author.token) : null));
  const readerEvents = await waitFor(async () => ((await eventsOf(api, reader.token)).length >= 1 ? eventsOf(api, reader.token) : null));
  expect(authorEvents.map((e) => e.type).sort()).toEqual(['comment', 'like']);
  expect(readerEvents.map((e) => e.type)).toEqual(['friend_agree']);

  // What the source serves (processed images: not the uploaded bytes).
  const served = await api.get(`/api/posts/${postId}`, { token: reader.token });
  const servedBytes = await Promise.all(
    (served.body.data.images as Array<{ url: string }>).map(async (im) => Buffer.from(await (await fetch(im.url)).arrayBuffer())),
  );
  expect(servedBytes).toHaveLength(images.length);

  const manifest = await backup({ databaseUrl: process.env.TEST_DATABASE_URL!, bucket: sourceBucket(), out: path.join(work, 'b1') });
  const postKeys = manifest.objects.map((o) => o.key).filter((k) => k.includes(author.id));
  expect(postKeys.length).toBeGreaterThanOrEqual(images.length);
  expect(manifest.missing).toEqual([]);
  await source.stop();
  source = undefined;

  // A fresh database and a fresh bucket on another S3 server.
  await createDatabase(process.env.TEST_PG_ADMIN_URL!, restoredDb);
  restoredS3 = await startLocalS3({ dir: path.join(work, 's3-restored'), bucket: 'restored-media' });
  const target: BucketAccess = {
    endpoint: restoredS3.endpoint,
    region: restoredS3.region,
    bucket: restoredS3.bucket,
    accessKeyId: restoredS3.accessKeyId,
    secretAccessKey: restoredS3.secretAccessKey,
    forcePathStyle: true,
  };
  const restoredUrl = withDatabase(process.env.TEST_PG_ADMIN_URL!, restoredDb);
  await restore({ databaseUrl: restoredUrl, bucket: target, from: path.join(work, 'b1'), noOwner: true });
  const rec = await reconcile({ databaseUrl: restoredUrl, bucket: target });
  expect(rec.missingObjects).toEqual([]);

  // A stack on the restored pair (its own Redis prefix: nothing cached from before).
  restored = await startStack({
    extraEnv: {
      DATABASE_URL: restoredUrl,
      REDIS_KEY_PREFIX: `${process.env.TEST_REDIS_PREFIX}restored:`,
      S3_ENDPOINT: target.endpoint!,
      S3_BUCKET: target.bucket,
    },
  });
  const api2 = apiClient(restored.url);
  const login = async (u: TestUser) => {
    const res = await api2.post('/api/users/login', { email: u.email, password: u.password });
    expect(res.status).toBe(200);
    return res.body.data.token as string;
  };
  const authorToken = await login(author);
  const readerToken = await login(reader);

  const post = await api2.get(`/api/posts/${postId}`, { token: readerToken });
  expect(post.status).toBe(200);
  expect(post.body.data.content).toBe('kept safe');
  expect(post.body.data.like_count).toBe(1);
  expect(post.body.data.comment_count).toBe(1);
  expect(post.body.data.images).toHaveLength(2);
  for (const [i, im] of (post.body.data.images as Array<{ url: string }>).entries()) {
    expect(im.url.startsWith(target.endpoint!)).toBe(true);
    const bytes = Buffer.from(await (await fetch(im.url)).arrayBuffer());
    expect(bytes.equals(servedBytes[i]!)).toBe(true);
  }
  const feed = await api2.get('/api/posts', { token: readerToken });
  expect(feed.body.data.posts.map((p: any) => p.post_id)).toContain(postId);
  const following = await api2.get(`/api/follows?type=following&status=agree&user_id=${reader.id}`, { token: readerToken });
  expect(JSON.stringify(following.body)).toContain(followsId);
  expect((await eventsOf(api2, authorToken)).map((e) => e.event_id).sort()).toEqual(authorEvents.map((e) => e.event_id).sort());
  expect((await eventsOf(api2, readerToken)).map((e) => e.event_id)).toEqual(readerEvents.map((e) => e.event_id));
});
