/** A small HTTP client for API tests, JSON both ways: over loopback, or over a Fastify app's inject. */
export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export interface RequestOptions {
  token?: string;
  headers?: Record<string, string>;
  /** A JSON value, or a FormData for multipart, or a raw string. */
  body?: unknown;
}

/** What a transport answers: the status, the body as text, the headers. */
type Send = (
  method: string,
  path: string,
  headers: Record<string, string>,
  body: RequestInit['body'],
) => Promise<{ status: number; text: string; headers: Headers }>;

/** Real requests over loopback to `baseUrl` (a started gateway or nginx). */
export function apiClient(baseUrl: string) {
  return clientOver(async (method, path, headers, body) => {
    const res = await fetch(baseUrl + path, { method, headers, body });
    return { status: res.status, text: await res.text(), headers: res.headers };
  });
}

/** The same client over a Fastify app's `inject` (the gateway's fast tier: no socket, no listen). */
export function injectClient(app: { inject(opts: object): PromiseLike<{ statusCode: number; body: string; headers: Record<string, unknown> }> }) {
  return clientOver(async (method, path, headers, body) => {
    let payload: string | Buffer | undefined;
    if (body instanceof FormData) {
      // Encoded as fetch would send it: the multipart bytes and their boundary.
      const encoded = new Request('http://inject.local/', { method: 'POST', body });
      headers = { ...headers, 'content-type': encoded.headers.get('content-type') ?? '' };
      payload = Buffer.from(await encoded.arrayBuffer());
    } else payload = body as string | undefined;
    const res = await app.inject({ method, url: path, headers, payload });
    const out = new Headers();
    for (const [k, v] of Object.entries(res.headers)) for (const one of Array.isArray(v) ? v : [v]) if (one !== undefined) out.append(k, String(one));
    return { status: res.statusCode, text: res.body, headers: out };
  });
}

function clientOver(send: Send) {
  async function request<T = any>(method: string, path: string, opts: RequestOptions = {}): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    let body: RequestInit['body'];
    if (opts.body instanceof FormData) body = opts.body;
    else if (typeof opts.body === 'string') body = opts.body;
    else if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await send(method, path, headers, body);
    let parsed: unknown = res.text;
    try {
      parsed = res.text ? JSON.parse(res.text) : undefined;
    } catch {
      /* not JSON: keep the text */
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }
  return {
    request,
    get: <T = any>(path: string, opts?: RequestOptions) => request<T>('GET', path, opts),
    post: <T = any>(path: string, body?: unknown, opts?: RequestOptions) => request<T>('POST', path, { ...opts, body }),
    patch: <T = any>(path: string, body?: unknown, opts?: RequestOptions) => request<T>('PATCH', path, { ...opts, body }),
    delete: <T = any>(path: string, opts?: RequestOptions) => request<T>('DELETE', path, opts),
  };
}

export type ApiClient = ReturnType<typeof apiClient>;

/**
 * Polls `fn` until it returns a truthy value or the timeout passes. The default bound is generous
 * (the machine may be busy): a wait costs what the condition takes, the bound only matters on failure.
 */
export async function waitFor<T>(fn: () => Promise<T> | T, timeoutMs = 20_000, intervalMs = 50): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`waitFor timed out after ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
