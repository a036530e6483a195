/**
 * Plain-data types shared by every layer. Everything here survives `JSON.stringify`.
 * Coordinates are pixels of the input image (after EXIF orientation), origin top-left, y down.
 */
import type { Expression, ExpressionProbabilities, LabelSetId, Valence } from './labels.js';

/**
 * An 8-bit image in memory, interleaved (HWC): `data[(y * width + x) * channels + c]`.
 * `channels` is 1 (gray), 3 (RGB) or 4 (RGBA; alpha is ignored). `data.length === width * height * channels`.
 */
export interface RawImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
}

/** A point in input-image pixels. */
export interface Point { x: number; y: number }

/** Axis-aligned box in input-image pixels: top-left corner plus size. */
export interface Box { x: number; y: number; width: number; height: number }

/** BlazeFace's 6 keypoints. "Right" and "left" are the subject's (the right eye is on the image's left in a photo). */
export const KEYPOINT_NAMES = ['rightEye', 'leftEye', 'nose', 'mouth', 'rightEar', 'leftEar'] as const;
export type KeypointName = (typeof KEYPOINT_NAMES)[number];
export type Keypoints = Record<KeypointName, Point>;

// ---------------------------------------------------------------------------------------------------------------
// The quality gate's verdict (the rule and its thresholds are in quality.ts)

/** Measured signals of one face. */
export interface QualitySignals {
  /** Side of the detector box, `√(width · height)`, in input pixels (the whole image's for cropped input). */
  faceSizePx: number;
  /** Variance of the Laplacian of the classifier's crop (gray levels², at the classifier's input size). */
  sharpness: number;
  /** Head yaw estimated from the keypoints, in degrees; positive when the face turns towards the image's left. */
  yawDeg: number | null;
  /** Head roll (eye-line angle), in degrees, positive clockwise in the image. */
  rollDeg: number | null;
  /** Detector confidence in [0, 1]; `null` when no detector ran. */
  detectionScore: number | null;
  /** The largest of the 7 probabilities, in [0, 1]. */
  top1: number;
  /** `top1` minus the second largest probability, in [0, 1]. */
  margin: number;
  /** Shannon entropy of the 7 probabilities / ln 7, in [0, 1]. */
  entropy: number;
}

/** Why a face is uncertain. */
export const QUALITY_REASONS = ['small-face', 'blurry', 'turned-head', 'tilted-head', 'weak-detection', 'low-confidence', 'ambiguous'] as const;
export type QualityReason = (typeof QUALITY_REASONS)[number];

/** The verdict on one face. */
export interface FaceQuality {
  /** `uncertain` when at least one reason applies. */
  status: 'ok' | 'uncertain';
  /** The reasons, in {@link QUALITY_REASONS} order; empty when `ok`. */
  reasons: QualityReason[];
  signals: QualitySignals;
}

/** One detected face. */
export interface FaceDetection {
  box: Box;
  keypoints: Keypoints;
  /** Detector confidence in [0, 1] (sigmoid of the BlazeFace logit, after weighted NMS). */
  score: number;
}

/** One detected face with its expression. */
export interface FaceAnalysis extends FaceDetection {
  /** Softmax over the 7 FER2013 expressions: full precision, in [0, 1], sums to 1. */
  probabilities: ExpressionProbabilities;
  /** Argmax of `probabilities`. */
  label: Expression;
  /** The probability of `label`, in [0, 1] (full precision, never rounded or capped). */
  labelScore: number;
  /** Valence category of `valenceScore` (thresholds in `valence.ts`; not the argmax of the 3-class projection). */
  valence: Valence;
  /** Expected valence `Σ p_c · v_c` over the 7 probabilities (values in `VALENCE_VALUES`), in [−1, 1]. */
  valenceScore: number;
  /** The quality gate's verdict: `ok`, or `uncertain` with its reasons and the measured signals (see quality.ts). */
  quality: FaceQuality;
  /** When a label set other than '7' was asked for: the projected probabilities and their argmax. */
  projected?: { labelSet: LabelSetId; probabilities: Record<string, number>; label: string; score: number };
  /** Stable identity across frames (video mode only). */
  trackId?: number;
}

/** Wall-clock time per stage, in milliseconds. */
export interface Timings { decode: number; detect: number; classify: number; total: number }

/** Result for one image or frame. */
export interface ImageAnalysis {
  /** File path or caller-given name; `null` for anonymous in-memory images. */
  source: string | null;
  /** Image size in pixels (after EXIF orientation). */
  width: number;
  height: number;
  faces: FaceAnalysis[];
  timingsMs: Timings;
  models: { detector: string; classifier: string };
}
