import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { createWriteStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GrpcStatus, ServiceError } from '@shutter/kit';
import type { ContentConfig } from '../config';
import { createUrlSigner, type SigningCredentials } from './url-signer';

/** S3's smallest part of a multipart upload (but the last): below it a file is one PutObject. */
export const PART_BYTES = 5 * 1024 * 1024;

/** Storage failures are the dependency's, never the client's: 503. */
export const storageUnavailable = (cause?: unknown) =>
  Object.assign(new ServiceError(GrpcStatus.UNAVAILABLE, 'Media storage is unavailable. Try again shortly.', 'service_unavailable'), { cause });

/** Writes one object from chunks: buffered up to PART_BYTES, then a multipart upload. */
export interface ObjectWriter {
  write(chunk: Buffer): Promise<void>;
  /** Completes the object; answers its size. */
  finish(): Promise<number>;
  /** Abandons a multipart upload in progress (a finished object is deleted by the caller). */
  abort(): Promise<void>;
}

/**
 * The bucket as content uses it: streamed writes, HEAD, ranged reads, batch deletes, presigned
 * POSTs for direct uploads and download URLs (url-signer.ts).
 */
export function createMediaStorage(config: ContentConfig) {
  const credentials =
    config.S3_ACCESS_KEY_ID && config.S3_SECRET_ACCESS_KEY ? { accessKeyId: config.S3_ACCESS_KEY_ID, secretAccessKey: config.S3_SECRET_ACCESS_KEY } : undefined;
  const s3 = new S3Client({
    endpoint: config.S3_ENDPOINT,
    region: config.S3_REGION,
    forcePathStyle: config.S3_FORCE_PATH_STYLE,
    credentials,
    // Checksums only where S3 requires them: S3-compatible stores do not all know the newer ones.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 3,
    requestHandler: { connectionTimeout: 3000, requestTimeout: 30_000 },
  });
  // Presigned POSTs are made for the endpoint clients use; nothing is sent from this client.
  const clientEndpoint = config.S3_CLIENT_ENDPOINT ?? config.S3_ENDPOINT;
  const presigner =
    clientEndpoint === config.S3_ENDPOINT
      ? s3
      : new S3Client({ endpoint: clientEndpoint, region: config.S3_REGION, forcePathStyle: config.S3_FORCE_PATH_STYLE, credentials });
  const Bucket = config.S3_BUCKET;
  const urls = createUrlSigner({
    endpoint: clientEndpoint,
    region: config.S3_REGION,
    bucket: Bucket,
    forcePathStyle: config.S3_FORCE_PATH_STYLE,
    publicUrl: config.S3_PUBLIC_URL,
    ttlSeconds: config.S3_PRESIGN_TTL,
    credentials: () => s3.config.credentials() as Promise<SigningCredentials>,
  });

  const call = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw storageUnavailable(err);
    }
  };

  return {
    urls,

    writer(key: string, contentType: string): ObjectWriter {
      let chunks: Buffer[] = [];
      let buffered = 0;
      let total = 0;
      let uploadId: string | undefined;
      const parts: Array<{ ETag?: string; PartNumber: number }> = [];

      const uploadPart = async () => {
        uploadId ??= (await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: key, ContentType: contentType }))).UploadId;
        const PartNumber = parts.length + 1;
        const body = Buffer.concat(chunks);
        chunks = [];
        buffered = 0;
        const res = await s3.send(new UploadPartCommand({ Bucket, Key: key, UploadId: uploadId, PartNumber, Body: body, ContentLength: body.length }));
        parts.push({ ETag: res.ETag, PartNumber });
      };

      return {
        async write(chunk) {
          chunks.push(chunk);
          buffered += chunk.length;
          total += chunk.length;
          if (buffered >= PART_BYTES) await call(uploadPart);
        },
        async finish() {
          await call(async () => {
            if (uploadId === undefined) {
              const body = Buffer.concat(chunks);
              await s3.send(new PutObjectCommand({ Bucket, Key: key, Body: body, ContentLength: body.length, ContentType: contentType }));
              return;
            }
            if (buffered > 0) await uploadPart();
            await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
          });
          return total;
        },
        async abort() {
          chunks = [];
          if (uploadId) await s3.send(new AbortMultipartUploadCommand({ Bucket, Key: key, UploadId: uploadId })).catch(() => undefined);
        },
      };
    },

    /**
     * One processed object: immutable (a new key per processing), so caches may keep it for good.
     */
    async put(key: string, body: Buffer, contentType: string): Promise<void> {
      await call(() =>
        s3.send(
          new PutObjectCommand({
            Bucket,
            Key: key,
            Body: body,
            ContentLength: body.length,
            ContentType: contentType,
            CacheControl: 'public, max-age=31536000, immutable',
          }),
        ),
      );
    },

    /** Copies an object into a local file; answers its size, or null when it does not exist. */
    async download(key: string, path: string): Promise<number | null> {
      let body: Readable;
      try {
        const res = await s3.send(new GetObjectCommand({ Bucket, Key: key }));
        body = res.Body as Readable;
      } catch (err) {
        const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
        if (e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return null;
        throw storageUnavailable(err);
      }
      const file = createWriteStream(path);
      let size = 0;
      body.on('data', (c: Buffer) => (size += c.length));
      await call(() => pipeline(body, file));
      return size;
    },

    /** Size and type of an object, or null when it does not exist. */
    async head(key: string): Promise<{ size: number; contentType?: string } | null> {
      try {
        const res = await s3.send(new HeadObjectCommand({ Bucket, Key: key }));
        return { size: res.ContentLength ?? 0, contentType: res.ContentType };
      } catch (err) {
        const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
        if (e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return null;
        throw storageUnavailable(err);
      }
    },

    /** The first `bytes` bytes of an object (a ranged GET). */
    async readHead(key: string, bytes: number): Promise<Buffer> {
      return call(async () => {
        const res = await s3.send(new GetObjectCommand({ Bucket, Key: key, Range: `bytes=0-${bytes - 1}` }));
        return Buffer.from((await res.Body?.transformToByteArray()) ?? []);
      });
    },

    /** Deletes objects (missing ones are fine), up to 1000 per request. */
    async deleteMany(keys: string[]): Promise<void> {
      for (let i = 0; i < keys.length; i += 1000) {
        const batch = keys.slice(i, i + 1000);
        const res = await call(() => s3.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } })));
        const failed = (res.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
        if (failed.length) throw storageUnavailable(new Error(`could not delete ${failed.length} objects: ${failed[0]?.Code ?? ''}`));
      }
    },

    /** A browser-usable POST whose policy allows exactly this key, type and size range. */
    async presignedPost(key: string, contentType: string, maxBytes: number, expiresSeconds: number) {
      return call(() =>
        createPresignedPost(presigner, {
          Bucket,
          Key: key,
          Conditions: [
            ['content-length-range', 1, maxBytes],
            ['eq', '$Content-Type', contentType],
          ],
          Fields: { 'Content-Type': contentType },
          Expires: expiresSeconds,
        }),
      );
    },

    destroy: () => {
      s3.destroy();
      if (presigner !== s3) presigner.destroy();
    },
  };
}

export type MediaStorage = ReturnType<typeof createMediaStorage>;
