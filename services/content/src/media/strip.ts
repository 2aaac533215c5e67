/**
 * The last step of the photo pipeline: an encoded image keeps only the blocks that draw it.
 * libvips already writes no EXIF, XMP, IPTC, ICC or comments when not asked to keep them, but it
 * does write a PNG `pHYs` (pixel density), and a whitelist here does not depend on what a future
 * libvips writes by default. Each format is walked by its own structure; blocks are dropped
 * whole, never edited (PNG CRCs stay valid), so the result decodes exactly as before.
 */

const PNG_KEEP = new Set(['IHDR', 'PLTE', 'tRNS', 'IDAT', 'IEND']);
const WEBP_KEEP = new Set(['VP8 ', 'VP8L', 'VP8X', 'ALPH', 'ANIM', 'ANMF']);

export function stripMetadata(bytes: Buffer, type: 'image/jpeg' | 'image/png' | 'image/webp'): Buffer {
  if (type === 'image/png') return stripPng(bytes);
  if (type === 'image/jpeg') return stripJpeg(bytes);
  return stripWebp(bytes);
}

function stripPng(b: Buffer): Buffer {
  const parts: Buffer[] = [b.subarray(0, 8)];
  for (let i = 8; i + 12 <= b.length;) {
    const end = i + 12 + b.readUInt32BE(i);
    if (PNG_KEEP.has(b.toString('latin1', i + 4, i + 8))) parts.push(b.subarray(i, end));
    i = end;
  }
  return Buffer.concat(parts);
}

/** Drops APP1–APP15 and COM segments before the scan (APP0 is the JFIF header). */
function stripJpeg(b: Buffer): Buffer {
  const parts: Buffer[] = [b.subarray(0, 2)];
  let i = 2;
  while (i + 4 <= b.length && b[i] === 0xff) {
    const marker = b[i + 1]!;
    if (marker === 0xda) break; // start of scan: the rest is image data
    const end = i + 2 + b.readUInt16BE(i + 2);
    if (!((marker >= 0xe1 && marker <= 0xef) || marker === 0xfe)) parts.push(b.subarray(i, end));
    i = end;
  }
  parts.push(b.subarray(i));
  return Buffer.concat(parts);
}

/** Drops EXIF, XMP and ICCP chunks and clears their VP8X flags. */
function stripWebp(b: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let i = 12; i + 8 <= b.length;) {
    const len = b.readUInt32LE(i + 4);
    const end = Math.min(b.length, i + 8 + len + (len % 2));
    const id = b.toString('latin1', i, i + 4);
    if (WEBP_KEEP.has(id)) {
      const chunk = Buffer.from(b.subarray(i, end));
      if (id === 'VP8X') chunk[8] = chunk[8]! & ~0x2c; // ICC 0x20, EXIF 0x08, XMP 0x04
      parts.push(chunk);
    }
    i = end;
  }
  const body = Buffer.concat(parts);
  const header = Buffer.from(b.subarray(0, 12));
  header.writeUInt32LE(body.length + 4, 4);
  return Buffer.concat([header, body]);
}
