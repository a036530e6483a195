/**
 * Valence: how pleasant an expression is, as a continuous score in [−1, 1] and as a category.
 *
 * The score is the expectation of per-class valence values under the 7-class probabilities,
 * `score = Σ_c p_c · v_c` with {@link VALENCE_VALUES}. The category comes from two thresholds on it
 * ({@link valenceCategory}): positive when `score ≥ positive`, negative when `score ≤ −negative`, neutral between.
 *
 * Why not the 3-class projection (positive = happy + surprise, negative = angry + disgust + fear + sad)? Its argmax lets
 * four negative classes outvote two positive ones: "happy 33%" with the rest spread over sad, fear and angry was
 * reported negative. Under the expectation a face is negative only when the probability-weighted unpleasant mass
 * outweighs the pleasant mass by the threshold. The projection stays available as the `valence` label set.
 */
import type { ExpressionProbabilities, Valence } from './labels.js';
import { EXPRESSIONS } from './labels.js';

/**
 * Per-class valence values in [−1, 1].
 *
 * The signs follow the circumplex model of affect (Russell 1980, J. Pers. Soc. Psychol. 39:1161): happiness lies at the
 * pleasant pole; sadness, anger, fear and disgust on the unpleasant half; neutral at the origin. Magnitudes are ferkit's
 * convention, not ratings copied from a study: 1 for the prototypical expressions, 0.5 for surprise, whose valence depends
 * on the cause (circumplex models put astonishment near the arousal axis, slightly on the pleasant side). The
 * thresholds that turn the score into a category were chosen on data (see {@link DEFAULT_VALENCE_THRESHOLDS}).
 */
export const VALENCE_VALUES: Readonly<Record<(typeof EXPRESSIONS)[number], number>> = {
  angry: -1, disgust: -1, fear: -1, happy: 1, sad: -1, surprise: 0.5, neutral: 0,
};

/** Cut points on the valence score: positive when `score ≥ positive`, negative when `score ≤ −negative`. Both > 0. */
export interface ValenceThresholds {
  /** Lowest score called positive, in (0, 1]. */
  positive: number;
  /** Magnitude of the highest score called negative, in (0, 1]: negative when `score ≤ −negative`. */
  negative: number;
}

/**
 * The default thresholds, chosen by `node dist/bench/calibrate.js` on the calibration hold-out of FER2013 Training (1,925
 * faces the model never saw; never PublicTest): over a grid 0.05…0.95 of both, the pair with the best macro-F1 of the
 * category against the valence of the true class (its 3-class projection), with the calibrated probabilities of the
 * then default classifier `ferkit-resnet-s` (trained without the hold-out; hold-out macro-F1 0.749; its int8 quantization,
 * today's default, agrees as well: 79.3% vs 79.6% on PublicTest). Figures in `docs/valence.md`.
 */
export const DEFAULT_VALENCE_THRESHOLDS: Readonly<ValenceThresholds> = { positive: 0.05, negative: 0.4 };

/**
 * The valence score of a 7-class distribution: `Σ_c p_c · VALENCE_VALUES[c]`.
 * @param probs - probabilities in [0, 1] over the 7 expressions, summing to 1.
 * @returns a score in [−1, 1]; 1 only for certain happiness, −1 only for certain angry/disgust/fear/sad mass.
 */
export function valenceScore(probs: ExpressionProbabilities): number {
  let s = 0;
  for (const e of EXPRESSIONS) s += probs[e] * VALENCE_VALUES[e];
  return Math.max(-1, Math.min(1, s));
}

/**
 * The valence category of a score: `positive` when `score ≥ t.positive`, `negative` when `score ≤ −t.negative`,
 * otherwise `neutral`.
 * @param score - a valence score in [−1, 1] (from {@link valenceScore}).
 */
export function valenceCategory(score: number, t: Readonly<ValenceThresholds> = DEFAULT_VALENCE_THRESHOLDS): Valence {
  if (score >= t.positive) return 'positive';
  if (score <= -t.negative) return 'negative';
  return 'neutral';
}

/** The valence category of a distribution: `valenceCategory(valenceScore(probs), t)`. */
export function valenceOf(probs: ExpressionProbabilities, t: Readonly<ValenceThresholds> = DEFAULT_VALENCE_THRESHOLDS): Valence {
  return valenceCategory(valenceScore(probs), t);
}
