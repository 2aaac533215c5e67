import type { Readable } from 'node:stream';
import { content } from '@shutter/proto';
import { cacheCounter, type CallOptions, type Metrics } from '@shutter/kit';
import type { ServiceClients } from './clients';
import type { MediaUrls, ProfileImage } from './presenters/users';
import { HttpError } from './errors';

/** Media as the gateway needs it: URLs per response, streamed uploads, media ids put to use. */
export interface Media extends MediaUrls {
  image(key: string): Promise<ProfileImage>;
  /** Streams an uploaded file to content, which processes it for a post or a profile image; answers its media id. */
  upload(file: { stream: Readable; filename: string; mimetype: string }, purpose: 'post' | 'profile', opts: CallOptions): Promise<string>;
  /** Uses a media id (once, by its owner) as a profile image; answers the object key. */
  claimProfileImage(mediaId: string, opts: CallOptions): Promise<string>;
  /** Deletes the caller's unused media (the files of a multipart request that failed). */
  discard(mediaIds: string[], opts: CallOptions): Promise<void>;
}

/** An upload may be slow (a phone on a poor network): one file gets this long. */
export const UPLOAD_DEADLINE_MS = 10 * 60_000;
const MAX_CACHED_URLS = 50_000;

export const fileTooLarge = () => new HttpError(413, 'File is too large (at most 20 MiB).', 'payload_too_large');

/**
 * An upload as UploadMedia's messages: the header, then the part's chunks as busboy yields them
 * (the kit's client stream pulls them with flow control). Throws what ends the upload on this
 * side: busboy's 20 MiB cut-off, the part's error, a form that ends inside the file.
 */
async function* uploadMessages(
  file: { stream: Readable; filename: string; mimetype: string },
  purpose: 'post' | 'profile',
): AsyncGenerator<content.UploadMediaRequest> {
  const { stream } = file;
  // busboy stops a file at 20 MiB (+1 byte) and says so: content must not keep a part of it.
  let limited = false;
  const onLimit = () => (limited = true);
  stream.once('limit', onLimit);
  try {
    yield { header: { filename: file.filename.slice(0, 255), declaredContentType: file.mimetype.slice(0, 255), purpose } };
    // Not destroyed when the upload stops early: the rest of the part is read below, so the
    // multipart parser reaches the next one.
    for await (const chunk of stream.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      if (limited) throw fileTooLarge();
      yield { data: chunk };
    }
    if (limited) throw fileTooLarge();
  } catch (err) {
    // A truncated form: the parser may destroy the part without an error of its own.
    if ((err as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE') {
      throw stream.errored ?? new HttpError(400, 'The multipart form ended inside a file.', 'malformed_multipart');
    }
    throw err;
  } finally {
    stream.off('limit', onLimit);
    if (!stream.readableEnded) stream.resume();
  }
}

/**
 * Content owns media; the gateway never buffers a file and holds no S3 credentials.
 *
 * - `upload` streams a file part to content over gRPC client streaming (header, then chunks as
 *   busboy yields them, with flow control: `uploadMessages`), so memory stays at a few chunks per upload.
 * - `image`/`url` ask content for download URLs, batched: every key asked for in the same turn of
 *   the event loop (a page of users) goes in one SignMediaUrls call. A URL (with a processed
 *   image's BlurHash and variant URLs) is kept until content's `reusable_until`, so it is still
 *   valid for S3_PRESIGN_TTL whenever it is handed out.
 */
export function createMedia(client: ServiceClients['content'], metrics?: Metrics): Media {
  const count = cacheCounter(metrics, 'media_url');
  const cache = new Map<string, { image: ProfileImage; until: number }>();
  type Waiter = { resolve: (image: ProfileImage) => void; reject: (err: unknown) => void };
  let batch: Map<string, Waiter[]> | null = null;

  async function flush(waiting: Map<string, Waiter[]>): Promise<void> {
    try {
      const res = await client.signMediaUrls({ keys: [...waiting.keys()] });
      for (const u of res.urls) {
        // A processed image carries its BlurHash and variants (docs/api.md: profile images may).
        const image: ProfileImage = u.blurhash
          ? { url: u.url, blurhash: u.blurhash, variants: u.variants.map((v) => ({ url: v.url, width: v.width, height: v.height })) }
          : { url: u.url };
        if (cache.size >= MAX_CACHED_URLS) cache.delete(cache.keys().next().value as string);
        cache.set(u.key, { image, until: u.reusableUntil?.getTime() ?? 0 });
        for (const w of waiting.get(u.key) ?? []) w.resolve(image);
        waiting.delete(u.key);
      }
      for (const ws of waiting.values()) for (const w of ws) w.reject(new Error('no URL for a media key'));
    } catch (err) {
      for (const ws of waiting.values()) for (const w of ws) w.reject(err);
    }
  }

  function image(key: string): Promise<ProfileImage> {
    const hit = cache.get(key);
    const fresh = hit !== undefined && hit.until > Date.now();
    count(fresh ? 'hit' : 'miss');
    if (fresh) return Promise.resolve(hit.image);
    return new Promise((resolve, reject) => {
      if (!batch) {
        const waiting = new Map<string, Waiter[]>();
        batch = waiting;
        setImmediate(() => {
          batch = null;
          void flush(waiting);
        });
      }
      const list = batch.get(key) ?? [];
      list.push({ resolve, reject });
      batch.set(key, list);
    });
  }

  return {
    image,
    url: async (key) => (await image(key)).url,

    upload(file, purpose, opts) {
      return client.clientStream('uploadMedia', uploadMessages(file, purpose), { ...opts, deadlineMs: UPLOAD_DEADLINE_MS }).then((res) => res.mediaId);
    },

    async claimProfileImage(mediaId, opts) {
      return (await client.claimProfileImage({ mediaId }, opts)).key;
    },

    async discard(mediaIds, opts) {
      if (mediaIds.length) await client.discardMedia({ mediaIds }, opts);
    },
  };
}
