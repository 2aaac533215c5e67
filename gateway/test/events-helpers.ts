import { events } from '@shutter/proto';
import { newId, type Redis } from '@shutter/kit';
import { accounts, type ApiClient, type TestUser } from '@shutter/testing';

/** Helpers of the events tests: users, domain events on the stream, SSE frames. */

export type { TestUser };

/** A new private account named after `prefix` (the actor names in event messages). */
export const registerUser = (api: ApiClient, prefix = 'ev'): Promise<TestUser> => accounts(api, () => process.env).register({ prefix });

/**
 * XADD of one domain event exactly as the kit's outbox relay writes it (fields id, type, key,
 * payload, source): what the producers (social-graph, content) put on the stream.
 */
export async function publishEvent(redis: Redis, type: string, key: string, payload: Uint8Array, opts: { id?: string; stream?: string } = {}): Promise<string> {
  const id = opts.id ?? newId();
  await redis.xadd(
    opts.stream ?? 'events',
    'MAXLEN',
    '~',
    '100000',
    '*',
    'id',
    id,
    'type',
    type,
    'key',
    key,
    'payload',
    Buffer.from(payload),
    'source',
    'test',
  );
  return id;
}

export const followPayload = (f: { followsId: string; followerId: string; followeeId: string; status: 'pending' | 'agree'; actorId: string }) =>
  events.FollowChanged.encode(f).finish();

export const likePayload = (l: { postId: string; postAuthorId: string; userId: string }) => events.PostLikeChanged.encode(l).finish();

export const commentPayload = (c: { commentId: string; postId: string; postAuthorId: string; userId: string; actorId?: string }) =>
  events.CommentChanged.encode({ actorId: c.userId, ...c }).finish();

export const postPayload = (p: { postId: string; authorId: string }) => events.PostChanged.encode({ ...p, createdAtMs: Date.now(), mediaKeys: [] }).finish();

export interface SseFrame {
  id?: string;
  event?: string;
  data?: string;
  retry?: string;
  comments: string[];
}

/** Parses one SSE frame (the text between blank lines). */
export function parseFrame(text: string): SseFrame {
  const frame: SseFrame = { comments: [] };
  for (const line of text.split('\n')) {
    if (line.startsWith(':')) {
      frame.comments.push(line.slice(1).trim());
      continue;
    }
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
    if (field === 'data') frame.data = frame.data === undefined ? value : `${frame.data}\n${value}`;
    else if (field === 'id' || field === 'event' || field === 'retry') frame[field] = value;
  }
  return frame;
}

export interface SseClient {
  status: number;
  headers: Headers;
  /** Every frame received so far, in order. */
  frames: SseFrame[];
  /** Frames that carry an event (data). */
  events(): Array<{ id: string; type: string; item: any }>;
  /** True once the server ended the response. */
  ended(): boolean;
  close(): void;
}

/** Opens GET /api/events/stream with fetch and reads it frame by frame in the background. */
export async function openStream(baseUrl: string, token: string, headers: Record<string, string> = {}): Promise<SseClient> {
  return openStreamUrl(`${baseUrl}/api/events/stream`, { authorization: `Bearer ${token}`, ...headers });
}

/** The same for any URL and headers (a `?ticket=` stream sends no Authorization). */
export async function openStreamUrl(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const ctrl = new AbortController();
  const res = await fetch(url, { headers, signal: ctrl.signal });
  const frames: SseFrame[] = [];
  let ended = false;
  if (res.body && res.status === 200) {
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    void (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          for (let i = buffer.indexOf('\n\n'); i >= 0; i = buffer.indexOf('\n\n')) {
            frames.push(parseFrame(buffer.slice(0, i)));
            buffer = buffer.slice(i + 2);
          }
        }
      } catch {
        /* aborted by close() */
      }
      ended = true;
    })();
  } else {
    ended = true;
  }
  return {
    status: res.status,
    headers: res.headers,
    frames,
    events: () => frames.filter((f) => f.data !== undefined).map((f) => ({ id: f.id ?? '', type: f.event ?? '', item: JSON.parse(f.data ?? 'null') })),
    ended: () => ended,
    close: () => ctrl.abort(),
  };
}
