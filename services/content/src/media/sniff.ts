import { imageSize } from 'image-size';

/** The image formats Shutter accepts, judged by their bytes (docs/api.md: whatever type is declared). */
export type ImageType = 'image/jpeg' | 'image/png' | 'image/webp';
export const IMAGE_TYPES: readonly ImageType[] = ['image/jpeg', 'image/png', 'image/webp'];

/** Bytes needed to tell the format apart. */
export const MAGIC_BYTES = 12;

/**
 * Where the dimensions are looked for: PNG and WebP carry them in their first 30 bytes, JPEG in
 * its SOF marker, after EXIF/ICC/XMP segments that are each at most 64 KiB.
 */
export const HEAD_BYTES = 1024 * 1024;

/** The format of a file from its first bytes (at least MAGIC_BYTES of them), or null. */
export function sniffImageType(head: Uint8Array): ImageType | null {
  if (head.length < MAGIC_BYTES) return null;
  if (head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'image/jpeg';
  if (Buffer.from(head.subarray(0, 8)).equals(PNG_SIGNATURE)) return 'image/png';
  if (ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 12) === 'WEBP') return 'image/webp';
  return null;
}

export interface ImageInfo {
  type: ImageType;
  /** As displayed: JPEG EXIF orientations 5–8 (rotated by 90°) swap width and height. */
  width: number;
  height: number;
}

/**
 * Type and dimensions of an image from its first bytes (up to HEAD_BYTES), or null when the bytes
 * are not a JPEG, PNG or WebP whose header can be read.
 */
export function inspectImage(head: Uint8Array): ImageInfo | null {
  const type = sniffImageType(head);
  if (!type) return null;
  let size: ReturnType<typeof imageSize>;
  try {
    size = imageSize(head);
  } catch {
    return null;
  }
  if (size.type !== EXPECTED_SIZE_TYPE[type] || !(size.width > 0) || !(size.height > 0)) return null;
  const rotated = (size.orientation ?? 1) >= 5;
  return { type, width: rotated ? size.height : size.width, height: rotated ? size.width : size.height };
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const EXPECTED_SIZE_TYPE: Record<ImageType, string> = { 'image/jpeg': 'jpg', 'image/png': 'png', 'image/webp': 'webp' };

const ascii = (b: Uint8Array, from: number, to: number) => Buffer.from(b.subarray(from, to)).toString('latin1');
