/**
 * BlazeFace face detection (src/core/detector): real models on real photos.
 * Face counts were checked by eye on annotated renders (boxes + keypoints) of every photo.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import sharp, { type Sharp } from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  BLAZEFACE_SPECS,
  createFaceDetector,
  generateAnchors,
  iou,
  planDetection,
  resolveFaceDetectorOptions,
  weightedNms,
  type Candidate,
  type FaceDetector,
} from '../../src/core/detector/index.js';
import { FerkitError } from '../../src/core/errors.js';
import type { FaceDetection, RawImage } from '../../src/core/types.js';

const path = (u: URL): string => fileURLToPath(u);
const MODELS = new URL('../../models/blazeface/', import.meta.url);
const SAMPLES = new URL('../../node_modules/@vladmandic/face-api/demo/', import.meta.url);
const SHARED = new URL('../../../shared/media/', import.meta.url);
const hasShared = existsSync(path(SHARED));
const sharedNote = hasShared ? '' : ' [SKIPPED: ../shared/media not found beside the repo]';
const golden = JSON.parse(readFileSync(path(new URL('../fixtures/detector-golden.json', import.meta.url)), 'utf8')) as Record<string, number[][]>;

const models = {
  front: new Uint8Array(readFileSync(path(new URL('face_detection_front_128x128_barracuda.onnx', MODELS)))),
  back: new Uint8Array(readFileSync(path(new URL('face_detection_back_256x256_barracuda.onnx', MODELS)))),
};
const quiet = { logSeverityLevel: 3 as const };

async function decode(file: string | URL, edit?: (s: Sharp) => Sharp): Promise<RawImage> {
  let s = sharp(typeof file === 'string' ? file : path(file)).rotate();
  if (edit) s = sharp(await edit(s).png().toBuffer());
  const { data, info } = await s.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: info.channels as 3 };
}

function expectOption(fn: () => unknown, message: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FerkitError);
    expect((err as FerkitError).code).toBe('E_OPTION');
    expect((err as FerkitError).message).toMatch(message);
    return;
  }
  throw new Error('expected an E_OPTION FerkitError');
}

/** Plausibility checks every detection must pass. */
function expectPlausible(faces: FaceDetection[], image: RawImage): void {
  for (let i = 1; i < faces.length; i++) expect(faces[i - 1]!.score).toBeGreaterThanOrEqual(faces[i]!.score);
  for (const f of faces) {
    const { box } = f;
    expect(f.score).toBeGreaterThan(0);
    expect(f.score).toBeLessThanOrEqual(1);
    expect(box.x).toBeGreaterThanOrEqual(0);
    expect(box.y).toBeGreaterThanOrEqual(0);
    expect(box.x + box.width).toBeLessThanOrEqual(image.width);
    expect(box.y + box.height).toBeLessThanOrEqual(image.height);
    expect(box.width).toBeGreaterThan(20);
    expect(box.width).toBeLessThan(Math.max(image.width, image.height));
    expect(box.height / box.width).toBeGreaterThan(0.7);
    expect(box.height / box.width).toBeLessThan(1.4);
  }
}

/** Upright faces: keypoints near their box, eyes above the mouth, the subject's right eye on the image's left. */
function expectUprightKeypoints(f: FaceDetection): void {
  const { box, keypoints: k } = f;
  const m = 0.25 * box.width;
  for (const p of Object.values(k)) {
    expect(p.x).toBeGreaterThan(box.x - m);
    expect(p.x).toBeLessThan(box.x + box.width + m);
    expect(p.y).toBeGreaterThan(box.y - m);
    expect(p.y).toBeLessThan(box.y + box.height + m);
  }
  for (const p of [k.rightEye, k.leftEye, k.nose, k.mouth]) {
    expect(p.x).toBeGreaterThan(box.x);
    expect(p.x).toBeLessThan(box.x + box.width);
  }
  expect(k.rightEye.y).toBeLessThan(k.mouth.y);
  expect(k.leftEye.y).toBeLessThan(k.mouth.y);
  expect(k.rightEye.x).toBeLessThan(k.leftEye.x);
  expect(k.rightEar.x).toBeLessThan(k.leftEar.x);
}

/** Each golden box is matched by a detection within 4 % of its width (and 3 px). */
function expectGolden(faces: FaceDetection[], name: string): void {
  const want = golden[name]!;
  const got = faces.map((f) => [f.box.x, f.box.y, f.box.width, f.box.height]).sort((a, b) => a[0]! - b[0]!);
  expect(got.length).toBe(want.length);
  want.forEach((w, i) => {
    const tol = Math.max(3, 0.04 * w[2]!);
    got[i]!.forEach((v, j) => expect(Math.abs(v - w[j]!), `${name} face ${i} coord ${j}: ${v} vs ${w[j]}`).toBeLessThanOrEqual(tol));
  });
}

describe('options (validated once, in the factory)', () => {
  test('defaults', () => {
    expect(resolveFaceDetectorOptions()).toEqual({ model: 'auto', minScore: 0.55, iouThreshold: 0.3, minFacePx: 0, maxFaces: 100, tiling: 'auto' });
  });
  test('BAD INPUT: out-of-range, wrong-type and unknown options throw E_OPTION naming the option', () => {
    expectOption(() => resolveFaceDetectorOptions({ minScore: 1.5 }), /minScore must be a number in \[0, 1\], got 1.5/);
    expectOption(() => resolveFaceDetectorOptions({ minScore: '0.5' as unknown as number }), /minScore .* \(string\)/);
    expectOption(() => resolveFaceDetectorOptions({ iouThreshold: Number.NaN }), /iouThreshold/);
    expectOption(() => resolveFaceDetectorOptions({ minFacePx: -1 }), /minFacePx/);
    expectOption(() => resolveFaceDetectorOptions({ maxFaces: 0 }), /maxFaces/);
    expectOption(() => resolveFaceDetectorOptions({ maxFaces: 2.5 }), /maxFaces must be an integer/);
    expectOption(() => resolveFaceDetectorOptions({ model: 'short' as 'front' }), /model must be one of 'auto', 'front', 'back', got "short"/);
    expectOption(() => resolveFaceDetectorOptions({ tiling: true as unknown as 'off' }), /tiling must be one of/);
    expectOption(() => resolveFaceDetectorOptions({ minscore: 0.5 } as never), /unknown detector option 'minscore'/);
  });
  test('BAD INPUT: the factory rejects bad options and missing model bytes before loading anything', async () => {
    await expect(createFaceDetector(ort, models, { minScore: -0.1 })).rejects.toMatchObject({ name: 'FerkitError', code: 'E_OPTION' });
    await expect(createFaceDetector(ort, { front: models.front })).rejects.toMatchObject({ code: 'E_OPTION', message: /models\.back/ });
    await expect(createFaceDetector(ort, { back: new Uint8Array(0) }, { model: 'back' })).rejects.toMatchObject({ code: 'E_OPTION' });
  });
  test('BAD INPUT: bytes that are not an ONNX model give E_MODEL_LOAD', async () => {
    await expect(createFaceDetector(ort, { front: new Uint8Array([1, 2, 3]) }, { model: 'front' }, quiet)).rejects.toMatchObject({ code: 'E_MODEL_LOAD' });
  });
});

describe('anchors, suppression and the detection plan', () => {
  test('MediaPipe SSD anchors: 896 per model, 2 per cell on the fine grid then 6 per cell on the coarse one', () => {
    for (const spec of Object.values(BLAZEFACE_SPECS)) {
      const a = generateAnchors(spec);
      expect(a.length).toBe(896 * 2);
      expect([a[0], a[1], a[2], a[3]]).toEqual([0.5 / 16, 0.5 / 16, 0.5 / 16, 0.5 / 16]); // cell (0, 0), two anchors
      expect([a[4], a[5]]).toEqual([1.5 / 16, 0.5 / 16]); // then x advances
      expect([a[1024], a[1025]]).toEqual([0.5 / 8, 0.5 / 8]); // anchor 512: first of the 8×8 grid
      expect([a[1790], a[1791]]).toEqual([7.5 / 8, 7.5 / 8]);
    }
  });
  test('weighted NMS blends overlapping candidates by score and keeps the best score', () => {
    const c = (score: number, x: number): Candidate => ({ score, xMin: x, yMin: 0, xMax: x + 10, yMax: 10, keypoints: [x, 0, x + 10, 10] });
    const merged = weightedNms([c(0.6, 2), c(0.9, 0), c(0.8, 50)], 0.3);
    expect(merged.map((m) => m.score)).toEqual([0.9, 0.8]);
    expect(merged[0]!.xMin).toBeCloseTo((0.9 * 0 + 0.6 * 2) / 1.5, 6);
    expect(merged[0]!.keypoints[0]).toBeCloseTo(0.8, 6);
    expect(merged[1]!.xMin).toBe(50);
    expect(iou(c(1, 0), c(1, 5))).toBeCloseTo(50 / 150, 6);
    expect(weightedNms([], 0.3)).toEqual([]);
  });
  test('auto: front for frames up to 640 px, back above; tiles only for images over 1024 px', () => {
    const opts = resolveFaceDetectorOptions();
    expect(planDetection(640, 480, opts).map((p) => p.model)).toEqual(['front']);
    expect(planDetection(1024, 768, opts).map((p) => p.model)).toEqual(['back']);
    expect(planDetection(1280, 720, opts).map((p) => p.window.side)).toEqual([1280, 720, 720, 720]); // one row of 3 tiles
    const big = planDetection(2048, 1536, opts);
    expect(big.length).toBe(7); // whole image + 3×2 tiles of 1024 px
    expect(big[0]!.window).toEqual({ x: 0, y: -256, side: 2048 });
    for (const t of big.slice(1)) {
      expect(t.window.side).toBe(1024);
      expect(t.window.x).toBeGreaterThanOrEqual(0);
      expect(t.window.x + t.window.side).toBeLessThanOrEqual(2048);
    }
    expect(planDetection(2048, 1536, resolveFaceDetectorOptions({ tiling: 'off' })).length).toBe(1);
    expect(planDetection(2048, 1536, resolveFaceDetectorOptions({ minFacePx: 200 })).length).toBe(1);
    expect(planDetection(2048, 1536, resolveFaceDetectorOptions({ model: 'front' })).length).toBe(1);
  });
});

describe('detection on real photos', () => {
  let detector: FaceDetector;
  beforeAll(async () => {
    detector = await createFaceDetector(ort, models, {}, quiet);
  });
  afterAll(async () => {
    await detector.dispose();
  });

  // Counted by eye: every visible face, none hidden.
  const SAMPLE_FACES: Record<string, number> = { sample1: 3, sample2: 3, sample3: 3, sample4: 4, sample5: 5, sample6: 4 };
  for (const [name, count] of Object.entries(SAMPLE_FACES)) {
    test(`face-api demo ${name}.jpg: ${count} faces, upright keypoints, boxes match the golden file`, async () => {
      const image = await decode(new URL(`${name}.jpg`, SAMPLES));
      const faces = await detector.detect(image);
      expect(faces.length).toBe(count);
      expectPlausible(faces, image);
      faces.forEach(expectUprightKeypoints);
      expectGolden(faces, `${name}.jpg`);
    });
  }

  test('a gray (1-channel) and an RGBA copy of a photo give the same faces', async () => {
    const rgb = await decode(new URL('sample1.jpg', SAMPLES));
    const n = rgb.width * rgb.height;
    const gray = new Uint8Array(n);
    const rgba = new Uint8Array(n * 4);
    for (let i = 0; i < n; i++) {
      gray[i] = Math.round(0.299 * rgb.data[3 * i]! + 0.587 * rgb.data[3 * i + 1]! + 0.114 * rgb.data[3 * i + 2]!);
      rgba.set([rgb.data[3 * i]!, rgb.data[3 * i + 1]!, rgb.data[3 * i + 2]!, 7], 4 * i);
    }
    const fromRgba = await detector.detect({ data: rgba, width: rgb.width, height: rgb.height, channels: 4 });
    expectGolden(fromRgba, 'sample1.jpg');
    const fromGray = await detector.detect({ data: gray, width: rgb.width, height: rgb.height, channels: 1 });
    expect(fromGray.length).toBe(3);
  });

  test('a face rotated by 90° either way is still found where it is; at 90° clockwise its keypoints turn with it', async () => {
    // The frontal face on the left of sample6, alone in a 500×500 crop (auto → front model).
    const crop = (angle: number) => decode(new URL('sample6.jpg', SAMPLES), (s) => s.extract({ left: 100, top: 400, width: 500, height: 500 }).rotate(angle));
    const [upright, ...others] = await detector.detect(await crop(0));
    expect(others).toEqual([]);
    const cx = upright!.box.x + upright!.box.width / 2;
    const cy = upright!.box.y + upright!.box.height / 2;
    // sharp's rotate(90) is clockwise: (x, y) -> (500 - y, x); rotate(270): (x, y) -> (y, 500 - x).
    const expected = { 90: [500 - cy, cx], 270: [cy, 500 - cx] } as const;
    for (const angle of [90, 270] as const) {
      const faces = await detector.detect(await crop(angle));
      expect(faces.length, `rotated ${angle}°`).toBe(1);
      const { box } = faces[0]!;
      expect(Math.hypot(box.x + box.width / 2 - expected[angle][0], box.y + box.height / 2 - expected[angle][1])).toBeLessThan(0.25 * upright!.box.width);
    }
    // Clockwise by 90°: the subject's right eye ends up above the left one. (At 270° the keypoints found here
    // are not reliable: BlazeFace is trained mostly on upright faces.)
    const { rightEye, leftEye, mouth, nose } = (await detector.detect(await crop(90)))[0]!.keypoints;
    expect(leftEye.y - rightEye.y).toBeGreaterThan(2 * Math.abs(leftEye.x - rightEye.x));
    expect(mouth.x).toBeLessThan(nose.x);
  });

  test('options: maxFaces keeps the best, minFacePx drops small faces, front finds large faces', async () => {
    const image = await decode(new URL('sample5.jpg', SAMPLES));
    const all = await detector.detect(image);
    const two = await createFaceDetector(ort, models, { maxFaces: 2 }, quiet);
    const big = await createFaceDetector(ort, models, { minFacePx: 200 }, quiet);
    const front = await createFaceDetector(ort, { front: models.front }, { model: 'front' }, quiet);
    try {
      expect((await two.detect(image)).map((f) => f.score)).toEqual(all.slice(0, 2).map((f) => f.score));
      const large = await big.detect(image);
      expect(large.length).toBeGreaterThan(0);
      expect(large.length).toBeLessThan(all.length);
      for (const f of large) expect(f.box.width).toBeGreaterThanOrEqual(200);
      // The short-range model on a 640×480 crop holding one face (~25 % of the frame width).
      const closeUp = await decode(new URL('sample1.jpg', SAMPLES), (s) => s.extract({ left: 1280, top: 100, width: 640, height: 480 }));
      const found = await front.detect(closeUp);
      expect(found.length).toBe(1);
      expect(front.id).toBe('blazeface-front');
      expectUprightKeypoints(found[0]!);
    } finally {
      await Promise.all([two.dispose(), big.dispose(), front.dispose()]);
    }
  });

  test('BAD INPUT: an inconsistent image rejects with E_IMAGE; a disposed detector with E_INFERENCE', async () => {
    await expect(detector.detect({ data: new Uint8Array(10), width: 4, height: 4, channels: 3 })).rejects.toMatchObject({ code: 'E_IMAGE' });
    const d = await createFaceDetector(ort, { back: models.back }, { model: 'back' }, quiet);
    await d.dispose();
    await expect(d.detect({ data: new Uint8Array(48), width: 4, height: 4, channels: 3 })).rejects.toMatchObject({ code: 'E_INFERENCE' });
  });
});

describe.skipIf(!hasShared)(`real photos in ../shared/media${sharedNote}`, () => {
  let detector: FaceDetector;
  beforeAll(async () => {
    detector = await createFaceDetector(ort, models, {}, quiet);
  });
  afterAll(async () => {
    await detector?.dispose();
  });

  test('test_image.jpg (2048×1536): the large face in front and the five small faces behind it, 6 in all', async () => {
    const image = await decode(new URL('test_image.jpg', SHARED));
    const faces = await detector.detect(image);
    expect(faces.length).toBe(6);
    expectPlausible(faces, image);
    faces.forEach(expectUprightKeypoints);
    const bySize = [...faces].sort((a, b) => b.box.width - a.box.width);
    expect(bySize[0]!.box.width).toBeGreaterThan(400); // the selfie face, lower middle
    expect(bySize[0]!.box.y).toBeGreaterThan(image.height / 2);
    for (const f of bySize.slice(1)) {
      expect(f.box.width).toBeGreaterThan(70);
      expect(f.box.width).toBeLessThan(150);
      expect(f.box.y + f.box.height).toBeLessThan(image.height / 2); // the row of people behind
    }
    expectGolden(faces, 'test_image.jpg');
  });

  test('test_image.jpg without tiling still finds all 6 (lower scores for the small faces)', async () => {
    const d = await createFaceDetector(ort, { back: models.back }, { model: 'back', tiling: 'off' }, quiet);
    try {
      expect((await d.detect(await decode(new URL('test_image.jpg', SHARED)))).length).toBe(6);
    } finally {
      await d.dispose();
    }
  });

  test('test_image.jpg as a 640×480 webcam-sized frame: auto picks the front model and finds the close face', async () => {
    const image = await decode(new URL('test_image.jpg', SHARED), (s) => s.resize(640, 480));
    expect(planDetection(640, 480, detector.options)[0]!.model).toBe('front');
    const faces = await detector.detect(image);
    expect(faces.length).toBeGreaterThanOrEqual(1);
    expect(faces[0]!.box.width).toBeGreaterThan(120);
    expectUprightKeypoints(faces[0]!);
  });

  test('justin.jpg: exactly one face', async () => {
    const image = await decode(new URL('justin.jpg', SHARED));
    const faces = await detector.detect(image);
    expect(faces.length).toBe(1);
    expectPlausible(faces, image);
    expectUprightKeypoints(faces[0]!);
    expectGolden(faces, 'justin.jpg');
  });

  test('no-faces.jpg (cartoon creatures, no human face): none', async () => {
    expect(await detector.detect(await decode(new URL('no-faces.jpg', SHARED)))).toEqual([]);
  });
});
