import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { newId, type Logger } from '@shutter/kit';
import type { MediaStorage } from '../storage/media-storage';
import { POST_LONG_SIDE, PROFILE_LONG_SIDE, type ImageProcessor } from './image-processor';
import { processedKeyBase, type ProcessedMedia } from './media-repository';

/** What a media id is processed for: the long side and the field a refusal names (API.md). */
export type Purpose = 'post' | 'profile';
export const longSideFor = (purpose: Purpose) => (purpose === 'profile' ? PROFILE_LONG_SIDE : POST_LONG_SIDE);

const EXT: Record<string, string> = { 'image/jpeg': 'jpg', 'image/png': 'png', 'image/webp': 'webp' };

/**
 * Processes one image file and stores the result under fresh keys (media-repository.ts
 * `processedKeyBase`): the full-size image and its variants. Either all objects are stored or
 * none is (what was written is deleted on failure). Also owns the local scratch files uploads
 * are spooled to, so the raw bytes never sit in memory and never reach S3 unless kept.
 */
export function createPhotoStore(deps: { processor: ImageProcessor; storage: MediaStorage; tmpDir: string; log: Logger }) {
  const { processor, storage, log } = deps;
  let tmpReady: Promise<unknown> | undefined;

  return {
    /** A new scratch file path (the directory is made on first use); the caller removes it with `removeTemp`. */
    async tempPath(): Promise<string> {
      tmpReady ??= mkdir(deps.tmpDir, { recursive: true, mode: 0o700 });
      await tmpReady;
      return join(deps.tmpDir, `upload-${newId()}`);
    },

    /** Scratch files older than `maxAgeMs` (left by a process that crashed mid-upload); answers how many went. */
    async removeStale(maxAgeMs: number): Promise<number> {
      const names = await readdir(deps.tmpDir).catch(() => [] as string[]);
      let removed = 0;
      for (const name of names.filter((n) => n.startsWith('upload-'))) {
        const path = join(deps.tmpDir, name);
        const info = await stat(path).catch(() => null);
        if (info && Date.now() - info.mtimeMs > maxAgeMs) {
          await rm(path, { force: true });
          removed += 1;
        }
      }
      return removed;
    },

    removeTemp: (path: string) => rm(path, { force: true }).catch((err: unknown) => log.warn({ err, path }, 'could not remove a scratch file')),

    /** The first `bytes` bytes of a local file. */
    async readHead(path: string, bytes: number): Promise<Buffer> {
      const fh = await open(path, 'r');
      try {
        const buf = Buffer.alloc(bytes);
        const { bytesRead } = await fh.read(buf, 0, bytes, 0);
        return buf.subarray(0, bytesRead);
      } finally {
        await fh.close();
      }
    },

    /** Runs the pipeline on `source` and stores what it makes; see image-processor.ts for what a refusal is. */
    async processAndStore(source: string | Buffer, media: { ownerId: string; id: string }, purpose: Purpose, field: string): Promise<ProcessedMedia> {
      const longSide = longSideFor(purpose);
      const out = await processor.process(source, { longSide, field });
      const base = processedKeyBase(media.ownerId, media.id, randomBytes(6).toString('hex'));
      const processedKey = `${base}full.${EXT[out.full.contentType] ?? 'img'}`;
      const variants = out.variants.map((v) => ({ key: `${base}w${v.width}.webp`, width: v.width, height: v.height, bytes: v.bytes }));
      const keys = [processedKey, ...variants.map((v) => v.key)];
      try {
        await Promise.all([storage.put(processedKey, out.full.bytes, out.full.contentType), ...variants.map((v) => storage.put(v.key, v.bytes, 'image/webp'))]);
      } catch (err) {
        await storage.deleteMany(keys).catch((e: unknown) => log.error({ err: e, keys }, 'could not delete the objects of a failed processing'));
        throw err;
      }
      return {
        processedKey,
        processedType: out.full.contentType,
        longSide,
        width: out.full.width,
        height: out.full.height,
        blurhash: out.blurhash,
        variants: variants.map(({ key, width, height }) => ({ key, width, height })),
      };
    },
  };
}

export type PhotoStore = ReturnType<typeof createPhotoStore>;
