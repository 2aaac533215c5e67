import { jpeg, png, webp } from '@shutter/testing';
import { inspectImage, sniffImageType } from '../src/media/sniff';

describe('image sniffing', () => {
  it('tells JPEG, PNG and WebP by their bytes and reads their size', () => {
    expect(inspectImage(png(3, 2))).toEqual({ type: 'image/png', width: 3, height: 2 });
    expect(inspectImage(jpeg(33, 17))).toEqual({ type: 'image/jpeg', width: 33, height: 17 });
    expect(inspectImage(webp(640, 480))).toEqual({ type: 'image/webp', width: 640, height: 480 });
  });

  it('refuses other formats, text, truncated headers and too few bytes', () => {
    const gif = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');
    expect(inspectImage(gif)).toBeNull();
    expect(inspectImage(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'))).toBeNull();
    expect(inspectImage(Buffer.from('plain text that is long enough'))).toBeNull();
    expect(inspectImage(png(3, 2).subarray(0, 14))).toBeNull();
    expect(inspectImage(jpeg(3, 2).subarray(0, 40))).toBeNull();
    expect(sniffImageType(Buffer.from([0xff, 0xd8, 0xff]))).toBeNull();
  });

  it('swaps width and height for JPEGs whose EXIF orientation turns them by 90°', () => {
    // An APP1 Exif segment (big-endian TIFF) with one IFD entry: Orientation (0x0112) = 6.
    const tiff = Buffer.from([
      0x4d, 0x4d, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x08, 0x00, 0x01, 0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00,
    ]);
    const exif = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
    const app1 = Buffer.concat([Buffer.from([0xff, 0xe1, (exif.length + 2) >> 8, (exif.length + 2) & 0xff]), exif]);
    const plain = jpeg(40, 10);
    const rotated = Buffer.concat([plain.subarray(0, 2), app1, plain.subarray(2)]);
    expect(inspectImage(rotated)).toEqual({ type: 'image/jpeg', width: 10, height: 40 });
  });
});
