import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DEFAULT_QUALITY_THRESHOLDS, headPose, judgeQuality, laplacianVariance } from '../../src/core/quality.js';
import type { FaceDetection, QualitySignals, RawImage } from '../../src/core/types.js';
import { createAnalyzer, type Analyzer } from '../../src/node/index.js';
import { runCli } from '../helpers/cli.js';
import { FER2013_DIR, HAS_FER2013, NO_SHARED } from '../helpers/shared.js';

const SAMPLES = join(process.cwd(), 'node_modules', '@vladmandic', 'face-api', 'demo');
const ok: QualitySignals = { faceSizePx: 100, sharpness: 2000, yawDeg: 0, rollDeg: 0, detectionScore: 0.95, top1: 0.9, margin: 0.8, entropy: 0.2 };

function face(kp: Partial<Record<keyof FaceDetection['keypoints'], [number, number]>>): FaceDetection {
  const base: Record<string, [number, number]> = { rightEye: [40, 50], leftEye: [60, 50], nose: [50, 60], mouth: [50, 70], rightEar: [30, 55], leftEar: [70, 55], ...kp };
  return { box: { x: 25, y: 30, width: 50, height: 55 }, score: 0.9, keypoints: Object.fromEntries(Object.entries(base).map(([k, [x, y]]) => [k, { x, y }])) as FaceDetection['keypoints'] };
}

describe('quality signals', () => {
  test('Laplacian variance: 0 for a flat crop, large for a checkerboard, smaller after blurring', () => {
    expect(laplacianVariance(new Float32Array(48 * 48).fill(128), 48)).toBe(0);
    const board = new Float32Array(48 * 48).map((_, i) => (((i % 48) + Math.floor(i / 48)) % 2 ? 255 : 0));
    const box = new Float32Array(48 * 48).map((_, i) => (i % 48 > 0 && i % 48 < 47 ? (board[i - 1]! + board[i]! + board[i + 1]!) / 3 : board[i]!));
    expect(laplacianVariance(board, 48)).toBeGreaterThan(100_000);
    expect(laplacianVariance(box, 48)).toBeLessThan(laplacianVariance(board, 48) / 4);
  });

  test('head pose: a frontal face has yaw and roll ≈ 0; a nose off the midline gives yaw, a sloped eye line gives roll', () => {
    const frontal = headPose(face({}));
    expect(Math.abs(frontal.yawDeg)).toBeLessThan(1e-9);
    expect(Math.abs(frontal.rollDeg)).toBeLessThan(1e-9);
    // nose 0.3 interocular distances (6 px of 20) towards the left eye: tan θ = 1 → 45°
    expect(headPose(face({ nose: [56, 60] })).yawDeg).toBeCloseTo(45, 6);
    expect(headPose(face({ nose: [44, 60] })).yawDeg).toBeCloseTo(-45, 6);
    expect(headPose(face({ leftEye: [60, 70] })).rollDeg).toBeCloseTo(45, 6);
  });

  test('judgeQuality: each signal past its threshold adds its reason, in a fixed order; thresholds can be overridden', () => {
    expect(judgeQuality(ok)).toEqual({ status: 'ok', reasons: [], signals: ok });
    const t = DEFAULT_QUALITY_THRESHOLDS;
    const cases: [Partial<QualitySignals>, string][] = [
      [{ faceSizePx: t.minFacePx - 1 }, 'small-face'], [{ sharpness: t.minSharpness - 1 }, 'blurry'],
      [{ yawDeg: -(t.maxYawDeg + 1) }, 'turned-head'], [{ rollDeg: t.maxRollDeg + 1 }, 'tilted-head'],
      [{ detectionScore: t.minDetectionScore - 0.01 }, 'weak-detection'], [{ top1: t.minTop1 - 0.01 }, 'low-confidence'],
      [{ margin: t.minMargin - 0.01 }, 'ambiguous'],
    ];
    for (const [change, reason] of cases) expect(judgeQuality({ ...ok, ...change })).toMatchObject({ status: 'uncertain', reasons: [reason] });
    expect(judgeQuality({ ...ok, faceSizePx: 10, top1: 0.2 }).reasons).toEqual(['small-face', 'low-confidence']);
    expect(judgeQuality({ ...ok, faceSizePx: 10 }, { minFacePx: 8 }).status).toBe('ok');
    // cropped input has no pose or detection score: those reasons never fire
    expect(judgeQuality({ ...ok, yawDeg: null, rollDeg: null, detectionScore: null }).status).toBe('ok');
  });
});

describe('quality gate on real images', () => {
  let analyzer: Analyzer;
  beforeAll(async () => { analyzer = await createAnalyzer({ classifier: { model: 'ferkit-lite' } }); });
  afterAll(() => analyzer?.dispose());

  test('a tilted head in a real photo is measured (roll ≈ 45°) and marked tilted-head; every face carries its signals', async () => {
    const r = await analyzer.analyze(join(SAMPLES, 'sample1.jpg'));
    const tilted = r.faces.find((f) => Math.abs(f.quality.signals.rollDeg ?? 0) > 40);
    expect(tilted, 'sample1 has a face with its head tilted about 45°').toBeDefined();
    expect(tilted!.quality.reasons).toContain('tilted-head');
    for (const f of r.faces) {
      expect(f.quality.signals.faceSizePx).toBeCloseTo(Math.sqrt(f.box.width * f.box.height), 6);
      expect(f.quality.signals.detectionScore).toBe(f.score);
      expect(f.quality.signals.top1).toBeCloseTo(f.labelScore, 12);
    }
  });

  test.skipIf(!HAS_FER2013)('a FER2013 face: its blurred copy is marked blurry and its 12-px copy small-face', async () => {
    const dir = join(FER2013_DIR, 'PublicTest', 'happy');
    const file = join(dir, readdirSync(dir).sort()[0]!);
    const { data, info } = await sharp(file).greyscale().raw().toBuffer({ resolveWithObject: true });
    const gray = (d: Buffer, w: number): RawImage => ({ data: d, width: w, height: w, channels: 1 });
    const sharpFace = (await analyzer.analyze(gray(data, info.width), { cropped: true })).faces[0]!;
    expect(sharpFace.quality.signals.sharpness).toBeGreaterThan(DEFAULT_QUALITY_THRESHOLDS.minSharpness);
    expect(sharpFace.quality.reasons).not.toContain('blurry');
    const blurred = await sharp(data, { raw: { width: 48, height: 48, channels: 1 } }).blur(3).extractChannel(0).raw().toBuffer();
    expect((await analyzer.analyze(gray(blurred, 48), { cropped: true })).faces[0]!.quality.reasons).toContain('blurry');
    const tiny = await sharp(data, { raw: { width: 48, height: 48, channels: 1 } }).resize(12, 12).extractChannel(0).raw().toBuffer();
    expect((await analyzer.analyze(gray(tiny, 12), { cropped: true })).faces[0]!.quality.reasons).toContain('small-face');
  });
  if (!HAS_FER2013) test.skip(NO_SHARED, () => undefined);
});

describe('ferkit analyze and the gate', () => {
  test('CSV carries quality and reasons; --min-quality ok leaves uncertain faces out and says so; --quality sets thresholds', async () => {
    const photo = join(SAMPLES, 'sample1.jpg');
    const all = await runCli(['analyze', '-f', 'csv', photo], process.cwd());
    expect(all.code).toBe(0);
    const rows = all.stdout.trim().split('\n');
    const head = rows[0]!.split(',');
    expect(head).toEqual(expect.arrayContaining(['valence_score', 'quality', 'quality_reasons']));
    const q = head.indexOf('quality');
    const uncertain = rows.slice(1).filter((r) => r.split(',')[q] === 'uncertain').length;
    expect(uncertain).toBeGreaterThan(0);
    const kept = await runCli(['analyze', '-f', 'csv', '--min-quality', 'ok', photo], process.cwd());
    expect(kept.code).toBe(0);
    expect(kept.stdout.trim().split('\n').slice(1).filter((r) => r.split(',')[1] !== '').length).toBe(rows.length - 1 - uncertain);
    expect(kept.stderr).toMatch(new RegExp(`${uncertain} more left out by --min-quality ok`));
    const lax = await runCli(['analyze', '-f', 'json', '--quality', 'max-roll-deg=90,max-yaw-deg=90,min-top-1=0,min-margin=0', photo], process.cwd());
    expect((JSON.parse(lax.stdout) as { faces: { quality: { status: string } }[] }[])[0]!.faces.every((f) => f.quality.status === 'ok')).toBe(true);
    const bad = await runCli(['analyze', '--quality', 'min-nose=3', photo], process.cwd());
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--quality.*min-face-px/);
  });
});
