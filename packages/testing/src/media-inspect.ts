import * as zlib from 'node:zlib';

/*
 * Reads served image bytes by their format's own structure (JPEG segments, PNG chunks, RIFF
 * chunks), independently of the library that wrote them, to say what metadata they carry.
 */

export interface Inspected {
  format: 'jpeg' | 'png' | 'webp';
  width: number;
  height: number;
  /** Every segment/chunk that carries metadata (EXIF, XMP, IPTC, ICC, comments, text, times). */
  metadata: string[];
  /** Every segment/chunk name, in order (for failure messages). */
  blocks: string[];
}

export function inspect(bytes: Buffer): Inspected {
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return inspectJpeg(bytes);
  if (bytes.subarray(1, 4).toString('latin1') === 'PNG') return inspectPng(bytes);
  if (bytes.subarray(0, 4).toString('latin1') === 'RIFF' && bytes.subarray(8, 12).toString('latin1') === 'WEBP') return inspectWebp(bytes);
  throw new Error(`not a JPEG, PNG or WebP: ${bytes.subarray(0, 12).toString('hex')}`);
}

function inspectJpeg(b: Buffer): Inspected {
  const blocks: string[] = [];
  const metadata: string[] = [];
  let width = 0;
  let height = 0;
  let i = 2;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) throw new Error(`JPEG: no marker at ${i}`);
    const marker = b[i + 1]!;
    if (marker === 0xff) {
      i += 1; // fill byte
      continue;
    }
    if (marker === 0xd9) break;
    const len = b.readUInt16BE(i + 2);
    const data = b.subarray(i + 4, i + 2 + len);
    const name = marker >= 0xe0 && marker <= 0xef ? `APP${marker - 0xe0}` : marker === 0xfe ? 'COM' : `FF${marker.toString(16).toUpperCase()}`;
    blocks.push(name);
    // APP0 is the JFIF header (version, density unit): the only APPn that is not metadata.
    if ((marker >= 0xe1 && marker <= 0xef) || marker === 0xfe) metadata.push(`${name}:${data.subarray(0, 12).toString('latin1').replace(/\0.*$/s, '')}`);
    if (marker === 0xe0 && data.subarray(0, 5).toString('latin1') !== 'JFIF\0') metadata.push('APP0:not JFIF');
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      height = data.readUInt16BE(1);
      width = data.readUInt16BE(3);
    }
    if (marker === 0xda) break; // entropy-coded data follows
    i += 2 + len;
  }
  return { format: 'jpeg', width, height, metadata, blocks };
}

const PNG_IMAGE_CHUNKS = new Set(['IHDR', 'PLTE', 'IDAT', 'IEND', 'tRNS', 'bKGD', 'sBIT', 'acTL', 'fcTL', 'fdAT']);

function inspectPng(b: Buffer): Inspected {
  const blocks: string[] = [];
  let i = 8;
  while (i + 8 <= b.length) {
    const len = b.readUInt32BE(i);
    blocks.push(b.subarray(i + 4, i + 8).toString('latin1'));
    i += 12 + len;
  }
  // Everything but the image itself is metadata here: eXIf, tEXt, zTXt, iTXt, iCCP, tIME, pHYs, gAMA, cHRM, sRGB…
  return { format: 'png', width: b.readUInt32BE(16), height: b.readUInt32BE(20), metadata: blocks.filter((c) => !PNG_IMAGE_CHUNKS.has(c)), blocks };
}

const WEBP_IMAGE_CHUNKS = new Set(['VP8 ', 'VP8L', 'VP8X', 'ALPH', 'ANIM', 'ANMF']);

function inspectWebp(b: Buffer): Inspected {
  const blocks: string[] = [];
  const metadata: string[] = [];
  let width = 0;
  let height = 0;
  let i = 12;
  while (i + 8 <= b.length) {
    const id = b.subarray(i, i + 4).toString('latin1');
    const len = b.readUInt32LE(i + 4);
    const d = b.subarray(i + 8, i + 8 + len);
    blocks.push(id);
    if (!WEBP_IMAGE_CHUNKS.has(id)) metadata.push(id);
    if (id === 'VP8X') {
      // Flags: ICC (0x20), EXIF (0x08), XMP (0x04) say the file carries them.
      if (d[0]! & 0x2c) metadata.push(`VP8X flags ${d[0]!.toString(2)}`);
      width = 1 + d.readUIntLE(4, 3);
      height = 1 + d.readUIntLE(7, 3);
    } else if (id === 'VP8 ' && !width) {
      width = d.readUInt16LE(6) & 0x3fff;
      height = d.readUInt16LE(8) & 0x3fff;
    } else if (id === 'VP8L' && !width) {
      const bits = d.readUInt32LE(1);
      width = (bits & 0x3fff) + 1;
      height = ((bits >> 14) & 0x3fff) + 1;
    }
    i += 8 + len + (len % 2);
  }
  return { format: 'webp', width, height, metadata, blocks };
}

/** The tag ids of a TIFF/EXIF block's first IFD (0x0112 orientation, 0x8825 the GPS IFD, 0x8769 the Exif IFD). */
export function exifTags(tiff: Buffer): number[] {
  const le = tiff.subarray(0, 2).toString('latin1') === 'II';
  const u16 = (o: number) => (le ? tiff.readUInt16LE(o) : tiff.readUInt16BE(o));
  const u32 = (o: number) => (le ? tiff.readUInt32LE(o) : tiff.readUInt32BE(o));
  const ifd = u32(4);
  return Array.from({ length: u16(ifd) }, (_, n) => u16(ifd + 2 + n * 12));
}

/** A PNG chunk (length, type, data, CRC). */
export function pngChunk(type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** Inserts chunks right after a PNG's IHDR. */
export const withPngChunks = (png: Buffer, chunks: Buffer[]) => Buffer.concat([png.subarray(0, 33), ...chunks, png.subarray(33)]);

/** A PNG whose header claims width × height but whose data is a few bytes: tiny, and refused before any decoding. */
export function pngClaiming(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', zlib.deflateSync(Buffer.alloc(16))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}
