/** autocannon runs as the report wants them: requests/s and latency percentiles, failures counted. */
import autocannon from 'autocannon';

export interface RouteResult {
  rps: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  /** Non-2xx answers plus connection errors and timeouts. */
  errors: number;
  requests: number;
  /** Status code → count, for what was not 2xx. */
  failures?: Record<string, number>;
}

export interface Shot {
  method?: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface RunOptions {
  url: string;
  /** One request's shape; called again for every request, so each may differ (round robin). */
  next: () => Shot;
  seconds: number;
  connections: number;
  /** Requests/s across all connections (the load sweep); unset: as fast as answered. */
  rate?: number;
  /** Stop after this many requests instead of after `seconds`. */
  amount?: number;
}

export async function run(o: RunOptions): Promise<RouteResult> {
  const first = o.next();
  const result = await autocannon({
    url: o.url,
    connections: o.connections,
    ...(o.amount ? { amount: o.amount } : { duration: o.seconds }),
    ...(o.rate ? { overallRate: o.rate } : {}),
    timeout: 20,
    requests: [
      {
        method: first.method ?? 'GET',
        path: first.path,
        setupRequest: (req: autocannon.Request) => {
          const s = o.next();
          return { ...req, method: s.method ?? 'GET', path: s.path, headers: s.headers ?? {}, body: s.body };
        },
      },
    ],
  });
  const failures: Record<string, number> = {};
  const codes = (result as unknown as { statusCodeStats?: Record<string, { count: number }> }).statusCodeStats ?? {};
  for (const [code, s] of Object.entries(codes)) if (!code.startsWith('2')) failures[code] = s.count;
  if (result.errors) failures.connection_errors = result.errors;
  if (result.timeouts) failures.timeouts = result.timeouts;
  return {
    rps: Math.round(result.requests.average * 10) / 10,
    p50_ms: result.latency.p50,
    p90_ms: result.latency.p90,
    p99_ms: result.latency.p99,
    errors: result.non2xx + result.errors + result.timeouts,
    requests: result.requests.total,
    ...(Object.keys(failures).length ? { failures } : {}),
  };
}

/** A round robin over `items`. */
export function cycle<T>(items: T[]): () => T {
  if (items.length === 0) throw new Error('cycle over nothing');
  let i = 0;
  return () => items[i++ % items.length]!;
}

/** A multipart body with `content` and one image, as a client posts it. */
export function multipartPost(content: string, png: Buffer): { body: Buffer; contentType: string } {
  const boundary = '----shutterbench7d1f';
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="content"\r\n\r\n${content}\r\n`),
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="images"; filename="p.png"\r\nContent-Type: image/png\r\n\r\n`),
    png,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { body, contentType: `multipart/form-data; boundary=${boundary}` };
}
