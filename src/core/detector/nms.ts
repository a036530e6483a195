/**
 * MediaPipe's weighted non-maximum suppression (`NonMaxSuppressionCalculator` with
 * `algorithm: WEIGHTED`, `overlap_type: INTERSECTION_OVER_UNION`).
 */
import type { Candidate } from './decode.js';

/** Intersection over union of two candidates' boxes, in [0, 1]; 0 when either box is empty. */
export function iou(a: Candidate, b: Candidate): number {
  const iw = Math.min(a.xMax, b.xMax) - Math.max(a.xMin, b.xMin);
  const ih = Math.min(a.yMax, b.yMax) - Math.max(a.yMin, b.yMin);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  const union = (a.xMax - a.xMin) * (a.yMax - a.yMin) + (b.xMax - b.xMin) * (b.yMax - b.yMin) - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Weighted NMS: take the best remaining candidate, gather every remaining candidate whose IoU with it
 * exceeds `iouThreshold` (itself included), and emit the score-weighted mean of their boxes and keypoints
 * with the best candidate's score. Repeats until no candidate is left or `maxOut` are emitted.
 * @param candidates - in any order; not modified.
 * @param iouThreshold - in [0, 1]; MediaPipe uses 0.3.
 * @returns merged candidates, sorted by score descending.
 */
export function weightedNms(candidates: readonly Candidate[], iouThreshold: number, maxOut = Infinity): Candidate[] {
  let remaining = [...candidates].sort((a, b) => b.score - a.score);
  const out: Candidate[] = [];
  while (remaining.length > 0 && out.length < maxOut) {
    const best = remaining[0]!;
    const rest: Candidate[] = [];
    let wSum = 0;
    let xMin = 0;
    let yMin = 0;
    let xMax = 0;
    let yMax = 0;
    const kp = new Array<number>(best.keypoints.length).fill(0);
    for (const c of remaining) {
      if (c !== best && iou(best, c) <= iouThreshold) {
        rest.push(c);
        continue;
      }
      const w = c.score;
      wSum += w;
      xMin += w * c.xMin;
      yMin += w * c.yMin;
      xMax += w * c.xMax;
      yMax += w * c.yMax;
      for (let j = 0; j < kp.length; j++) kp[j] = kp[j]! + w * c.keypoints[j]!;
    }
    const inv = 1 / wSum;
    out.push({ score: best.score, xMin: xMin * inv, yMin: yMin * inv, xMax: xMax * inv, yMax: yMax * inv, keypoints: kp.map((v) => v * inv) });
    remaining = rest;
  }
  return out;
}
