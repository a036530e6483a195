/**
 * Tracking: stable ids for synthetic moving boxes (crossing paths, short disappearances), and the video analyzer's
 * detection schedule and time-weighted summary, with stand-in models (no ONNX here).
 */
import { describe, expect, test } from 'vitest';
import type { ExpressionClassifier } from '../../src/core/classifier/expression.js';
import type { FaceDetector } from '../../src/core/detector/index.js';
import { EXPRESSIONS, type ExpressionProbabilities } from '../../src/core/labels.js';
import { FaceTracker, boxIou } from '../../src/core/tracker.js';
import type { Box, FaceDetection, RawImage } from '../../src/core/types.js';
import { createVideoAnalyzer, videoDetectorOptions } from '../../src/core/video.js';
import { valenceScore } from '../../src/core/valence.js';

const box = (x: number, y: number, size = 80): { box: Box } => ({ box: { x, y, width: size, height: size } });

describe('FaceTracker', () => {
  test('two boxes crossing paths keep their ids (detections come in shuffled order)', () => {
    const tracker = new FaceTracker();
    const ids = { a: new Set<number>(), b: new Set<number>() };
    let sawOverlap = false;
    for (let i = 0; i < 50; i++) {
      const t = i * 40; // 25 fps
      const a = box(20 + 10 * i, 100); // left → right, 250 px/s
      const b = box(520 - 10 * i, 130); // right → left, 30 px lower
      if (boxIou(a.box, b.box) > 0.3) sawOverlap = true;
      const dets = i % 2 ? [b, a] : [a, b];
      const { assigned } = tracker.update(dets, t);
      for (const x of assigned) (x.detection === a ? ids.a : ids.b).add(x.trackId);
    }
    expect(sawOverlap).toBe(true);
    expect(ids.a.size).toBe(1);
    expect(ids.b.size).toBe(1);
    expect([...ids.a][0]).not.toBe([...ids.b][0]);
    expect(tracker.tracks).toHaveLength(2);
  });

  test('a box that disappears for a few frames comes back with the same id, where the motion model predicted it', () => {
    const tracker = new FaceTracker({ maxAgeMs: 1000 });
    const seen: number[] = [];
    for (let i = 0; i < 40; i++) {
      const t = i * 40;
      const hidden = i >= 15 && i < 22; // 7 frames = 280 ms
      const d = box(50 + 6 * i, 60 + 2 * i);
      const { assigned, missed } = tracker.update(hidden ? [] : [d], t);
      if (hidden) expect(missed).toEqual([1]);
      else seen.push(assigned[0]!.trackId);
    }
    expect(new Set(seen)).toEqual(new Set([1]));
    // After the gap the box moved 7 × 6 px: without a motion model the IoU pass alone would still match (big box),
    // so check the prediction itself.
    const [p] = tracker.predict(39 * 40 + 40);
    expect(p!.box.x).toBeCloseTo(50 + 6 * 40, 0);
    expect(p!.box.y).toBeCloseTo(60 + 2 * 40, 0);
  });

  test('a small fast box that skips past its old position is matched by prediction, not lost', () => {
    const tracker = new FaceTracker();
    const ids = new Set<number>();
    for (let i = 0; i < 30; i++) {
      const hidden = i >= 10 && i < 14;
      const { assigned } = tracker.update(hidden ? [] : [box(10 + 20 * i, 50, 30)], i * 40); // 2/3 of its side per frame
      for (const a of assigned) ids.add(a.trackId);
    }
    expect(ids).toEqual(new Set([1]));
  });

  test('a box gone for longer than maxAgeMs gets a new id, and the old track is dropped', () => {
    const tracker = new FaceTracker({ maxAgeMs: 300 });
    expect(tracker.update([box(100, 100)], 0).assigned[0]!.trackId).toBe(1);
    expect(tracker.update([box(102, 100)], 40).assigned[0]!.trackId).toBe(1);
    const later = tracker.update([box(104, 100)], 400);
    expect(later.dropped).toEqual([1]);
    expect(later.assigned[0]).toMatchObject({ trackId: 2, isNew: true });
  });

  test('two detections a few ms apart (frames sent back to back) set no velocity: box noise is not motion', () => {
    const tracker = new FaceTracker();
    tracker.update([box(100, 100)], 0);
    tracker.update([box(103, 101)], 2); // 3 px in 2 ms would be 1,500 px/s
    expect(tracker.tracks[0]!.velocity.x).toBe(0);
    // the next detection 200 ms later still matches the same track and now sets the velocity
    const { assigned } = tracker.update([box(104, 100)], 202);
    expect(assigned[0]!.isNew).toBe(false);
    expect(tracker.tracks[0]!.velocity.x).toBeCloseTo(1 / 200, 3);
  });

  test('a wrong velocity (timestamps that do not match the content of the frames) does not split the track', () => {
    // A loaded browser: two frames stamped 25 ms apart show the face 30 px apart (their content was 400 ms apart), so
    // the motion model believes 1.2 px/ms; the next frame, 500 ms later, has the face where it was. The prediction
    // (x ≈ 730) misses it by far; the box where the track was last detected matches, the id stays, and the motion
    // model restarts from there. (bench/track-stamps.ts, test.mp4 replayed with such stamps: 9 of 80 runs split before, 0 after.)
    const tracker = new FaceTracker();
    tracker.update([box(100, 100)], 0);
    tracker.update([box(130, 100)], 25);
    expect(tracker.tracks[0]!.velocity.x).toBeCloseTo(1.2, 3);
    const { assigned, missed } = tracker.update([box(128, 101)], 525);
    expect(assigned[0]).toMatchObject({ trackId: 1, isNew: false });
    expect(missed).toEqual([]);
    expect(tracker.tracks[0]!.velocity.x).toBeCloseTo(-2 / 500, 4); // from the last box: 2 px back in 500 ms
    expect(tracker.tracks[0]!.box.x).toBe(128);
    // the restarted model has two detections behind it (the last box and this one), the track three
    expect(tracker.tracks[0]).toMatchObject({ hits: 3, motionHits: 2 });
    tracker.update([box(127, 101)], 565);
    expect(tracker.tracks[0]).toMatchObject({ hits: 4, motionHits: 3 });
  });

  test('velocityGain 0: no motion model, the prediction is the last box', () => {
    const tracker = new FaceTracker({ velocityGain: 0 });
    for (let i = 0; i < 5; i++) tracker.update([box(100 + 10 * i, 100)], i * 40);
    expect(tracker.tracks[0]!.velocity.x).toBe(0);
    expect(tracker.predict(400)[0]!.box.x).toBe(140);
  });

  test('predict extrapolates a constant velocity', () => {
    const tracker = new FaceTracker();
    for (let i = 0; i < 20; i++) tracker.update([box(10 + 4 * i, 200 - 2 * i)], i * 40);
    const [p] = tracker.predict(20 * 40);
    expect(p!.box.x).toBeCloseTo(90, 0);
    expect(p!.box.y).toBeCloseTo(160, 0);
    expect(tracker.tracks[0]!.velocity.x).toBeCloseTo(0.1, 2); // 4 px per 40 ms
  });

  test('BAD INPUT: unknown options, out-of-range values and time going backwards are E_OPTION', () => {
    expect(() => new FaceTracker({ maxAge: 5 } as never)).toThrow(expect.objectContaining({ code: 'E_OPTION', message: expect.stringMatching(/maxAge/) }));
    expect(() => new FaceTracker({ minIou: 2 })).toThrow(expect.objectContaining({ code: 'E_OPTION', message: expect.stringMatching(/minIou/) }));
    const tracker = new FaceTracker();
    tracker.update([], 100);
    expect(() => tracker.update([], 50)).toThrow(expect.objectContaining({ code: 'E_OPTION', message: expect.stringMatching(/50 ms after 100 ms/) }));
  });

  test('boxIou', () => {
    expect(boxIou({ x: 0, y: 0, width: 10, height: 10 }, { x: 5, y: 0, width: 10, height: 10 })).toBeCloseTo(50 / 150, 12);
    expect(boxIou({ x: 0, y: 0, width: 10, height: 10 }, { x: 20, y: 0, width: 10, height: 10 })).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The video analyzer with stand-in models.

const probs = (top: 'happy' | 'sad' | 'neutral', p = 0.8): ExpressionProbabilities => {
  const rest = (1 - p) / (EXPRESSIONS.length - 1);
  return Object.fromEntries(EXPRESSIONS.map((e) => [e, e === top ? p : rest])) as ExpressionProbabilities;
};

/** A detector returning `scene.faces` (and counting calls), a classifier returning `scene.expression`. */
function fakes(): { scene: { faces: FaceDetection[]; expression: ExpressionProbabilities }; detector: FaceDetector & { calls: number }; classifier: ExpressionClassifier } {
  const scene = { faces: [] as FaceDetection[], expression: probs('neutral') };
  const detector = {
    id: 'fake-detector', options: {} as FaceDetector['options'], calls: 0,
    async detect() { detector.calls++; return scene.faces.map((f) => ({ ...f, box: { ...f.box } })); },
    async dispose() {},
  };
  const classifier = {
    id: 'fake-classifier', card: {} as ExpressionClassifier['card'], inputSize: 8, temperature: 1,
    async classify(crops: readonly Float32Array[]) { return crops.map(() => ({ ...scene.expression })); },
    async logits() { return []; },
    async dispose() {},
  } as ExpressionClassifier;
  return { scene, detector, classifier };
}

const face = (x: number, y: number, size = 60): FaceDetection => {
  const k = { x: x + size / 2, y: y + size / 2 };
  return { box: { x, y, width: size, height: size }, score: 0.9, keypoints: { rightEye: k, leftEye: k, nose: k, mouth: k, rightEar: k, leftEar: k } };
};
const frame: RawImage = { data: new Uint8Array(320 * 240 * 3), width: 320, height: 240, channels: 3 };

describe('video analyzer (stand-in models)', () => {
  test('detectEvery 4 runs the detector on every 4th frame (once a track has 3 detections) and follows the box with the motion model in between', async () => {
    const { scene, detector, classifier } = fakes();
    const video = createVideoAnalyzer({ detector, classifier }, { detectEvery: 4, redetectShift: 100 });
    const sources: string[] = [];
    for (let i = 0; i < 20; i++) {
      scene.faces = [face(20 + 3 * i, 40)];
      const r = await video.analyzeFrame(frame, i * 40);
      expect(r.faces).toHaveLength(1);
      expect(r.faces[0]!.trackId).toBe(1);
      sources.push(r.faces[0]!.boxSource);
      expect(Math.abs(r.faces[0]!.box.x - (20 + 3 * i))).toBeLessThan(0.5); // predicted boxes are where the face is
    }
    // A new track is detected on 3 frames in a row (its velocity is not known before), then every 4th frame.
    expect(sources.slice(0, 11).map((s) => s[0]).join('')).toBe('dddpppdpppd');
    expect(detector.calls).toBe(7);
    expect(video.summary().detectorRuns).toBe(7);
  });

  test('a motion model restarted by the tracker (wrong velocity) is confirmed by detection before it is followed again', async () => {
    const { scene, detector, classifier } = fakes();
    const video = createVideoAnalyzer({ detector, classifier }, { detectEvery: 4, redetectShift: 100 });
    const sources: string[] = [];
    for (let i = 0; i < 12; i++) {
      // a jump of 30 px between frames 1 and 2 gives 0.375 px/ms; the face then stays at x = 130, so the detection of
      // frame 6 is ~60 px from the prediction and matches only through the last-detected box: the model restarts
      scene.faces = [face(i < 2 ? 100 : 130, 40)];
      const r = await video.analyzeFrame(frame, i * 40);
      expect(r.faces.map((f) => f.trackId)).toEqual([1]);
      sources.push(r.faces[0]!.boxSource[0]!);
    }
    // frame 7 is detected again (the restarted model has 2 detections behind it), then every 4th frame
    expect(sources.join('')).toBe('dddpppddpppd');
  });

  test('setDetectEvery and setClassifier (the frame budget\'s levers) keep the track, its smoothing and its tallies', async () => {
    const { scene, detector, classifier } = fakes();
    const video = createVideoAnalyzer({ detector, classifier }, { redetectShift: 100, smoothing: { halfLifeMs: 200, hysteresis: false } });
    scene.faces = [face(100, 80)];
    scene.expression = probs('happy');
    for (let i = 0; i < 10; i++) await video.analyzeFrame(frame, i * 40);
    expect(detector.calls).toBe(10);
    video.setDetectEvery(3);
    expect(video.options.detectEvery).toBe(3);
    const lite = { ...classifier, id: 'fake-lite', async classify(crops: readonly Float32Array[]) { return crops.map(() => probs('sad')); } } as ExpressionClassifier;
    video.setClassifier(lite);
    expect(video.classifier.id).toBe('fake-lite');
    let last;
    for (let i = 10; i < 22; i++) last = await video.analyzeFrame(frame, i * 40);
    expect(detector.calls).toBe(14); // every 3rd of the 12 frames
    expect(last!.faces[0]!.trackId).toBe(1);
    expect(last!.faces[0]!.probabilities.sad).toBeCloseTo(0.8, 6); // the new model's raw output
    // the running average carried on from the old model's (happy) towards the new one's (sad)
    expect(last!.faces[0]!.smoothed.probabilities.happy).toBeGreaterThan(0.1);
    expect(last!.faces[0]!.smoothed.probabilities.sad).toBeGreaterThan(last!.faces[0]!.smoothed.probabilities.happy);
    expect(video.summary().tracks).toHaveLength(1);
    expect(() => video.setDetectEvery(0)).toThrow(expect.objectContaining({ code: 'E_OPTION' }));
    expect(() => video.setDetectEvery(1.5)).toThrow(expect.objectContaining({ code: 'E_OPTION' }));
    expect(() => video.setClassifier({} as never)).toThrow(expect.objectContaining({ code: 'E_OPTION', message: expect.stringMatching(/ExpressionClassifier/) }));
  });

  test('adaptive: a box predicted to move fast triggers an early detection', async () => {
    const { scene, detector, classifier } = fakes();
    const video = createVideoAnalyzer({ detector, classifier }, { detectEvery: 10, redetectShift: 0.2 });
    for (let i = 0; i < 30; i++) {
      scene.faces = [face(10 + 8 * i, 40)]; // 8 px per frame on a 60 px face: 0.2 of its side in < 2 frames
      await video.analyzeFrame(frame, i * 40);
    }
    expect(detector.calls).toBeGreaterThan(10);
    expect(detector.calls).toBeLessThan(30);
  });

  test('setHalfLife changes the smoothing but keeps the track id and the time tallies', async () => {
    const { scene, detector, classifier } = fakes();
    const video = createVideoAnalyzer({ detector, classifier }, { smoothing: { halfLifeMs: 5000, hysteresis: false } });
    scene.faces = [face(100, 80)];
    scene.expression = probs('happy');
    for (let i = 0; i < 5; i++) await video.analyzeFrame(frame, i * 40);
    video.setHalfLife(0); // no smoothing from now on: the next frame shows the raw label at once
    scene.expression = probs('sad');
    const r = await video.analyzeFrame(frame, 200);
    expect(r.faces[0]!.trackId).toBe(1);
    expect(r.faces[0]!.smoothed.label).toBe('sad');
    expect(video.summary(240).tracks).toHaveLength(1);
    expect(() => video.setHalfLife(-1)).toThrow(/halfLifeMs/);
  });

  test('no face followed: the detector runs on every frame, whatever detectEvery', async () => {
    const { detector, classifier } = fakes();
    const video = createVideoAnalyzer({ detector, classifier }, { detectEvery: 5 });
    for (let i = 0; i < 6; i++) expect((await video.analyzeFrame(frame, i * 40)).detectorRan).toBe(true);
  });

  test('smoothing and shares use time, so 10 fps and 50 fps give the same summary', async () => {
    const run = async (fps: number) => {
      const { scene, detector, classifier } = fakes();
      const video = createVideoAnalyzer({ detector, classifier }, { smoothing: { halfLifeMs: 300, hysteresis: false } });
      scene.faces = [face(100, 80)];
      let last;
      for (let i = 0; i < 4 * fps; i++) {
        const t = (i * 1000) / fps;
        scene.expression = t < 1000 ? probs('happy') : probs('sad'); // 1 s happy, 3 s sad
        last = await video.analyzeFrame(frame, t);
      }
      return { summary: video.summary(4000), last: last! };
    };
    const a = await run(10);
    const b = await run(50);
    expect(a.summary.durationMs).toBe(4000);
    expect(b.summary.tracks).toHaveLength(1);
    expect(b.summary.tracks[0]!.durationMs).toBeCloseTo(4000, 6);
    expect(a.last.faces[0]!.smoothed.probabilities.sad).toBeCloseTo(b.last.faces[0]!.smoothed.probabilities.sad, 2);
    // happy is displayed for 1 s plus the time the average takes to cross over: same at both rates (±1 frame at 10 fps)
    expect(a.summary.overall.shares.happy).toBeGreaterThan(0.25);
    expect(Math.abs(a.summary.overall.shares.happy! - b.summary.overall.shares.happy!)).toBeLessThan(0.03);
    expect(b.summary.overall.dominant).toBe('sad');
    const shares = Object.values(b.summary.overall.shares).reduce((x, y) => x + y, 0);
    expect(shares).toBeCloseTo(1, 12);
    expect(b.summary.overall.meanValence).toBeLessThan(0);
  });

  test('raw and smoothed probabilities are both reported; hysteresis holds the displayed label through a blip', async () => {
    const { scene, detector, classifier } = fakes();
    const video = createVideoAnalyzer({ detector, classifier }, { smoothing: { halfLifeMs: 0, hysteresis: { margin: 0.1, minDwellMs: 200, floor: 0 } } });
    scene.faces = [face(100, 80)];
    const shown: string[] = [];
    for (let i = 0; i < 20; i++) {
      scene.expression = i === 8 ? probs('sad', 0.95) : probs('happy');
      const r = await video.analyzeFrame(frame, i * 40);
      const f = r.faces[0]!;
      if (i === 8) { expect(f.label).toBe('sad'); expect(f.smoothed.label).toBe('sad'); }
      shown.push(f.displayLabel);
    }
    expect(new Set(shown)).toEqual(new Set(['happy']));
  });

  test('floor: a displayed label whose smoothed probability is below the floor is marked uncertain; the hysteresis still decides the label', async () => {
    const { scene, detector, classifier } = fakes();
    const video = createVideoAnalyzer({ detector, classifier }, { smoothing: { halfLifeMs: 0, hysteresis: { margin: 0.3, minDwellMs: 10_000, floor: 0.3 } } });
    scene.faces = [face(100, 80)];
    const seen: { label: string; score: number; uncertain: boolean }[] = [];
    const script = [probs('happy'), probs('happy'), probs('sad', 0.95), probs('sad', 0.25)]; // last: nothing reaches 0.3
    for (let i = 0; i < script.length; i++) {
      scene.expression = script[i]!;
      const f = (await video.analyzeFrame(frame, i * 40)).faces[0]!;
      seen.push({ label: f.displayLabel, score: f.displayScore, uncertain: f.displayUncertain });
      expect(f.displayScore).toBe((f.smoothed.probabilities as Record<string, number>)[f.displayLabel]);
      if (f.displayScore < 0.3) expect(f.displayUncertain).toBe(true);
    }
    // the dwell (10 s) holds "happy" through the sad frames, but marks it uncertain (its probability is ≈ 0.04, then 0.125)
    expect(seen.map((s) => s.label)).toEqual(['happy', 'happy', 'happy', 'happy']);
    expect(seen.map((s) => s.uncertain)).toEqual([false, false, true, true]);
  });

  test('BAD INPUT: timestamps must increase; a pipeline without a detector is E_MODE', async () => {
    const { detector, classifier } = fakes();
    const video = createVideoAnalyzer({ detector, classifier });
    await video.analyzeFrame(frame, 100);
    await expect(video.analyzeFrame(frame, 100)).rejects.toMatchObject({ code: 'E_OPTION', message: expect.stringMatching(/increase/) });
    expect(() => createVideoAnalyzer({ detector: null, classifier })).toThrow(expect.objectContaining({ code: 'E_MODE' }));
    expect(() => createVideoAnalyzer({ detector, classifier }, { detectEvery: 0 })).toThrow(expect.objectContaining({ code: 'E_OPTION', message: expect.stringMatching(/detectEvery/) }));
  });

  test('helpers: detector by frame size; valence score', () => {
    expect(videoDetectorOptions(640, 360)).toEqual({ model: 'front', tiling: 'off' });
    expect(videoDetectorOptions(1920, 1080)).toEqual({ model: 'back', tiling: 'off' });
    expect(valenceScore(probs('happy', 1))).toBeCloseTo(1, 12);
    expect(valenceScore(probs('neutral', 1))).toBeCloseTo(0, 12);
  });
});
