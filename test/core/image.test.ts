import { describe, expect, test } from 'vitest';
import { assertRawImage, faceCropWindow, sampleGray, wholeImageWindow } from '../../src/core/image.js';
import type { FaceDetection, RawImage } from '../../src/core/types.js';

function gray(width: number, height: number, f: (x: number, y: number) => number): RawImage {
  const data = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = f(x, y);
  return { data, width, height, channels: 1 };
}

describe('sampleGray', () => {
  test('a 48×48 image through the whole-image window comes back pixel for pixel (FER2013 --cropped path)', () => {
    const img = gray(48, 48, (x, y) => (x * 5 + y * 3) % 256);
    const out = sampleGray(img, wholeImageWindow(img), 48);
    for (let i = 0; i < out.length; i++) expect(out[i]).toBeCloseTo(img.data[i]!, 4);
  });

  test('shrinking 96→48 averages each 2×2 block (area interpolation)', () => {
    const img = gray(96, 96, (x, y) => ((x + y) % 2 ? 200 : 0)); // checkerboard
    const out = sampleGray(img, wholeImageWindow(img), 48);
    for (const v of out) expect(v).toBeCloseTo(100, 4);
  });

  test('RGB uses BT.601 luma weights', () => {
    const img: RawImage = { data: Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]), width: 2, height: 2, channels: 3 };
    const out = sampleGray(img, wholeImageWindow(img), 2);
    [0.299 * 255, 0.587 * 255, 0.114 * 255, 255].forEach((v, i) => expect(out[i]).toBeCloseTo(v, 2));
  });

  test('a 90° window rotation maps a horizontal gradient to a vertical one', () => {
    const img = gray(64, 64, (x) => x * 4);
    const out = sampleGray(img, { cx: 32, cy: 32, width: 32, height: 32, angle: Math.PI / 2 }, 8);
    // rotated frame: output u runs along image +y (constant x), output v runs along image −x
    expect(out[0]).toBeCloseTo(out[7]!, 3);
    expect(out[0]!).toBeGreaterThan(out[56]!);
  });
});

describe('faceCropWindow', () => {
  const face: FaceDetection = {
    box: { x: 100, y: 100, width: 100, height: 120 }, score: 0.9,
    keypoints: {
      rightEye: { x: 130, y: 140 }, leftEye: { x: 170, y: 180 }, nose: { x: 150, y: 170 },
      mouth: { x: 150, y: 200 }, rightEar: { x: 100, y: 150 }, leftEar: { x: 200, y: 150 },
    },
  };
  test('is square, covers the larger box side plus the margin, and follows the eye line', () => {
    const w = faceCropWindow(face, { margin: 0.1, shiftDown: 0 });
    expect(w.width).toBeCloseTo(132);
    expect(w.height).toBeCloseTo(132);
    expect(w.angle).toBeCloseTo(Math.PI / 4);
    expect([w.cx, w.cy]).toEqual([150, 160]);
    expect(faceCropWindow(face, { align: false }).angle).toBe(0);
  });
});

describe('assertRawImage', () => {
  test('BAD CALL: inconsistent data length names the expected size', () => {
    expect(() => assertRawImage({ data: new Uint8Array(5), width: 2, height: 2, channels: 3 }, 'x.jpg'))
      .toThrow(/x\.jpg: image data has 5 bytes, expected 2x2x3 = 12/);
  });
});
