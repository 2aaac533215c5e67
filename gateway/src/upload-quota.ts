import { Transform, type Readable } from 'node:stream';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Logger, Redis } from '@shutter/kit';
import { HttpError } from './errors';
import type { Media } from './media';

/**
 * Per-user upload quotas (README *Limits*): image files per hour and bytes per day, whatever the
 * way in (multipart or direct upload), in Redis windows shared by every gateway process. A file
 * is counted when it starts (refused before a byte is stored); its bytes as they stream, so a
 * file that crosses the daily budget is cut off and discarded. Redis down: not enforced.
 */
export interface UploadQuota {
  /** Counts one file (and `declaredBytes`, for a direct upload); 429 when over a quota. */
  startFile(userId: string, declaredBytes?: number): Promise<void>;
  /** Counts streamed bytes; 429 once the day's budget is spent. */
  addBytes(userId: string, bytes: number): Promise<void>;
}

/** Keys under the gateway's `ratelimit:` space (its Redis ACL user owns exactly that and `live:`). */
export function createUploadQuota(redis: Redis, opts: { filesPerHour: number; bytesPerDay: number }, log: Logger): UploadQuota {
  const files = new RateLimiterRedis({ storeClient: redis, keyPrefix: 'ratelimit:quota:files', points: opts.filesPerHour, duration: 3600 });
  const bytes = new RateLimiterRedis({ storeClient: redis, keyPrefix: 'ratelimit:quota:bytes', points: opts.bytesPerDay, duration: 86_400 });
  const gib = (n: number) => `${Math.round((n / 1024 ** 3) * 10) / 10} GiB`;

  async function consume(limiter: RateLimiterRedis, key: string, points: number, sentence: string): Promise<void> {
    if (points <= 0) return;
    try {
      await limiter.consume(key, Math.ceil(points));
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) {
        log.warn({ err }, 'upload quota not applied: Redis unavailable');
        return;
      }
      const seconds = Math.max(1, Math.ceil(err.msBeforeNext / 1000));
      throw new HttpError(429, sentence, 'upload_quota_exceeded', { retryAfter: seconds });
    }
  }

  return {
    async startFile(userId, declaredBytes) {
      await consume(files, userId, 1, `Upload quota reached: at most ${opts.filesPerHour} images per hour.`);
      if (declaredBytes) await this.addBytes(userId, declaredBytes);
    },
    async addBytes(userId, n) {
      await consume(bytes, userId, n, `Upload quota reached: at most ${gib(opts.bytesPerDay)} of images per day.`);
    },
  };
}

/** Counts bytes as they pass, in steps of `step`, and fails the stream when the quota refuses. */
function metered(stream: Readable, count: (bytes: number) => Promise<void>, step = 1024 * 1024): Readable {
  let pending = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      pending += chunk.length;
      if (pending < step) return done(null, chunk);
      const n = pending;
      pending = 0;
      count(n).then(() => done(null, chunk), done);
    },
    flush(done) {
      count(pending).then(() => done(), done);
    },
  });
  const cut = () => meter.destroy(stream.errored ?? new Error('the part ended early'));
  stream.once('error', (err) => meter.destroy(err));
  stream.once('close', () => {
    if (!stream.readableEnded) cut();
  });
  // busboy's 20 MiB cut-off is announced on the part: the upload listens for it on what it reads.
  stream.once('limit', () => meter.emit('limit'));
  // Refused midway: the rest of the part is read and dropped, so the form reader moves on.
  meter.once('close', () => {
    if (!stream.readableEnded) stream.resume();
  });
  if (stream.destroyed && !stream.readableEnded) cut();
  return stream.pipe(meter);
}

/** `media` whose streamed uploads count against the caller's quota. */
export function withUploadQuota(media: Media, quota: UploadQuota): Media {
  return {
    ...media,
    async upload(file, purpose, opts) {
      const userId = opts.userId;
      if (!userId) return media.upload(file, purpose, opts);
      try {
        await quota.startFile(userId);
      } catch (err) {
        file.stream.resume(); // drop this part so the form reader reaches the error
        throw err;
      }
      return media.upload({ ...file, stream: metered(file.stream, (n) => quota.addBytes(userId, n)) }, purpose, opts);
    },
  };
}
