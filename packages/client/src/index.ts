import createFetchClient, { type Client } from 'openapi-fetch';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { components, paths } from './schema';

export type { components, paths };
export type User = components['schemas']['User'];
export type Post = components['schemas']['Post'];
export type Comment = components['schemas']['Comment'];
export type Event = components['schemas']['Event'];
export type FollowListItem = components['schemas']['FollowListItem'];
export type ErrorBody = components['schemas']['Error'];

/**
 * The Shutter API from TypeScript, in Node (20+) and browsers. `api` is the generated,
 * fully typed client (openapi-fetch over docs/openapi.json); the rest is what generation cannot
 * give: the envelope unwrapped, errors thrown as `ShutterError`, tokens kept and refreshed,
 * page iteration, direct uploads, and the live event stream.
 */

/** A 4xx/5xx answer, with the envelope's fields. */
export class ShutterError extends Error {
  override readonly name = 'ShutterError';
  constructor(
    readonly status: number,
    readonly body: ErrorBody,
  ) {
    super(`${status} ${body.code}: ${body.detail}`);
  }
  get code(): string {
    return this.body.code;
  }
  get requestId(): string {
    return this.body.request_id;
  }
  /** Per-field problems of a 422. */
  get errors(): ErrorBody['errors'] {
    return this.body.errors;
  }
}

export interface Tokens {
  token: string;
  refresh_token: string;
}

export interface ShutterClientOptions {
  /** The gateway's public URL, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** Tokens from an earlier session (e.g. stored by the app). */
  tokens?: Tokens;
  /** Called whenever the tokens change (login, refresh, logout → null): store them here. */
  onTokens?: (tokens: Tokens | null) => void;
  fetch?: typeof fetch;
}

type Result<T> = { data?: T; error?: unknown; response: Response };
type Envelope<T> = { data: T };

export function createShutterClient(opts: ShutterClientOptions) {
  const baseUrl = opts.baseUrl.replace(/\/$/, '');
  const doFetch = opts.fetch ?? globalThis.fetch.bind(globalThis);
  let tokens: Tokens | null = opts.tokens ?? null;
  let refreshing: Promise<boolean> | null = null;

  const setTokens = (t: Tokens | null) => {
    tokens = t;
    opts.onTokens?.(t);
  };

  /** The refresh call itself never goes through the retry below. */
  async function refresh(): Promise<boolean> {
    const current = tokens;
    if (!current) return false;
    const res = await doFetch(`${baseUrl}/api/users/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: current.refresh_token }),
    });
    if (!res.ok) {
      if (res.status === 401) setTokens(null); // the session ended: sign in again
      return false;
    }
    const body = (await res.json()) as Envelope<Tokens>;
    setTokens({ token: body.data.token, refresh_token: body.data.refresh_token });
    return true;
  }

  /**
   * Every request carries the access token; a 401 refreshes the tokens once (one refresh shared
   * by concurrent requests) and repeats the request with the new token.
   */
  const authFetch = async (input: Request): Promise<Response> => {
    const retry = input.clone();
    const send = (req: Request) => {
      if (tokens) req.headers.set('authorization', `Bearer ${tokens.token}`);
      return doFetch(req);
    };
    const res = await send(input);
    if (res.status !== 401 || !tokens) return res;
    const sent = tokens.token;
    refreshing ??= refresh().finally(() => (refreshing = null));
    if (!(await refreshing) && tokens?.token === sent) return res;
    return send(retry);
  };

  const api: Client<paths> = createFetchClient<paths>({ baseUrl, fetch: authFetch });

  /** The envelope's `data`, or a ShutterError. */
  async function unwrap<T>(call: Promise<Result<Envelope<T>>>): Promise<T> {
    const { data, error, response } = await call;
    if (error !== undefined || !data) throw new ShutterError(response.status, error as ErrorBody);
    return data.data;
  }

  async function signIn(call: Promise<Result<Envelope<Tokens & { user: User }>>>): Promise<User> {
    const data = await unwrap(call);
    setTokens({ token: data.token, refresh_token: data.refresh_token });
    return data.user;
  }

  return {
    /** The generated client: every route, typed from the OpenAPI document. */
    api,
    unwrap,
    get tokens(): Tokens | null {
      return tokens;
    },

    register: (body: { email: string; username: string; password: string }) => signIn(api.POST('/api/users/register', { body })),
    login: (body: { email: string; password: string }) => signIn(api.POST('/api/users/login', { body })),
    async logout(): Promise<void> {
      if (tokens) await unwrap(api.POST('/api/users/logout', { body: { refresh_token: tokens.refresh_token } }));
      setTokens(null);
    },
    /** Refreshes the tokens now (requests also do it by themselves on a 401). */
    refresh,

    /**
     * Walks an offset list (`page`/`limit`) to its end: `for await (const u of client.pages(p =>
     * client.api.GET('/api/users', { params: { query: { search: 'ada', ...p } } }), 'users'))`.
     */
    async *pages<K extends string, T>(
      fetchPage: (p: { page: number; limit: number }) => Promise<Result<Envelope<{ [k in K]: T[] } & { pagination: { total: number } }>>>,
      key: K,
      limit = 100,
    ): AsyncGenerator<T> {
      for (let page = 1; ; page++) {
        const data = await unwrap(fetchPage({ page, limit }));
        yield* data[key];
        if (page >= data.pagination.total) return;
      }
    },

    /** Walks a post list (home feed or a user's posts) with its cursor, newest first. */
    async *posts(query: { user_id?: string; search?: string; limit?: number } = {}): AsyncGenerator<Post> {
      let cursor: string | undefined;
      for (;;) {
        const data = await unwrap(api.GET('/api/posts', { params: { query: { ...query, cursor_post_id: cursor } } }));
        yield* data.posts;
        const next = data.pagination.cursor_post_id;
        if (!data.pagination.has_more || !next) return;
        cursor = next;
      }
    },

    /**
     * Direct upload: asks for an upload slot, sends the bytes straight to the object store, and
     * returns the media id to name in a post (`media_ids`) or a profile (`profile_image_media_id`).
     */
    async upload(file: Blob, contentType: 'image/jpeg' | 'image/png' | 'image/webp'): Promise<string> {
      const slot = await unwrap(api.POST('/api/media/uploads', { body: { content_type: contentType, size_bytes: file.size } }));
      const form = new FormData();
      for (const [k, v] of Object.entries(slot.upload.fields)) form.append(k, String(v));
      form.append('file', file);
      const res = await doFetch(slot.upload.url, { method: 'POST', body: form });
      if (!res.ok) throw new Error(`the object store refused the upload: ${res.status} ${await res.text()}`);
      return slot.media_id;
    },

    /**
     * The live event stream (Server-Sent Events over fetch, with the bearer token). It reconnects
     * after a drop with `Last-Event-ID`, so events sent meanwhile arrive first, until `close()`.
     */
    stream(onEvent: (event: Event) => void, options: { lastEventId?: string; onError?: (err: unknown) => void } = {}) {
      const abort = new AbortController();
      let lastEventId = options.lastEventId;
      const done = (async () => {
        for (let attempt = 0; !abort.signal.aborted; attempt++) {
          try {
            const headers: Record<string, string> = { accept: 'text/event-stream' };
            if (lastEventId) headers['last-event-id'] = lastEventId;
            const res = await authFetch(new Request(`${baseUrl}/api/events/stream`, { headers, signal: abort.signal }));
            if (!res.ok || !res.body) {
              const body = (await res.json().catch(() => ({ detail: res.statusText, code: 'unknown', request_id: '' }))) as ErrorBody;
              throw new ShutterError(res.status, body);
            }
            attempt = 0;
            for await (const frame of sseFrames(res.body)) {
              if (frame.id) lastEventId = frame.id;
              if (frame.data) onEvent(JSON.parse(frame.data) as Event);
            }
          } catch (err) {
            if (abort.signal.aborted) return;
            options.onError?.(err);
            if (err instanceof ShutterError && err.status < 500 && err.status !== 429) return; // not worth retrying
          }
          await new Promise((r) => setTimeout(r, Math.min(30_000, 500 * 2 ** attempt)));
        }
      })();
      return {
        /** Stops the stream; resolves when it has stopped. */
        async close(): Promise<void> {
          abort.abort();
          await done;
        },
      };
    },
  };
}

export type ShutterClient = ReturnType<typeof createShutterClient>;

/** Server-Sent Events frames from a response body (eventsource-parser does the parsing). */
async function* sseFrames(body: ReadableStream<Uint8Array>): AsyncGenerator<EventSourceMessage> {
  const frames: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (e) => frames.push(e) });
  const decoder = new TextDecoder();
  const reader = body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      parser.feed(decoder.decode(value, { stream: true }));
      yield* frames.splice(0);
    }
  } finally {
    reader.releaseLock();
  }
}
