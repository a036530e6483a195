/**
 * Per-person baseline: a person whose resting face reads "sad" is not logged as sad all session once calibrated;
 * real changes of expression still show. Synthetic sequence with a biased baseline, through the real video analyzer
 * (scripted detector and classifier: the baseline logic sits after them).
 */
import { describe, expect, test } from 'vitest';
import { BaselineEstimator, NEUTRAL_REFERENCE, baselineOf, relativeToBaseline } from '../../src/core/baseline.js';
import type { ExpressionClassifier } from '../../src/core/classifier/expression.js';
import type { FaceDetector } from '../../src/core/detector/index.js';
import { EXPRESSIONS, argmax, type Expression, type ExpressionProbabilities } from '../../src/core/labels.js';
import type { FaceDetection, RawImage } from '../../src/core/types.js';
import { createVideoAnalyzer, type VideoAnalyzerOptions, type VideoFrameAnalysis } from '../../src/core/video.js';

const sum = (p: Record<string, number>): number => Object.values(p).reduce((a, b) => a + b, 0);

/** A record from a few named values; the rest of the mass spread evenly over the other classes. */
function dist(named: Partial<ExpressionProbabilities>): ExpressionProbabilities {
  const rest = (1 - sum(named as Record<string, number>)) / (EXPRESSIONS.length - Object.keys(named).length);
  return Object.fromEntries(EXPRESSIONS.map((e) => [e, named[e] ?? rest])) as ExpressionProbabilities;
}

/** Seeded noise: each class multiplied by a factor in [0.8, 1.2], then renormalised. */
function noisy(p: ExpressionProbabilities, rand: () => number): ExpressionProbabilities {
  const q = Object.fromEntries(EXPRESSIONS.map((e) => [e, p[e] * (0.8 + 0.4 * rand())])) as ExpressionProbabilities;
  const s = sum(q);
  for (const e of EXPRESSIONS) q[e] /= s;
  return q;
}

// A person whose resting face reads sad (0.55) rather than neutral; a smile from 12 s to 17 s.
const RESTING = dist({ sad: 0.55, neutral: 0.3 });
const SMILING = dist({ happy: 0.65, sad: 0.2, neutral: 0.1 });
const FPS = 10;
const script = (tMs: number): { truth: 'rest' | 'smile'; p: ExpressionProbabilities } =>
  (tMs >= 12_000 && tMs < 17_000 ? { truth: 'smile', p: SMILING } : { truth: 'rest', p: RESTING });

/** Runs 25 s of the scripted person through a video analyzer with a constant face box. */
async function run(options: VideoAnalyzerOptions, calibrateAtMs?: number): Promise<{ frames: VideoFrameAnalysis[]; video: ReturnType<typeof createVideoAnalyzer> }> {
  let seed = 3;
  const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const face: FaceDetection = {
    box: { x: 20, y: 20, width: 40, height: 40 }, score: 0.9,
    keypoints: {
      rightEye: { x: 32, y: 35 }, leftEye: { x: 48, y: 35 }, nose: { x: 40, y: 42 }, mouth: { x: 40, y: 50 }, rightEar: { x: 22, y: 38 }, leftEar: { x: 58, y: 38 },
    },
  };
  const detector = { id: 'scripted', detect: async () => [face] } as unknown as FaceDetector;
  let next: ExpressionProbabilities = RESTING;
  const classifier = {
    id: 'scripted', inputSize: 48, classify: async (crops: Float32Array[]) => crops.map(() => next),
  } as unknown as ExpressionClassifier;
  const video = createVideoAnalyzer({ detector, classifier }, options);
  const image: RawImage = { data: new Uint8Array(80 * 80 * 3).fill(128), width: 80, height: 80, channels: 3 };
  const frames: VideoFrameAnalysis[] = [];
  for (let i = 0; i < 25 * FPS; i++) {
    const t = (i * 1000) / FPS;
    next = noisy(script(t).p, rand);
    if (calibrateAtMs !== undefined && t === calibrateAtMs) expect(video.calibrateBaseline()).toEqual([1]);
    frames.push(await video.analyzeFrame(image, t));
  }
  return { frames, video };
}

describe('relativeToBaseline', () => {
  test('at rest the relative probabilities are the reference (neutral); they sum to 1', () => {
    const b = baselineOf([RESTING], 0.1);
    const rel = relativeToBaseline(RESTING, b);
    expect(sum(rel)).toBeCloseTo(1, 12);
    // p = b up to the shrinkage: close to the reference, neutral on top
    expect(argmax(rel).label).toBe('neutral');
    const exact = relativeToBaseline(b, b);
    for (const e of EXPRESSIONS) expect(exact[e]).toBeCloseTo(NEUTRAL_REFERENCE[e] / sum(NEUTRAL_REFERENCE), 12);
  });

  test('the shift is p·r/b renormalised (hand-computed on 7 values)', () => {
    const p = dist({ happy: 0.4, sad: 0.3 });
    const b = dist({ sad: 0.5 });
    const r = dist({ neutral: 0.7 });
    const rel = relativeToBaseline(p, b, r);
    const raw = Object.fromEntries(EXPRESSIONS.map((e) => [e, (p[e] * r[e]) / b[e]]));
    const z = sum(raw);
    for (const e of EXPRESSIONS) expect(rel[e]).toBeCloseTo(raw[e]! / z, 12);
  });

  test('shrinkage keeps a zero class finite; a zero baseline without shrinkage is a RangeError', () => {
    const b = baselineOf([dist({ neutral: 1 - 1e-9 * 6 })].map((p) => ({ ...p, disgust: 0, neutral: p.neutral + p.disgust })), 0.1);
    expect(b.disgust).toBeCloseTo(0.1 / 7, 12);
    expect(() => relativeToBaseline(dist({}), { ...b, disgust: 0 })).toThrow(RangeError);
  });

  test('BAD INPUT: no samples, a bad shrinkage, a reference that does not sum to 1 are E_OPTION', () => {
    expect(() => baselineOf([])).toThrow(expect.objectContaining({ code: 'E_OPTION' }));
    expect(() => baselineOf([RESTING], 1)).toThrow(expect.objectContaining({ code: 'E_OPTION', message: expect.stringMatching(/shrinkage/) }));
    expect(() => new BaselineEstimator({ windowMs: 1000, reference: dist({ neutral: 0.5 }) && { ...NEUTRAL_REFERENCE, neutral: 0.1 } }))
      .toThrow(expect.objectContaining({ code: 'E_OPTION', message: expect.stringMatching(/reference must sum to 1/) }));
  });
});

describe('BaselineEstimator', () => {
  test('averages the last windowMs of observations', () => {
    const est = new BaselineEstimator({ windowMs: 1000, shrinkage: 0 });
    expect(est.estimate()).toBeNull();
    est.add(dist({ happy: 0.9 }), 0);
    est.add(dist({ sad: 0.9 }), 1500);
    est.add(dist({ sad: 0.7 }), 2000);
    const b = est.estimate()!;
    expect(b.samples).toBe(2); // the first one is older than 1000 ms before 2000
    expect([b.fromMs, b.toMs]).toEqual([1500, 2000]);
    expect(b.probabilities.sad).toBeCloseTo(0.8, 12);
    expect(() => est.add(RESTING, 1000)).toThrow(expect.objectContaining({ code: 'E_OPTION' }));
  });
});

describe('video analyzer with a per-person baseline', () => {
  const share = (frames: VideoFrameAnalysis[], from: number, to: number, label: Expression, pick: (f: VideoFrameAnalysis) => string): number => {
    const sel = frames.filter((f) => f.timestampMs >= from && f.timestampMs < to);
    return sel.filter((f) => pick(f) === label).length / sel.length;
  };

  test('without a baseline the sad-resting person is logged sad most of the time', async () => {
    const { frames, video } = await run({});
    expect(frames[0]!.faces[0]!.relative).toBeUndefined();
    expect(share(frames, 0, 25_000, 'sad', (f) => f.faces[0]!.displayLabel)).toBeGreaterThan(0.7);
    expect(video.summary().tracks[0]!.dominant).toBe('sad');
    expect(() => video.calibrateBaseline()).toThrow(expect.objectContaining({ code: 'E_MODE' }));
  });

  test('auto baseline after 5 s: rest reads neutral, the smile reads happy, raw probabilities stay raw', async () => {
    const { frames, video } = await run({ baseline: { seconds: 5 } });
    const at = (t: number) => frames.find((f) => f.timestampMs === t)!.faces[0]!;
    expect(at(4900).relative).toBeNull(); // not yet calibrated
    const cal = at(5000).relative!;
    expect(cal.calibratedAtMs).toBe(5000);
    expect(cal.baseline.sad).toBeGreaterThan(0.45); // the baseline caught the sad resting face
    expect(argmax(at(5000).probabilities).label).toBe('sad'); // raw unchanged
    // after calibration (leaving 1–1.5 s for the smoothing and hysteresis to settle): rest → neutral, smile → happy
    expect(share(frames, 6000, 12_000, 'neutral', (f) => f.faces[0]!.displayLabel)).toBe(1);
    expect(share(frames, 13_500, 17_000, 'happy', (f) => f.faces[0]!.displayLabel)).toBe(1);
    expect(share(frames, 18_500, 25_000, 'neutral', (f) => f.faces[0]!.displayLabel)).toBe(1);
    expect(share(frames, 6000, 25_000, 'sad', (f) => f.faces[0]!.relative!.label)).toBe(0);
    expect(share(frames, 6000, 25_000, 'sad', (f) => f.faces[0]!.label)).toBeGreaterThan(0.7); // the raw label is still sad at rest
    for (const f of frames.slice(50)) expect(sum(f.faces[0]!.relative!.probabilities)).toBeCloseTo(1, 9);
    const t = video.summary().tracks[0]!;
    expect(t.dominant).toBe('neutral');
    expect(t.baseline!.sad).toBeCloseTo(cal.baseline.sad, 12);
  });

  test('calibrate now (auto off): nothing relative before the call, then the same correction', async () => {
    const { frames } = await run({ baseline: { seconds: 3, auto: false } }, 8000);
    expect(frames.filter((f) => f.timestampMs < 8000).every((f) => f.faces[0]!.relative === null)).toBe(true);
    const cal = frames.find((f) => f.timestampMs === 8000)!.faces[0]!.relative!;
    expect(cal.windowMs.from).toBeGreaterThanOrEqual(4900); // the last 3 s before the call
    expect(share(frames, 9000, 12_000, 'neutral', (f) => f.faces[0]!.displayLabel)).toBe(1);
    expect(share(frames, 13_500, 17_000, 'happy', (f) => f.faces[0]!.displayLabel)).toBe(1);
  });

  test('BAD INPUT: a baseline without seconds, or with an unknown key, is E_OPTION', () => {
    const p = { detector: { detect: async () => [] } as unknown as FaceDetector, classifier: {} as ExpressionClassifier };
    expect(() => createVideoAnalyzer(p, { baseline: {} as never })).toThrow(expect.objectContaining({ code: 'E_OPTION', message: expect.stringMatching(/baseline.seconds/) }));
    expect(() => createVideoAnalyzer(p, { baseline: { seconds: 5, window: 3 } as never })).toThrow(expect.objectContaining({ code: 'E_OPTION', message: expect.stringMatching(/unknown baseline option 'window'/) }));
  });
});
