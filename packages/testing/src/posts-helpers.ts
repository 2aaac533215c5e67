import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { accounts, type TestUser } from './accounts';
import { waitFor, type ApiClient, type ApiResponse } from './http';
import type { Stack } from './stack';
import { png } from './media-fixtures';

/** Helpers of the posts and media API tests: users in every relationship, posts, the bucket. */

export function postsHelpers(api: ApiClient, stack: () => Stack) {
  const { register, adminToken, follow } = accounts(api, () => stack().env);

  /** A multipart post with the given images (default: one PNG). */
  async function postMultipart(
    user: TestUser,
    content = 'a post',
    images: Array<{ bytes: Buffer; type?: string; name?: string }> = [{ bytes: png(3, 2) }],
    headers: Record<string, string> = {},
  ): Promise<ApiResponse> {
    const form = new FormData();
    form.append('content', content);
    images.forEach((im, i) => form.append('images', new Blob([im.bytes], { type: im.type ?? 'image/png' }), im.name ?? `image${i}.png`));
    return api.post('/api/posts', form, { token: user.token, headers });
  }

  async function createPost(user: TestUser, content = 'a post'): Promise<string> {
    const res = await postMultipart(user, content);
    expect(res.status).toBe(201);
    return res.body.data.post_id;
  }

  /** Polls until `user` sees the post with `status` (visibility follows events: milliseconds). */
  async function waitForPostStatus(user: TestUser, postId: string, status: number): Promise<void> {
    await waitFor(async () => (await api.get(`/api/posts/${postId}`, { token: user.token })).status === status);
  }

  return { register, adminToken, follow, postMultipart, createPost, waitForPostStatus };
}

/** The keys of this run's bucket under a prefix (`media/<user id>/`). */
export async function listKeys(prefix: string): Promise<string[]> {
  const e = process.env;
  const s3 = new S3Client({
    endpoint: e.TEST_S3_ENDPOINT,
    region: e.TEST_S3_REGION ?? 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: e.TEST_S3_ACCESS_KEY_ID ?? '', secretAccessKey: e.TEST_S3_SECRET_ACCESS_KEY ?? '' },
  });
  try {
    const res = await s3.send(new ListObjectsV2Command({ Bucket: e.TEST_S3_BUCKET, Prefix: prefix }));
    return (res.Contents ?? []).map((o) => o.Key ?? '');
  } finally {
    s3.destroy();
  }
}
