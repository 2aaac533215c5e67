import { encode as encodeBlurhash } from 'blurhash';
import sharp from 'sharp';
import { Gauge, Histogram } from 'prom-client';
import { unsupportedMediaType, validationFailed, type Metrics } from '@shutter/kit';
import type { ImageType } from './sniff';
import { stripMetadata } from './strip';

/** docs/api.md *Photos*: more than this on a side, or more pixels than MAX_PIXELS, is refused (422). */
export const MAX_SIDE_PX = 10_000;
export const MAX_PIXELS = 50_000_000;
/** Long side of the served full-size image: posts, and profile images (docs/api.md). */
export const POST_LONG_SIDE = 2048;
export const PROFILE_LONG_SIDE = 1024;
/** Variant widths, each made only when narrower than the full-size image (docs/api.md). */
export const VARIANT_WIDTHS = [320, 640, 1080] as const;

/** docs/api.md's pixel bounds, as a field error (422) naming the request's field. */
export function checkPixelBounds(width: number, height: number, field: string): void {
  if (width > MAX_SIDE_PX || height > MAX_SIDE_PX)
    throw validationFailed(field, `image is ${width}×${height} px; at most ${MAX_SIDE_PX} px a side are accepted`);
  if (width * height > MAX_PIXELS)
    throw validationFailed(field, `image has ${((width * height) / 1e6).toFixed(1)} megapixels; at most ${MAX_PIXELS / 1e6} are accepted`);
}

export interface ProcessedFile {
  bytes: Buffer;
  width: number;
  height: number;
  contentType: ImageType;
}

export interface ProcessedImage {
  full: ProcessedFile;
  /** WebP, narrowest first. */
  variants: ProcessedFile[];
  blurhash: string;
}

const NOT_AN_IMAGE = 'Only JPEG, PNG and WebP images are accepted.';
const FORMAT_TYPES: Record<string, ImageType> = { jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp' };

/**
 * The photo pipeline (docs/api.md *Photos*, docs/architecture.md *Photos*), on libvips through sharp:
 *
 * 1. The header alone (sharp `metadata()`, no pixel decoded) gives the dimensions: more than
 *    10 000 px a side or 50 MP → a field error (422). Decoding then runs with
 *    `limitInputPixels` = 50 MP as libvips' own guard should a header lie.
 * 2. Decode, apply the EXIF orientation to the pixels (`rotate()`), scale so the long side is at
 *    most `longSide` (never up), convert to sRGB, and re-encode in the input's format with no
 *    metadata at all: sharp writes none (EXIF, XMP, IPTC, ICC, comments) unless asked to keep it,
 *    and strip.ts then keeps only the blocks that draw the image (a PNG's pHYs goes too).
 * 3. WebP variants of 320/640/1080 px wide (narrower than the full size only) and a BlurHash are
 *    made from the re-encoded full-size image, so they cannot carry anything it does not (WebP
 *    effort 2: a third less CPU than the default 4 for the three variants of a 12-MP photo).
 *
 * Cost: at most `concurrency` images decode at once (a FIFO semaphore; libvips itself runs one
 * thread per image and keeps no operation cache), so memory is bounded by `concurrency` × one
 * decode, not by the number of uploads. JPEG and WebP shrink while decoding; a 50 MP PNG streams
 * line by line unless a 90° orientation makes libvips hold it whole (~150 MB as RGB).
 */
export function createImageProcessor(opts: { concurrency: number; metrics?: Metrics }) {
  // Global to libvips: one worker thread per image, and no cache of decoded images between calls.
  sharp.concurrency(1);
  sharp.cache(false);
  const limit = createSemaphore(Math.max(1, opts.concurrency));
  const registry = opts.metrics?.registry;
  const duration =
    registry &&
    new Histogram({
      name: 'image_processing_seconds',
      help: 'Photo pipeline: decode, orient, resize, re-encode, variants and BlurHash of one image (after its wait for the pool)',
      labelNames: ['outcome'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
      registers: [registry],
    });
  if (registry) {
    new Gauge({
      name: 'image_processing_in_flight',
      help: 'Images being processed or waiting for the pool',
      registers: [registry],
      collect() {
        this.set(limit.pending());
      },
    });
  }

  async function process(input: string | Buffer, args: { longSide: number; field: string }): Promise<ProcessedImage> {
    const { longSide, field } = args;
    const meta = await sharp(input, { limitInputPixels: false })
      .metadata()
      .catch(() => null);
    const contentType = meta ? FORMAT_TYPES[meta.format] : undefined;
    if (!meta || !contentType || !(meta.width > 0) || !(meta.height > 0)) throw unsupportedMediaType(NOT_AN_IMAGE);
    checkPixelBounds(meta.width, meta.height, field);
    return limit(async () => {
      const end = duration?.startTimer();
      try {
        const full = await encodeFull(input, contentType, longSide);
        const variants: ProcessedFile[] = [];
        for (const width of VARIANT_WIDTHS) {
          if (width >= full.width) break;
          const out = await sharp(full.bytes).resize({ width }).webp({ quality: 80, effort: 2 }).toBuffer({ resolveWithObject: true });
          variants.push({ bytes: stripMetadata(out.data, 'image/webp'), width: out.info.width, height: out.info.height, contentType: 'image/webp' });
        }
        const blurhash = await blurhashOf(full.bytes);
        end?.({ outcome: 'ok' });
        return { full, variants, blurhash };
      } catch (err) {
        end?.({ outcome: 'undecodable' });
        // A header that parsed but pixels that do not decode (truncated, corrupt): not an image.
        throw Object.assign(unsupportedMediaType(NOT_AN_IMAGE), { cause: err });
      }
    });
  }

  return { process, pending: limit.pending };
}

async function encodeFull(input: string | Buffer, type: ImageType, longSide: number): Promise<ProcessedFile> {
  const pipeline = sharp(input, { limitInputPixels: MAX_PIXELS, failOn: 'error' })
    .rotate()
    .resize({ width: longSide, height: longSide, fit: 'inside', withoutEnlargement: true })
    .toColourspace('srgb');
  if (type === 'image/jpeg') pipeline.jpeg({ quality: 85 });
  else if (type === 'image/png') pipeline.png({ compressionLevel: 7 });
  else pipeline.webp({ quality: 85 });
  const out = await pipeline.toBuffer({ resolveWithObject: true });
  return { bytes: stripMetadata(out.data, type), width: out.info.width, height: out.info.height, contentType: type };
}

/** BlurHash of a 32-px-long-side thumbnail; 4 components along the long side, 3 across. */
async function blurhashOf(image: Buffer): Promise<string> {
  const { data, info } = await sharp(image).resize({ width: 32, height: 32, fit: 'inside' }).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const landscape = info.width >= info.height;
  return encodeBlurhash(new Uint8ClampedArray(data.buffer, data.byteOffset, data.length), info.width, info.height, landscape ? 4 : 3, landscape ? 3 : 4);
}

/** At most `size` tasks at once, the rest wait in arrival order. */
function createSemaphore(size: number) {
  let running = 0;
  const waiting: Array<() => void> = [];
  const run = async <T>(task: () => Promise<T>): Promise<T> => {
    if (running >= size) await new Promise<void>((resolve) => waiting.push(resolve));
    else running += 1;
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running -= 1;
    }
  };
  return Object.assign(run, { pending: () => waiting.length + running });
}

export type ImageProcessor = ReturnType<typeof createImageProcessor>;
