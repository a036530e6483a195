/**
 * Decoding of BlazeFace's raw outputs (MediaPipe's `TensorsToDetectionsCalculator` with
 * `num_coords: 16`, `box_coord_offset: 0`, `keypoint_coord_offset: 4`, `num_keypoints: 6`,
 * `x/y/w/h_scale` = input size, `sigmoid_score: true`, `score_clipping_thresh: 100`).
 */
import type { SquareWindow } from './preprocess.js';

/**
 * A decoded detection before suppression, in input-image pixels (x right, y down).
 * `keypoints` is `[x0, y0, …, x5, y5]` in {@link KEYPOINT_NAMES} order.
 */
export interface Candidate {
  score: number;
  xMin: number;
  yMin: number;
  xMax: number;
  yMax: number;
  keypoints: number[];
}

/** The number of regression values per anchor: box `(dx, dy, w, h)` then 6 keypoints `(dx, dy)`. */
export const COORDS_PER_ANCHOR = 16;

/**
 * Decodes the anchors whose score reaches `minScore` and appends them to `out`.
 * @param logits - raw scores, one per anchor (`[N]`, concatenated over the model's score outputs).
 * @param regressors - `[N, 16]` row-major: box centre offset and size, then 6 keypoint offsets, all in
 *   model-input pixels relative to the anchor centre.
 * @param anchors - `[N, 2]` anchor centres in [0, 1] (from `generateAnchors`).
 * @param inputSize - model input side in pixels.
 * @param minScore - threshold on the sigmoid score, in [0, 1].
 * @param win - the image window the model saw; normalised coordinates map to `win.x + u × win.side`.
 * @param offset - index of the first anchor covered by `logits`/`regressors` (outputs come in several tensors).
 */
export function decodeCandidates(
  logits: Float32Array,
  regressors: Float32Array,
  anchors: Float32Array,
  offset: number,
  inputSize: number,
  minScore: number,
  win: SquareWindow,
  out: Candidate[],
): void {
  // Compare logits, not sigmoids: sigmoid is monotonic, and most anchors fail the test.
  const minLogit = minScore <= 0 ? -Infinity : minScore >= 1 ? Infinity : Math.log(minScore / (1 - minScore));
  const k = win.side / inputSize;
  for (let i = 0; i < logits.length; i++) {
    const logit = Math.max(-100, Math.min(100, logits[i]!));
    if (logit < minLogit) continue;
    const ax = win.x + anchors[(offset + i) * 2]! * win.side;
    const ay = win.y + anchors[(offset + i) * 2 + 1]! * win.side;
    const r = i * COORDS_PER_ANCHOR;
    const cx = ax + regressors[r]! * k;
    const cy = ay + regressors[r + 1]! * k;
    const hw = (regressors[r + 2]! * k) / 2;
    const hh = (regressors[r + 3]! * k) / 2;
    const keypoints = new Array<number>(12);
    for (let j = 0; j < 12; j += 2) {
      keypoints[j] = ax + regressors[r + 4 + j]! * k;
      keypoints[j + 1] = ay + regressors[r + 5 + j]! * k;
    }
    out.push({ score: 1 / (1 + Math.exp(-logit)), xMin: cx - hw, yMin: cy - hh, xMax: cx + hw, yMax: cy + hh, keypoints });
  }
}
