import * as zlib from 'node:zlib';

/*
 * Tiny but complete, decodable images of a chosen size, made from their format's rules (no image
 * library needed): a PNG (one colour, zlib scanlines), a baseline grey JPEG (every 8×8 block
 * encoded as DC 0 + end-of-block with one-symbol Huffman tables) and a lossless WebP (VP8L with
 * single-symbol prefix codes, so pixels take no bits).
 */

/** A truecolour PNG of one colour. */
export function png(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, deflate, no filter, no interlace
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(width * 3, 0x80)]);
  const raw = Buffer.concat(Array.from({ length: height }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A baseline greyscale JPEG, mid grey. */
export function jpeg(width: number, height: number): Buffer {
  const segment = (marker: number, data: number[]) => [0xff, marker, (data.length + 2) >> 8, (data.length + 2) & 0xff, ...data];
  const blocks = Math.ceil(width / 8) * Math.ceil(height / 8);
  // Each block: DC category 0 (code "0") then AC end-of-block (code "0"): two zero bits.
  const bits = blocks * 2;
  const scan = new Array<number>(Math.ceil(bits / 8)).fill(0);
  if (bits % 8) scan[scan.length - 1] = 0xff >> (bits % 8); // pad the last byte with 1s
  const bytes = [
    0xff,
    0xd8, // SOI
    ...segment(0xe0, [0x4a, 0x46, 0x49, 0x46, 0x00, 1, 1, 0, 0, 1, 0, 1, 0, 0]), // JFIF
    ...segment(0xdb, [0x00, ...new Array<number>(64).fill(1)]), // quantisation table 0
    ...segment(0xc0, [8, height >> 8, height & 0xff, width >> 8, width & 0xff, 1, 1, 0x11, 0]), // SOF0, one component
    ...segment(0xc4, [0x00, 1, ...new Array<number>(15).fill(0), 0x00]), // DC table 0: symbol 0, length 1
    ...segment(0xc4, [0x10, 1, ...new Array<number>(15).fill(0), 0x00]), // AC table 0: EOB, length 1
    ...segment(0xda, [1, 1, 0x00, 0, 63, 0]), // SOS
    ...scan,
    0xff,
    0xd9, // EOI
  ];
  return Buffer.from(bytes);
}

/** A lossless WebP of one colour. */
export function webp(width: number, height: number): Buffer {
  // VP8L header: signature, then 14 bits width-1, 14 bits height-1, alpha hint, 3-bit version.
  const header = Buffer.alloc(5);
  header[0] = 0x2f;
  header.writeUInt32LE(((width - 1) & 0x3fff) | (((height - 1) & 0x3fff) << 14) | (1 << 28), 1);
  // No transforms, no colour cache, no meta codes; five simple prefix codes of one symbol each.
  const data = Buffer.from([0x07, 0x10, 0x11, 0x11, 0x88, 0x88, 0xfe, 0x07]);
  const vp8l = Buffer.concat([header, data]);
  const chunk = Buffer.concat([Buffer.from('VP8L', 'latin1'), u32(vp8l.length), vp8l, vp8l.length % 2 ? Buffer.from([0]) : Buffer.alloc(0)]);
  return Buffer.concat([Buffer.from('RIFF', 'latin1'), u32(chunk.length + 4), Buffer.from('WEBP', 'latin1'), chunk]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

/** The PNG grown to exactly `totalBytes` by a private ancillary chunk (decoders skip it). */
export function paddedPng(width: number, height: number, totalBytes: number): Buffer {
  const base = png(width, height);
  const ihdrEnd = 8 + 25; // signature + IHDR chunk
  const dataLength = totalBytes - base.length - 12;
  if (dataLength < 0) throw new Error('totalBytes is smaller than the image');
  const head = Buffer.alloc(8);
  head.writeUInt32BE(dataLength, 0);
  head.write('prVt', 4, 'latin1');
  const data = Buffer.alloc(dataLength, 0x61);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(data, zlib.crc32(Buffer.from('prVt', 'latin1'))));
  return Buffer.concat([base.subarray(0, ihdrEnd), head, data, crc, base.subarray(ihdrEnd)]);
}
