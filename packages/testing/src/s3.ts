import * as fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import { CreateBucketCommand, PutBucketCorsCommand, S3Client } from '@aws-sdk/client-s3';

/** A running local S3-protocol server and what a client needs to use it. */
export interface LocalS3 {
  endpoint: string;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  stop(): Promise<void>;
}

/** The S3_* variables content reads to use `s3` (path-style: a local server has no bucket subdomains). */
export function contentS3Env(s3: Omit<LocalS3, 'stop'>): Record<string, string> {
  return {
    S3_ENDPOINT: s3.endpoint,
    S3_REGION: s3.region,
    S3_BUCKET: s3.bucket,
    S3_ACCESS_KEY_ID: s3.accessKeyId,
    S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
    S3_FORCE_PATH_STYLE: 'true',
  };
}

/** The slice of s3rver (CommonJS, untyped) used here. */
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverCtor = new (opts: { address: string; port: number; silent: boolean; directory: string; allowMismatchedSignatures: boolean }) => S3rverInstance;

/** s3rver accepts only its built-in key pair; requests are signature-checked with it. */
const ACCESS_KEY_ID = 'S3RVER';
const SECRET_ACCESS_KEY = 'S3RVER';

/**
 * Starts s3rver (an S3-protocol server from npm, files in `dir`) on 127.0.0.1 — for the tests and
 * `make dev`. The bucket is created with the SDK (kept if it exists) and allows browser uploads
 * from any origin, as a presigned POST from a web client needs. `port` 0 or unset: a free port.
 */
export async function startLocalS3(opts: { dir: string; port?: number; bucket?: string; region?: string }): Promise<LocalS3> {
  fs.mkdirSync(opts.dir, { recursive: true });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const S3rver = require('s3rver') as S3rverCtor;
  const server = new S3rver({ address: '127.0.0.1', port: opts.port ?? 0, silent: true, directory: opts.dir, allowMismatchedSignatures: false });
  const addr = await server.run();
  const endpoint = `http://127.0.0.1:${addr.port}`;
  const region = opts.region ?? 'us-east-1';
  const bucket = opts.bucket ?? 'shutter-media';
  const s3 = new S3Client({
    endpoint,
    region,
    forcePathStyle: true,
    credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket })).catch((err: { name?: string }) => {
      if (err.name !== 'BucketAlreadyOwnedByYou' && err.name !== 'BucketAlreadyExists') throw err;
    });
    await s3.send(
      new PutBucketCorsCommand({
        Bucket: bucket,
        CORSConfiguration: {
          CORSRules: [
            { AllowedOrigins: ['*'], AllowedMethods: ['GET', 'HEAD', 'POST', 'PUT'], AllowedHeaders: ['*'], ExposeHeaders: ['ETag'], MaxAgeSeconds: 3000 },
          ],
        },
      }),
    );
  } catch (err) {
    await server.close();
    throw err;
  } finally {
    s3.destroy();
  }
  return { endpoint, region, bucket, accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY, stop: () => server.close() };
}
