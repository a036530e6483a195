/** Shared pieces of hand-made analysis results for tests that fake the analyzer. */
import type { FaceQuality } from '../../src/core/types.js';

/** A quality verdict of `ok` with plausible signals (a 40-px sharp frontal face, confident). */
export const OK_QUALITY: FaceQuality = {
  status: 'ok', reasons: [],
  signals: { faceSizePx: 40, sharpness: 2000, yawDeg: 0, rollDeg: 0, detectionScore: 0.9, top1: 0.7, margin: 0.6, entropy: 0.4 },
};
