import { createHash } from 'node:crypto';
import type { ServerReadableStream } from '@grpc/grpc-js';
import type { content } from '@shutter/proto';
import {
  GrpcStatus,
  ServiceError,
  failedPrecondition,
  invalidArgument,
  newId,
  notFound,
  payloadTooLarge,
  unsupportedMediaType,
  validationFailed,
  type Knex,
  type Logger,
} from '@shutter/kit';
import type { MediaStorage, ObjectWriter } from '../storage/media-storage';
import { mediaKey, type MediaRepository, type MediaRow } from './media-repository';
import { HEAD_BYTES, IMAGE_TYPES, MAGIC_BYTES, MAX_IMAGE_BYTES, inspectImage, sniffImageType, type ImageType } from './sniff';

/** A presigned POST is usable this long (API.md: 10 minutes). */
export const UPLOAD_WINDOW_SECONDS = 600;

const NOT_AN_IMAGE = 'Only JPEG, PNG and WebP images are accepted.';
/** The client went away (or gave up) mid-upload: an expected end, not a server error. */
const uploadCancelled = () => new ServiceError(GrpcStatus.CANCELLED, 'The upload was cancelled.', 'cancelled');
const TOO_LARGE = 'File is too large (at most 20 MiB).';

/** A media id checked and ready to be used: its object exists and is a real image. */
export interface ReadyMedia {
  id: string;
  key: string;
  width: number;
  height: number;
  /** What identifies its bytes for an idempotency fingerprint: the digest if known, else the id. */
  identity: string;
}

export interface MediaServiceDeps {
  db: Knex;
  media: MediaRepository;
  storage: MediaStorage;
  unusedTtlSeconds: number;
  log: Logger;
}

/**
 * Media owned by content: streamed uploads (type judged by the bytes, size capped, nothing left
 * behind on failure), presigned POSTs for direct uploads, and the checks that make a media id
 * usable once, by its owner, after its object exists.
 */
export function createMediaService(deps: MediaServiceDeps) {
  const { media, storage, log } = deps;
  const expiresAt = () => new Date(Date.now() + deps.unusedTtlSeconds * 1000);

  /** Verifies a direct upload's object on first use: it exists, fits, and is really an image. */
  async function verify(row: MediaRow): Promise<ReadyMedia> {
    if (row.verified_at && row.width && row.height) return ready(row);
    const head = await storage.head(row.key);
    if (!head) throw failedPrecondition(`Media ${row.id} has not been uploaded yet.`, 'media_not_uploaded');
    if (head.size > MAX_IMAGE_BYTES) throw payloadTooLarge(TOO_LARGE);
    const info = inspectImage(await storage.readHead(row.key, HEAD_BYTES));
    if (!info) throw unsupportedMediaType(NOT_AN_IMAGE);
    await media.markVerified(row.id, { contentType: info.type, size: head.size, width: info.width, height: info.height });
    return { id: row.id, key: row.key, width: info.width, height: info.height, identity: row.sha256 ?? row.id };
  }

  const ready = (row: MediaRow): ReadyMedia => ({ id: row.id, key: row.key, width: row.width ?? 0, height: row.height ?? 0, identity: row.sha256 ?? row.id });

  async function deleteUnused(ownerId: string, ids: string[]): Promise<void> {
    const rows = await media.unusedOf(ownerId, ids);
    if (rows.length === 0) return;
    await storage.deleteMany(rows.map((r) => r.key));
    await media.deleteByIds(rows.map((r) => r.id));
  }

  /**
   * Checks media ids for use (in order): the caller's, not used, uploaded, really images.
   * Nothing is marked used here: `media.claim` does that in the using transaction.
   */
  async function prepare(ownerId: string, ids: string[]): Promise<ReadyMedia[]> {
    const rows = await media.findMany(ids);
    const now = Date.now();
    const checked = ids.map((id) => {
      const row = rows.get(id);
      if (!row || row.owner_id !== ownerId || row.expires_at.getTime() < now) throw notFound(`Media ${id} not found.`, 'media_not_found');
      if (row.used_at) throw failedPrecondition(`Media ${id} has already been used.`, 'media_used');
      return row;
    });
    const results = await Promise.allSettled(checked.map(verify));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return results.map((r) => (r as PromiseFulfilledResult<ReadyMedia>).value);
  }

  return {
    /** UploadMedia: one file from a client stream; see content.proto. */
    async upload(call: ServerReadableStream<content.UploadMediaRequest, content.UploadedMedia>, ownerId: string): Promise<content.UploadedMedia> {
      const id = newId();
      const key = mediaKey(ownerId, id);
      const digest = createHash('sha256');
      let header: content.UploadMediaHeader | undefined;
      let type: ImageType | null = null;
      let writer: ObjectWriter | undefined;
      let early: Buffer[] = [];
      let head = Buffer.alloc(0);
      let size = 0;
      // A cancelled call (client gone, deadline) must stop the loop, not leave it waiting.
      const onCancel = () => call.destroy(uploadCancelled());
      call.once('cancelled', onCancel);
      try {
        for await (const msg of call as AsyncIterable<content.UploadMediaRequest>) {
          if (!header) {
            if (!msg.header) throw invalidArgument('The first message of an upload must be its header.');
            header = msg.header;
            continue;
          }
          const chunk = msg.data;
          if (!chunk || chunk.length === 0) continue;
          size += chunk.length;
          if (size > MAX_IMAGE_BYTES) throw payloadTooLarge(TOO_LARGE);
          digest.update(chunk);
          if (head.length < HEAD_BYTES) head = Buffer.concat([head, chunk.subarray(0, HEAD_BYTES - head.length)]);
          if (!writer) {
            early.push(chunk);
            if (head.length < MAGIC_BYTES) continue;
            // Judged by the first bytes, before anything is stored.
            type = sniffImageType(head);
            if (!type) throw unsupportedMediaType(NOT_AN_IMAGE);
            writer = storage.writer(key, type);
            for (const c of early) await writer.write(c);
            early = [];
            continue;
          }
          await writer.write(chunk);
        }
        if (call.cancelled) throw uploadCancelled();
        if (!header) throw invalidArgument('An upload needs a header.');
        const info = inspectImage(head);
        if (!writer || !info || info.type !== type) throw unsupportedMediaType(NOT_AN_IMAGE);
        await writer.finish();
        await media.insert({
          id,
          owner_id: ownerId,
          key,
          source: 'stream',
          declared_type: header.declaredContentType.slice(0, 255),
          max_bytes: MAX_IMAGE_BYTES,
          content_type: info.type,
          size_bytes: size,
          width: info.width,
          height: info.height,
          sha256: digest.digest('hex'),
          verified_at: new Date(),
          expires_at: expiresAt(),
        });
        return { mediaId: id, contentType: info.type, width: info.width, height: info.height, sizeBytes: size };
      } catch (err) {
        if (writer) {
          await writer.abort();
          await storage.deleteMany([key]).catch((e: unknown) => log.error({ err: e, key }, 'could not delete a failed upload; the sweeper will not see it'));
        }
        throw err;
      } finally {
        call.off('cancelled', onCancel);
      }
    },

    /** CreateMediaUpload: a presigned POST for one image of a declared type and size. */
    async createUpload(ownerId: string, req: content.CreateMediaUploadRequest): Promise<content.MediaUpload> {
      const type = req.contentType.trim().toLowerCase();
      if (!(IMAGE_TYPES as readonly string[]).includes(type)) throw unsupportedMediaType(NOT_AN_IMAGE);
      if (!(req.sizeBytes >= 1)) throw validationFailed('size_bytes', 'size_bytes must be at least 1');
      if (req.sizeBytes > MAX_IMAGE_BYTES) throw payloadTooLarge(TOO_LARGE);
      const id = newId();
      const key = mediaKey(ownerId, id);
      const post = await storage.presignedPost(key, type, req.sizeBytes, UPLOAD_WINDOW_SECONDS);
      await media.insert({ id, owner_id: ownerId, key, source: 'presigned', declared_type: type, max_bytes: req.sizeBytes, expires_at: expiresAt() });
      return { mediaId: id, method: 'POST', url: post.url, fields: post.fields, expiresAt: new Date(Date.now() + UPLOAD_WINDOW_SECONDS * 1000) };
    },

    prepare,

    /** DiscardMedia: the caller's unused media and their objects go. */
    discard: deleteUnused,

    /** ClaimProfileImage: a checked media id becomes the caller's avatar; answers its key. */
    async claimProfileImage(ownerId: string, mediaId: string): Promise<string> {
      const [item] = await prepare(ownerId, [mediaId]);
      const claimed = await deps.db.transaction((trx) => media.claim(trx, [mediaId], ownerId, 'profile'));
      if (claimed !== 1 || !item) throw failedPrecondition(`Media ${mediaId} has already been used.`, 'media_used');
      return item.key;
    },
  };
}

export type MediaService = ReturnType<typeof createMediaService>;
