/**
 * The quality gate: per face, measured signals that predict whether its expression label can be trusted, and a
 * documented rule that turns them into `{ status: 'ok' | 'uncertain', reasons }`.
 *
 * Signals (all cheap, computed from what the pipeline already has):
 * - `faceSizePx`: the detector box's side, `√(width · height)`, in input pixels;
 * - `sharpness`: variance of the 4-neighbour Laplacian of the classifier's 48×48 crop (gray levels 0–255);
 *   FER2013's sharp faces have a median of ≈ 2,000, a 3-px Gaussian blur brings it under 50;
 * - `yawDeg` / `rollDeg`: head pose from BlazeFace's six keypoints (see {@link headPose}); `null` for cropped input;
 * - `detectionScore`: the detector's confidence; `null` for cropped input;
 * - `top1`, `margin`, `entropy`: the classifier's own confidence: the largest probability, its lead over the second,
 *   and the Shannon entropy of the 7 probabilities divided by ln 7 (0 = certain, 1 = uniform).
 *
 * Rule: a face is `uncertain` when any signal is past its threshold ({@link QualityThresholds}); each such signal adds
 * its reason. The default thresholds ({@link DEFAULT_QUALITY_THRESHOLDS}) were read off accuracy-vs-signal curves
 * measured by `bench/quality.ts` (figures and charts in `docs/quality.md`).
 */
import type { ExpressionProbabilities } from './labels.js';
import type { FaceDetection, FaceQuality, QualityReason, QualitySignals } from './types.js';

/** Thresholds of the gate. A face is uncertain when a signal is below a `min…` or above a `max…` value. */
export interface QualityThresholds {
  /** `small-face` below this box side, in pixels. */
  minFacePx: number;
  /** `blurry` below this Laplacian variance of the crop. */
  minSharpness: number;
  /** `turned-head` above this |yaw|, in degrees. */
  maxYawDeg: number;
  /** `tilted-head` above this |roll|, in degrees. */
  maxRollDeg: number;
  /** `weak-detection` below this detector score. */
  minDetectionScore: number;
  /** `low-confidence` below this top-1 probability. */
  minTop1: number;
  /** `ambiguous` below this lead of the top-1 probability over the second. */
  minMargin: number;
}

/**
 * The default thresholds, read off the curves of `node dist/bench/quality.js` (the float model `ferkit-resnet-s` with
 * its temperature, FER2013 PublicTest; re-measured 2026-12-01 after it was retrained and calibrated; figures and charts
 * in `docs/quality.md`, data in `results/quality.json`; the same rules on the int8 single-crop graph's curves give the
 * same thresholds, `results/quality-int8.json`; on the default's (the two-network ensemble of 2026-12-03),
 * `results/quality-int8-ensemble.json`, top-1 0.6 and margin 0.4, because the bins top-1 0.5–0.6 (49.5% right, n = 408)
 * and margin 0.3–0.4 (47.6%, n = 229) fall just under 50%, within about one standard error of it, so the thresholds
 * stay, as they did for the previous default's flip-TTA graph):
 * - face size and sharpness: the lowest value whose accuracy stays within 5 points of undegraded faces (67.1%):
 *   40 px (65.8%; 32 px gave 61.9%), Laplacian variance 300 (300–400: 62.6%; 200–300: 60.3%);
 * - top-1 probability and margin: the lowest value above which the label is right more often than wrong in every bin
 *   (top-1 0.45–0.50: 46.4% right, 0.50–0.60: 53.3%; margin 0.20–0.30: 47.4%, 0.30–0.40: 52.3%);
 * - yaw, roll, detection score (detector path over 908 PublicTest faces): beyond the value, accuracy is about 5–10
 *   points or more below the frontal, upright, confident faces: |yaw| > 45° (45–60°: 56.6%, > 60°: 51.4% against
 *   69.6–70.2% under 20°), |roll| > 20° (20–35°: 62.1% against 66.7–70.5%), score < 0.7 (0.6–0.7: 57.3% against 67–73%).
 */
export const DEFAULT_QUALITY_THRESHOLDS: Readonly<QualityThresholds> = {
  minFacePx: 40,
  minSharpness: 300,
  maxYawDeg: 45,
  maxRollDeg: 20,
  minDetectionScore: 0.7,
  minTop1: 0.5,
  minMargin: 0.3,
};

/** Variance of the 4-neighbour Laplacian over the interior of a square gray crop (row-major, `size × size`). */
export function laplacianVariance(crop: ArrayLike<number>, size: number): number {
  let sum = 0;
  let sq = 0;
  let n = 0;
  for (let y = 1; y < size - 1; y++) {
    for (let x = 1; x < size - 1; x++) {
      const i = y * size + x;
      const v = crop[i - 1]! + crop[i + 1]! + crop[i - size]! + crop[i + size]! - 4 * crop[i]!;
      sum += v;
      sq += v * v;
      n++;
    }
  }
  return n ? sq / n - (sum / n) ** 2 : 0;
}

/**
 * Head pose from BlazeFace's keypoints. Roll is the eye line's angle. Yaw comes from where the nose tip lies along the
 * eye line: for a head turned by θ, the nose tip (about 0.3 interocular distances in front of the eyes' plane, a rough
 * adult average: ≈ 20 mm against ≈ 63 mm) moves `0.3 · tan θ` interocular distances off the eyes' midpoint, so
 * `yaw = atan(offset / 0.3)`. Positive when the nose lies towards the subject's left eye. An estimate from 2-D points,
 * not a fitted 3-D pose: it tells frontal from clearly turned faces, not a few degrees. (An estimate from the ears'
 * keypoints was tried first and saturated at ±90° on three-quarter views, where BlazeFace puts the hidden ear on the cheek.)
 */
export function headPose(face: FaceDetection): { yawDeg: number; rollDeg: number } {
  const k = face.keypoints;
  const dx = k.leftEye.x - k.rightEye.x;
  const dy = k.leftEye.y - k.rightEye.y;
  const iod = Math.hypot(dx, dy);
  const roll = Math.atan2(dy, dx);
  if (iod === 0) return { yawDeg: 0, rollDeg: 0 };
  const offset = ((k.nose.x - (k.rightEye.x + k.leftEye.x) / 2) * dx + (k.nose.y - (k.rightEye.y + k.leftEye.y) / 2) * dy) / (iod * iod);
  return { yawDeg: (Math.atan(offset / NOSE_DEPTH) * 180) / Math.PI, rollDeg: (roll * 180) / Math.PI };
}

/** Depth of the nose tip in front of the eyes' plane, in interocular distances (see {@link headPose}). */
const NOSE_DEPTH = 0.3;

/** Confidence signals of a distribution: top-1, margin over the second, entropy / ln K. */
export function confidenceSignals(probs: ExpressionProbabilities): Pick<QualitySignals, 'top1' | 'margin' | 'entropy'> {
  const v = Object.values(probs).sort((x, y) => y - x);
  let h = 0;
  for (const p of v) if (p > 0) h -= p * Math.log(p);
  return { top1: v[0] ?? 0, margin: (v[0] ?? 0) - (v[1] ?? 0), entropy: v.length > 1 ? h / Math.log(v.length) : 0 };
}

/**
 * Measures the signals of one face.
 * @param face - the detection (box, keypoints, score).
 * @param crop - the classifier's input crop, `size × size` gray 0–255, row-major.
 * @param detected - whether `face` came from the detector (`false` for cropped input: no pose or detection score).
 */
export function qualitySignals(face: FaceDetection, crop: ArrayLike<number>, size: number, probs: ExpressionProbabilities, detected: boolean): QualitySignals {
  const pose = detected ? headPose(face) : null;
  return {
    faceSizePx: Math.sqrt(face.box.width * face.box.height),
    sharpness: laplacianVariance(crop, size),
    yawDeg: pose ? pose.yawDeg : null,
    rollDeg: pose ? pose.rollDeg : null,
    detectionScore: detected ? face.score : null,
    ...confidenceSignals(probs),
  };
}

/**
 * Applies the rule: each signal past its threshold adds its reason; `uncertain` when there is any.
 * @param thresholds - overrides of {@link DEFAULT_QUALITY_THRESHOLDS}.
 */
export function judgeQuality(signals: QualitySignals, thresholds: Partial<QualityThresholds> = {}): FaceQuality {
  const t = { ...DEFAULT_QUALITY_THRESHOLDS, ...thresholds };
  const reasons: QualityReason[] = [];
  if (signals.faceSizePx < t.minFacePx) reasons.push('small-face');
  if (signals.sharpness < t.minSharpness) reasons.push('blurry');
  if (signals.yawDeg !== null && Math.abs(signals.yawDeg) > t.maxYawDeg) reasons.push('turned-head');
  if (signals.rollDeg !== null && Math.abs(signals.rollDeg) > t.maxRollDeg) reasons.push('tilted-head');
  if (signals.detectionScore !== null && signals.detectionScore < t.minDetectionScore) reasons.push('weak-detection');
  if (signals.top1 < t.minTop1) reasons.push('low-confidence');
  if (signals.margin < t.minMargin) reasons.push('ambiguous');
  return { status: reasons.length ? 'uncertain' : 'ok', reasons, signals };
}
