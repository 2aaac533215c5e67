import { events } from '@shutter/proto';
import { apiClient, png, postsHelpers, startStack, testRedis, waitFor, type ApiClient, type Stack } from '@shutter/testing';
import type { Redis } from '@shutter/kit';

let stack: Stack;
let api: ApiClient;
let redis: Redis;
let h: ReturnType<typeof postsHelpers>;

beforeAll(async () => {
  stack = await startStack();
  api = apiClient(stack.url);
  redis = testRedis();
  h = postsHelpers(api, () => stack);
});
afterAll(async () => {
  await redis?.quit();
  await stack?.stop();
});

/** Events on the stream about one aggregate (its key), oldest first, as {type, payload}. */
async function eventsAbout(key: string): Promise<Array<{ type: string; payload: Buffer }>> {
  const entries = (
    await (redis as unknown as { xrevrangeBuffer(...a: Array<string | number>): Promise<Array<[Buffer, Buffer[]]>> }).xrevrangeBuffer(
      'events',
      '+',
      '-',
      'COUNT',
      5000,
    )
  ).reverse();
  const out: Array<{ type: string; payload: Buffer }> = [];
  for (const [, fields] of entries) {
    const f = new Map<string, Buffer>();
    for (let i = 0; i + 1 < fields.length; i += 2) f.set(fields[i]!.toString(), fields[i + 1]!);
    if (f.get('key')?.toString() === key) out.push({ type: f.get('type')!.toString(), payload: f.get('payload')! });
  }
  return out;
}

describe("content's events, through the outbox to the stream", () => {
  it('post.created, post.liked, post.unliked, comment.created, comment.deleted, post.deleted carry their payloads', async () => {
    const author = await h.register({ public: true });
    const fan = await h.register();
    const res = await h.postMultipart(author, 'evented', [{ bytes: png(2, 2) }]);
    const postId = res.body.data.post_id as string;
    await api.post(`/api/posts/like/${postId}`, undefined, { token: fan.token });
    await api.post(`/api/posts/like/${postId}`, undefined, { token: fan.token }); // a repeat emits nothing
    await api.post(`/api/posts/unlike/${postId}`, undefined, { token: fan.token });
    const commentId = (await api.post(`/api/posts/comment/${postId}`, { content: 'hey' }, { token: fan.token })).body.data.comment_id as string;
    await api.delete(`/api/posts/comment/${commentId}`, { token: author.token });
    await api.delete(`/api/posts/${postId}`, { token: author.token });

    // Another suite's stack with its own Redis prefix may hold content's outbox leadership for a few
    // seconds (the run shares one database): then these events reach this stream after it stops.
    const postEvents = await waitFor(async () => {
      const got = await eventsAbout(postId);
      return got.some((e) => e.type === 'post.deleted') ? got : null;
    }, 20_000);
    expect(postEvents.map((e) => e.type)).toEqual(['post.created', 'post.liked', 'post.unliked', 'post.deleted']);
    const created = events.PostChanged.decode(postEvents[0]!.payload);
    expect(created).toMatchObject({ postId, authorId: author.id });
    expect(Math.abs(created.createdAtMs - Date.now())).toBeLessThan(60_000);
    expect(events.PostLikeChanged.decode(postEvents[1]!.payload)).toEqual({ postId, postAuthorId: author.id, userId: fan.id });
    const deleted = events.PostChanged.decode(postEvents[3]!.payload);
    // Every object of the post's image goes: the served full-size image (variants too when the image
    // had any) and the uploaded object if it is still there (photo pipeline, README *Photos*).
    expect(deleted.mediaKeys.length).toBeGreaterThan(0);
    for (const key of deleted.mediaKeys) expect(key).toMatch(new RegExp(`^media/${author.id}/`));
    expect(deleted.mediaKeys.some((k) => /\/full\.\w+$/.test(k))).toBe(true);

    const commentEvents = await waitFor(async () => {
      const got = await eventsAbout(commentId);
      return got.length === 2 ? got : null;
    }, 20_000);
    expect(commentEvents.map((e) => e.type)).toEqual(['comment.created', 'comment.deleted']);
    expect(events.CommentChanged.decode(commentEvents[0]!.payload)).toEqual({ commentId, postId, postAuthorId: author.id, userId: fan.id, actorId: fan.id });
    expect(events.CommentChanged.decode(commentEvents[1]!.payload)).toEqual({ commentId, postId, postAuthorId: author.id, userId: fan.id, actorId: author.id });
  });
});
