import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { MAX_IMAGE_BYTES } from '@shutter/contracts';
import type { content } from '@shutter/proto';
import { failedPrecondition, invalidArgument, newId, notFound, payloadTooLarge, unsupportedMediaType, validationFailed, type Logger } from '@shutter/kit';
import type { Knex } from '@shutter/kit/db';
import type { MediaStorage } from '../storage/media-storage';
import { mediaKey, objectKeysOf, processedColumns, type MediaRepository, type MediaRow, type ProcessedMedia, type StoredVariant } from './media-repository';
import { longSideFor, type PhotoStore, type Purpose } from './photo-store';
import { checkPixelBounds } from './image-processor';
import { HEAD_BYTES, IMAGE_TYPES, MAGIC_BYTES, inspectImage, sniffImageType } from './sniff';

/** A presigned POST is usable this long (docs/api.md: 10 minutes). */
export const UPLOAD_WINDOW_SECONDS = 600;

const NOT_AN_IMAGE = 'Only JPEG, PNG and WebP images are accepted.';
const TOO_LARGE = 'File is too large (at most 20 MiB).';

/** A media id checked and processed, ready to be used: `key` is the served full-size object. */
export interface ReadyMedia {
  id: string;
  key: string;
  width: number;
  height: number;
  blurhash: string;
  variants: StoredVariant[];
  /** What identifies its bytes for an idempotency fingerprint: the digest if known, else the id. */
  identity: string;
}

export interface MediaServiceDeps {
  db: Knex;
  media: MediaRepository;
  storage: MediaStorage;
  photos: PhotoStore;
  unusedTtlSeconds: number;
  /** MEDIA_KEEP_ORIGINALS: the uploaded bytes stay at the media key (never served). */
  keepOriginals: boolean;
  log: Logger;
}

/** The request field a refused image is reported under (docs/api.md 422 `errors[].field`). */
const streamField = (p: Purpose) => (p === 'profile' ? 'profile_image' : 'images');
const mediaIdField = (p: Purpose) => (p === 'profile' ? 'profile_image_media_id' : 'media_ids');

/**
 * Media owned by content: streamed uploads (type judged by the bytes, size capped, spooled to a
 * scratch file and processed before anything is stored), presigned POSTs for direct uploads
 * (processed into new keys when the media id is used), and the checks that make a media id
 * usable once, by its owner. Nothing a client uploaded is ever served (photo-store.ts).
 */
export function createMediaService(deps: MediaServiceDeps) {
  const { media, storage, photos, log } = deps;
  const expiresAt = () => new Date(Date.now() + deps.unusedTtlSeconds * 1000);

  const ready = (row: MediaRow): ReadyMedia => ({
    id: row.id,
    key: row.processed_key ?? row.key,
    width: row.width ?? 0,
    height: row.height ?? 0,
    blurhash: row.blurhash ?? '',
    variants: row.variants,
    identity: row.sha256 ?? row.id,
  });
  const withProcessed = (row: MediaRow, p: ProcessedMedia): MediaRow => ({
    ...row,
    processed_key: p.processedKey,
    processed_long_side: p.longSide,
    width: p.width,
    height: p.height,
    blurhash: p.blurhash,
    variants: p.variants,
  });
  const dropObjects = (keys: string[], what: string) => storage.deleteMany(keys).catch((err: unknown) => log.error({ err, keys }, `could not delete ${what}`));

  /**
   * A direct upload on use: its object is copied to a scratch file and processed into new keys
   * (once per purpose; a later use reuses them). The uploaded object is read once, here, so
   * writing to the presigned URL again afterwards changes nothing that is served.
   */
  async function processOnUse(row: MediaRow, purpose: Purpose): Promise<ReadyMedia> {
    const longSide = longSideFor(purpose);
    if (row.processed_key && row.processed_long_side === longSide) return ready(row);
    const path = await photos.tempPath();
    try {
      let size = await storage.download(row.key, path);
      // A streamed image (no original kept) processed for the other purpose: its processed copy is the source.
      if (size === null && row.processed_key) size = await storage.download(row.processed_key, path);
      if (size === null) throw failedPrecondition(`Media ${row.id} has not been uploaded yet.`, 'media_not_uploaded');
      if (size > MAX_IMAGE_BYTES) throw payloadTooLarge(TOO_LARGE);
      const type = sniffImageType(await photos.readHead(path, MAGIC_BYTES));
      if (!type) throw unsupportedMediaType(NOT_AN_IMAGE);
      const p = await photos.processAndStore(path, { ownerId: row.owner_id, id: row.id }, purpose, mediaIdField(purpose));
      if (!(await media.markProcessed(row.id, row.processed_key, p, { contentType: type, size }))) {
        // Another request processed it meanwhile: theirs is recorded, ours goes.
        await dropObjects(objectKeysOf({ key: p.processedKey, processed_key: null, variants: p.variants }), 'a duplicate processing');
        const now = await media.find(row.id);
        if (now?.processed_key && now.processed_long_side === longSide) return ready(now);
        throw failedPrecondition(`Media ${row.id} is being used by another request.`, 'media_used');
      }
      if (row.processed_key) await dropObjects([row.processed_key, ...row.variants.map((v) => v.key)], 'a replaced processing');
      return ready(withProcessed(row, p));
    } finally {
      await photos.removeTemp(path);
    }
  }

  async function deleteUnused(ownerId: string, ids: string[]): Promise<void> {
    const rows = await media.unusedOf(ownerId, ids);
    if (rows.length === 0) return;
    await storage.deleteMany(rows.flatMap((r) => objectKeysOf({ ...r, variants: r.variants ?? [] })));
    await media.deleteByIds(rows.map((r) => r.id));
  }

  /**
   * Checks media ids for use (in order): the caller's, not used, uploaded, really images within
   * the pixel bounds; processes them. Nothing is marked used here: `media.claim` does that in
   * the using transaction, and an unused media's processed objects go with it (discard, sweeper).
   */
  async function prepare(ownerId: string, ids: string[], purpose: Purpose = 'post'): Promise<ReadyMedia[]> {
    const rows = await media.findMany(ids);
    const now = Date.now();
    const checked = ids.map((id) => {
      const row = rows.get(id);
      if (!row || row.owner_id !== ownerId || row.expires_at.getTime() < now) throw notFound(`Media ${id} not found.`, 'media_not_found');
      if (row.used_at) throw failedPrecondition(`Media ${id} has already been used.`, 'media_used');
      return row;
    });
    const results = await Promise.allSettled(checked.map((row) => processOnUse(row, purpose)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return results.map((r) => (r as PromiseFulfilledResult<ReadyMedia>).value);
  }

  /** After a use committed: direct uploads' own objects go (the sweeper repeats it once the upload window closed). */
  async function afterUse(ids: string[]): Promise<void> {
    if (deps.keepOriginals) return;
    const rows = await media.presignedAmong(ids);
    if (rows.length)
      await dropObjects(
        rows.map((r) => r.key),
        'used uploads',
      );
  }

  return {
    /**
     * UploadMedia: one file from a client stream, processed before anything is stored; see
     * content.proto. A cancelled call (client gone, deadline) ends `requests` with CANCELLED.
     */
    async upload(requests: AsyncIterable<content.UploadMediaRequest>, ownerId: string): Promise<content.UploadedMedia> {
      const id = newId();
      const key = mediaKey(ownerId, id);
      const digest = createHash('sha256');
      let header: content.UploadMediaHeader | undefined;
      let file: FileHandle | undefined;
      let path: string | undefined;
      let head = Buffer.alloc(0);
      let bounded = false;
      let nextLook = MAGIC_BYTES;
      let size = 0;
      let stored: string[] = [];
      try {
        for await (const msg of requests) {
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
          if (!bounded && head.length < HEAD_BYTES) head = Buffer.concat([head, chunk.subarray(0, HEAD_BYTES - head.length)]);
          if (!file) {
            if (head.length < MAGIC_BYTES) continue;
            // Judged by the first bytes, before anything is written anywhere.
            if (!sniffImageType(head)) throw unsupportedMediaType(NOT_AN_IMAGE);
            path = await photos.tempPath();
            file = await open(path, 'w', 0o600);
            await file.write(head);
            if (size > head.length) await file.write(chunk.subarray(chunk.length - (size - head.length)));
          } else await file.write(chunk);
          // A header over the pixel bounds ends the upload here, not after 20 MiB (the pipeline checks
          // again). PNG and WebP say their size in the first 30 bytes; a JPEG's SOF may come later.
          if (!bounded && (head.length >= nextLook || head.length >= HEAD_BYTES)) {
            nextLook = head.length * 4;
            const info = inspectImage(head);
            if (info) checkPixelBounds(info.width, info.height, streamField(header.purpose === 'profile' ? 'profile' : 'post'));
            bounded = Boolean(info) || head.length >= HEAD_BYTES;
          }
        }
        if (!header) throw invalidArgument('An upload needs a header.');
        if (!file || !path) throw unsupportedMediaType(NOT_AN_IMAGE);
        await file.close();
        file = undefined;
        const type = sniffImageType(await photos.readHead(path, MAGIC_BYTES))!;
        const purpose: Purpose = header.purpose === 'profile' ? 'profile' : 'post';
        const p = await photos.processAndStore(path, { ownerId, id }, purpose, streamField(purpose));
        stored = [p.processedKey, ...p.variants.map((v) => v.key)];
        if (deps.keepOriginals) {
          const writer = storage.writer(key, type);
          stored.push(key);
          for await (const c of createReadStream(path, { highWaterMark: 1024 * 1024 })) await writer.write(c as Buffer);
          await writer.finish();
        }
        await media.insert({
          id,
          owner_id: ownerId,
          key,
          source: 'stream',
          declared_type: header.declaredContentType.slice(0, 255),
          max_bytes: MAX_IMAGE_BYTES,
          content_type: type,
          size_bytes: size,
          sha256: digest.digest('hex'),
          verified_at: new Date(),
          expires_at: expiresAt(),
          ...processedColumns(p),
        });
        return { mediaId: id, contentType: p.processedType, width: p.width, height: p.height, sizeBytes: size };
      } catch (err) {
        if (stored.length) await dropObjects(stored, 'a failed upload; the sweeper will not see it');
        throw err;
      } finally {
        await file?.close().catch(() => undefined);
        if (path) await photos.removeTemp(path);
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
    afterUse,

    /** DiscardMedia: the caller's unused media and their objects go. */
    discard: deleteUnused,

    /** ClaimProfileImage: a checked, processed media id becomes the caller's avatar; answers its served key. */
    async claimProfileImage(ownerId: string, mediaId: string): Promise<string> {
      const [item] = await prepare(ownerId, [mediaId], 'profile');
      const claimed = await deps.db.transaction((trx) => media.claim(trx, [mediaId], ownerId, 'profile'));
      if (claimed !== 1 || !item) throw failedPrecondition(`Media ${mediaId} has already been used.`, 'media_used');
      await afterUse([mediaId]);
      return item.key;
    },

    /** What to sign for each key: a processed image's served key, BlurHash and variants (see the repository). */
    servedImages: (keys: string[]) => media.servedImages(keys),
  };
}

export type MediaService = ReturnType<typeof createMediaService>;
