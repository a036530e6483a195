/** The label shown for a tracked face (pure; shared by the views and the session). */
import { EXPRESSIONS, type Expression } from '../../src/core/labels.js';
import type { LiveFace } from '../../src/web/live.js';

/**
 * The label a face shows: the video analyzer's `displayLabel` (smoothed probabilities + hysteresis; the app uses label
 * set '7', so it is an expression) and its smoothed probability.
 */
export function shownLabel(face: LiveFace): { label: Expression; score: number } {
  const label = (EXPRESSIONS as readonly string[]).includes(face.displayLabel) ? (face.displayLabel as Expression) : face.smoothed.label;
  return { label, score: face.smoothed.probabilities[label] };
}
