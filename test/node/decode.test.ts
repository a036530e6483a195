import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { crc32 } from 'node:zlib';
import sharp, { type Sharp } from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeImage, headerSize, readImageBytes, sniffImageFormat } from '../../src/node/decode.js';

const faceApiDir = dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json'));
const SAMPLE = join(faceApiDir, 'demo', 'sample1.jpg'); // 1920x1280 JPEG, no EXIF orientation

let dir: string;
const tmp = (name: string) => join(dir, name);

/** 64x48 image: red left half, blue right half. */
function halves(): Sharp {
  const w = 64, h = 48;
  const data = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set(x < w / 2 ? [220, 20, 20] : [20, 20, 220], (y * w + x) * 3);
  return sharp(data, { raw: { width: w, height: h, channels: 3 } });
}

/** A PNG whose IHDR claims `w`x`h` pixels (valid CRC) but holds 1 pixel of data: a fake decompression bomb. */
async function fakeBombPng(w: number, h: number): Promise<Buffer> {
  const png = Buffer.from(await sharp({ create: { width: 1, height: 1, channels: 3, background: '#000' } }).png().toBuffer());
  png.writeUInt32BE(w, 16);
  png.writeUInt32BE(h, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
  return png;
}

/** A valid 2x2 24-bit BMP (sharp cannot decode BMP). */
function bmp2x2(): Buffer {
  const b = Buffer.alloc(54 + 16);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(b.length, 2);
  b.writeUInt32LE(54, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(2, 18);
  b.writeInt32LE(2, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(24, 28);
  b.writeUInt32LE(16, 34);
  return b;
}

/** Mean RGB of a decoded image region. */
function meanRgb(img: { data: Uint8Array | Uint8ClampedArray; width: number }, x0: number, y0: number, x1: number, y1: number): number[] {
  const sum = [0, 0, 0];
  let n = 0;
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) {
    for (let c = 0; c < 3; c++) sum[c]! += img.data[(y * img.width + x) * 3 + c]!;
    n++;
  }
  return sum.map((s) => s / n);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferkit-decode-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('decodeImage: supported inputs become 8-bit sRGB, 3 channels', () => {
  test('decodes a real JPEG photo to its full size', async () => {
    const img = await decodeImage(SAMPLE);
    expect([img.width, img.height, img.channels]).toEqual([1920, 1280, 3]);
    expect(img.data).toBeInstanceOf(Uint8Array);
    expect(img.data.length).toBe(1920 * 1280 * 3);
  });

  test('accepts bytes as well as a path, with identical pixels', async () => {
    const bytes = await readFile(SAMPLE);
    const a = await decodeImage(SAMPLE);
    const b = await decodeImage(new Uint8Array(bytes));
    expect(b.width).toBe(a.width);
    expect(Buffer.compare(Buffer.from(a.data), Buffer.from(b.data))).toBe(0);
  });

  test('EXIF orientation 6 swaps width and height and rotates the pixels (90° clockwise)', async () => {
    const jpg = await halves().jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
    expect((await sharp(jpg).metadata()).orientation).toBe(6);
    const img = await decodeImage(jpg);
    expect([img.width, img.height]).toEqual([48, 64]);
    // Stored left half (red) is shown on top after a 90° clockwise turn; right half (blue) at the bottom.
    const top = meanRgb(img, 0, 0, 48, 24);
    const bottom = meanRgb(img, 0, 40, 48, 64);
    expect(top[0]).toBeGreaterThan(180);
    expect(top[2]).toBeLessThan(60);
    expect(bottom[2]).toBeGreaterThan(180);
    expect(bottom[0]).toBeLessThan(60);
  });

  test('a 16-bit PNG is reduced to 8 bits with the same colours', async () => {
    const png16 = await halves().toColourspace('rgb16').png().toBuffer();
    expect((await sharp(png16).metadata()).depth).toBe('ushort');
    const img = await decodeImage(png16);
    expect([img.width, img.height, img.channels, img.data.length]).toEqual([64, 48, 3, 64 * 48 * 3]);
    const left = meanRgb(img, 0, 0, 32, 48).map(Math.round);
    expect(left[0]).toBeGreaterThanOrEqual(218);
    expect(left[0]).toBeLessThanOrEqual(222);
  });

  test('a CMYK JPEG is converted to sRGB', async () => {
    const cmyk = await halves().toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer();
    const meta = await sharp(cmyk).metadata();
    expect([meta.space, meta.channels]).toEqual(['cmyk', 4]);
    const img = await decodeImage(cmyk);
    expect(img.channels).toBe(3);
    const left = meanRgb(img, 2, 2, 28, 46);
    const right = meanRgb(img, 36, 2, 62, 46);
    expect(left[0]).toBeGreaterThan(left[2]! + 100); // still red
    expect(right[2]).toBeGreaterThan(right[0]! + 100); // still blue
  });

  test('a 1-channel grayscale PNG becomes 3 equal channels', async () => {
    const gray = await halves().toColourspace('b-w').png().toBuffer();
    expect((await sharp(gray).metadata()).channels).toBe(1);
    const img = await decodeImage(gray);
    expect(img.channels).toBe(3);
    for (let i = 0; i < img.data.length; i += 3) {
      expect(img.data[i]).toBe(img.data[i + 1]);
      expect(img.data[i]).toBe(img.data[i + 2]);
    }
  });

  test('alpha is flattened onto white: transparent pixels are white, opaque ones keep their colour', async () => {
    const rgba = Buffer.alloc(2 * 1 * 4);
    rgba.set([10, 200, 30, 255, 10, 200, 30, 0]);
    const png = await sharp(rgba, { raw: { width: 2, height: 1, channels: 4 } }).png().toBuffer();
    const img = await decodeImage(png);
    expect(Array.from(img.data)).toEqual([10, 200, 30, 255, 255, 255]);
  });

  test('palette PNG, WebP, TIFF and AVIF decode to the stored size', async () => {
    const encoded = [
      await halves().png({ palette: true }).toBuffer(),
      await halves().webp().toBuffer(),
      await halves().tiff().toBuffer(),
      await halves().avif().toBuffer(),
    ];
    for (const bytes of encoded) {
      const img = await decodeImage(bytes);
      expect([img.width, img.height, img.channels]).toEqual([64, 48, 3]);
      expect(meanRgb(img, 0, 0, 28, 48)[0]).toBeGreaterThan(150);
    }
  });

  test('an animated GIF gives its first frame', async () => {
    const frames = Buffer.alloc(8 * 16 * 3);
    for (let i = 0; i < 8 * 8; i++) frames.set([255, 0, 0], i * 3); // frame 1 red
    for (let i = 8 * 8; i < 8 * 16; i++) frames.set([0, 0, 255], i * 3); // frame 2 blue
    const gif = await sharp(frames, { raw: { width: 8, height: 16, channels: 3, pageHeight: 8 } }).gif().toBuffer();
    expect((await sharp(gif).metadata()).pages).toBe(2);
    const img = await decodeImage(gif);
    expect([img.width, img.height]).toEqual([8, 8]);
    expect(meanRgb(img, 0, 0, 8, 8)[0]).toBeGreaterThan(200);
  });
});

describe('BAD INPUT: every failure is a FerkitError with the file name and one line', () => {
  test('a zero-byte .jpg is E_INPUT_EMPTY', async () => {
    await writeFile(tmp('empty.jpg'), '');
    await expect(decodeImage(tmp('empty.jpg'))).rejects.toMatchObject({ name: 'FerkitError', code: 'E_INPUT_EMPTY', message: /empty\.jpg: file is empty \(0 bytes\)/ });
    await expect(decodeImage(new Uint8Array(0), { name: 'upload' })).rejects.toMatchObject({ code: 'E_INPUT_EMPTY', message: /^upload: / });
  });

  test('a missing path, a folder and an unreadable file are E_INPUT_READ', async () => {
    await expect(decodeImage(tmp('missing.jpg'))).rejects.toMatchObject({ code: 'E_INPUT_READ', message: /missing\.jpg: cannot read: no such file/ });
    await mkdir(tmp('folder.jpg'));
    await expect(decodeImage(tmp('folder.jpg'))).rejects.toMatchObject({ code: 'E_INPUT_READ', message: /folder\.jpg: .*folder/ });
    if (process.getuid?.() !== 0) {
      await writeFile(tmp('locked.jpg'), await readFile(SAMPLE));
      await chmod(tmp('locked.jpg'), 0o000);
      await expect(decodeImage(tmp('locked.jpg'))).rejects.toMatchObject({ code: 'E_INPUT_READ', message: /permission denied/ });
    }
  });

  test('a text file named .jpg is E_UNSUPPORTED_FORMAT and says it starts with text', async () => {
    await writeFile(tmp('notes.jpg'), 'hello, this is not a photo\n');
    const err = await decodeImage(tmp('notes.jpg')).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_UNSUPPORTED_FORMAT', message: /notes\.jpg: not an image \(starts with text: "hello, this is not a ph…"\)/ });
    expect((err as Error).message).not.toContain('\n');
  });

  test('random binary data is E_UNSUPPORTED_FORMAT with its first bytes', async () => {
    const junk = new Uint8Array([0x00, 0x01, 0x02, 0x03, 0xfe, 0xfd, 0x80, 0x81, 0x99]);
    await expect(decodeImage(junk, { name: 'junk.png' })).rejects.toMatchObject({ code: 'E_UNSUPPORTED_FORMAT', message: /junk\.png: not an image \(unknown data, first bytes 00 01 02 03 fe fd 80 81\)/ });
  });

  test('BMP is named as unsupported', async () => {
    await expect(decodeImage(bmp2x2(), { name: 'x.bmp' })).rejects.toMatchObject({ code: 'E_UNSUPPORTED_FORMAT', message: /x\.bmp: BMP image \(sharp cannot decode BMP/ });
  });

  test('SVG is refused rather than rendered', async () => {
    const svg = new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>');
    await expect(decodeImage(svg, { name: 'x.svg' })).rejects.toMatchObject({ code: 'E_UNSUPPORTED_FORMAT', message: /SVG/ });
  });

  test('a truncated JPEG is E_DECODE (not silently grey)', async () => {
    const jpg = await readFile(SAMPLE);
    await writeFile(tmp('cut.jpg'), jpg.subarray(0, Math.floor(jpg.length * 0.6)));
    const err = await decodeImage(tmp('cut.jpg')).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_DECODE', message: /cut\.jpg: truncated JPEG/ });
    expect((err as Error).message).not.toContain('\n');
    // Truncated inside the header too.
    await expect(decodeImage(jpg.subarray(0, 300), { name: 'head.jpg' })).rejects.toMatchObject({ code: 'E_DECODE', message: /head\.jpg: truncated JPEG/ });
  });

  test('a truncated PNG is E_DECODE', async () => {
    const png = await sharp(SAMPLE).resize(320).png().toBuffer();
    await expect(decodeImage(png.subarray(0, Math.floor(png.length / 2)), { name: 'cut.png' })).rejects.toMatchObject({
      code: 'E_DECODE', message: /cut\.png: truncated PNG: the file ends before its IEND chunk/,
    });
  });

  test('a header claiming 30000x30000 pixels is refused before decoding, with the limit', async () => {
    const bomb = await fakeBombPng(30000, 30000);
    expect(bomb.length).toBeLessThan(100);
    await expect(decodeImage(bomb, { name: 'bomb.png' })).rejects.toMatchObject({
      code: 'E_TOO_MANY_PIXELS', message: 'bomb.png: 30000x30000 = 900 MP exceeds the limit of 100 MP (maxPixels / --max-pixels)',
    });
  });

  test('maxPixels applies to real images too', async () => {
    await expect(decodeImage(SAMPLE, { maxPixels: 1_000_000 })).rejects.toMatchObject({
      code: 'E_TOO_MANY_PIXELS', message: /sample1\.jpg: 1920x1280 = 2\.5 MP exceeds the limit of 1 MP/,
    });
    const img = await decodeImage(SAMPLE, { maxPixels: 1920 * 1280 });
    expect(img.width).toBe(1920);
  });

  test('a bad maxPixels is E_OPTION naming the option', async () => {
    await expect(decodeImage(SAMPLE, { maxPixels: 0 })).rejects.toMatchObject({ code: 'E_OPTION', message: /maxPixels must be a number/ });
  });
});

describe('readImageBytes and sniffImageFormat', () => {
  test('readImageBytes returns the bytes or the same input errors', async () => {
    const bytes = await readImageBytes(SAMPLE);
    expect(bytes.length).toBe((await readFile(SAMPLE)).length);
    await expect(readImageBytes(tmp('nope.png'), 'shown-name')).rejects.toMatchObject({ code: 'E_INPUT_READ', file: 'shown-name' });
  });

  test('sniffImageFormat names formats from magic bytes', async () => {
    const jpg = await readFile(SAMPLE);
    expect(sniffImageFormat(jpg)).toMatchObject({ supported: true, format: 'jpeg' });
    expect(sniffImageFormat(await halves().webp().toBuffer())).toMatchObject({ supported: true, format: 'webp' });
    expect(sniffImageFormat(await halves().avif().toBuffer())).toMatchObject({ supported: true, format: 'heif', description: 'AVIF image' });
    expect(sniffImageFormat(bmp2x2())).toMatchObject({ supported: false, format: 'bmp' });
    expect(sniffImageFormat(new TextEncoder().encode('%PDF-1.7\n'))).toMatchObject({ supported: false, format: 'pdf' });
    expect(sniffImageFormat(new TextEncoder().encode('héllo wörld'))).toMatchObject({ supported: false, format: 'text' });
  });

  test('headerSize reads JPEG (baseline and progressive) and PNG sizes as sharp does, and gives up on anything else', async () => {
    const meta = async (b: Uint8Array) => { const m = await sharp(b).metadata(); return { width: m.width, height: m.height }; };
    const jpg = new Uint8Array(await readFile(SAMPLE));
    expect(headerSize(jpg, 'jpeg')).toEqual(await meta(jpg));
    for (const b of [await halves().jpeg({ progressive: true }).toBuffer(), await halves().png().toBuffer(), await halves().resize(7, 300).jpeg().toBuffer()]) {
      const bytes = new Uint8Array(b);
      expect(headerSize(bytes, sniffImageFormat(bytes).format)).toEqual(await meta(bytes));
    }
    expect(headerSize(new Uint8Array(await fakeBombPng(30000, 20000)), 'png')).toEqual({ width: 30000, height: 20000 });
    expect(headerSize(new Uint8Array(await halves().webp().toBuffer()), 'webp')).toBeNull();
    expect(headerSize(jpg.subarray(0, 20), 'jpeg')).toBeNull(); // cut before the frame header: sharp decides
    expect(headerSize(new Uint8Array([0xff, 0xd8, 0xff, 0xd9, 0, 0, 0, 0, 0, 0, 0, 0]), 'jpeg')).toBeNull();
  });
});
