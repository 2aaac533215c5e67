import * as http from 'node:http';

export interface OtlpSink {
  /** The value for OTEL_EXPORTER_OTLP_ENDPOINT (the exporter appends /v1/traces). */
  url: string;
  /** Export requests and body bytes received so far. */
  stats(): { requests: number; bytes: number };
  stop(): Promise<void>;
}

/**
 * An OTLP/HTTP endpoint that accepts every export and discards it: what the exporting processes
 * pay for tracing, without a collector's own cost (BENCH_TRACING). Answers an empty success in
 * the request's encoding (JSON `{}` or an empty protobuf message).
 */
export async function startOtlpSink(): Promise<OtlpSink> {
  let requests = 0;
  let bytes = 0;
  const server = http.createServer((req, res) => {
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    req.on('end', () => {
      requests++;
      const json = (req.headers['content-type'] ?? '').includes('json');
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' });
      res.end(json ? '{}' : undefined);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${addr.port}`,
    stats: () => ({ requests, bytes }),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
