/**
 * Per-person neutral baseline (opt-in): some people's resting face reads "sad" or "angry" to a FER2013 classifier.
 * After a calibration window, a track's probabilities are also reported relative to its own resting distribution.
 *
 * Method (a prior shift, as in Saerens, Latinne & Decaestecker, "Adjusting the outputs of a classifier to new a
 * priori probabilities", Neural Computation 14(1), 2002):
 * 1. Baseline `b`: the mean of the track's raw probability records over the calibration window (each observation
 *    weighs the same), shrunk towards uniform so that no class ratio explodes: `b = (1 − λ)·mean + λ/7`, λ = `shrinkage`
 *    (default 0.1, which bounds every ratio `r/b` by `7/λ = 70`).
 * 2. Relative probabilities: `p_rel(k) ∝ p(k) · r(k) / b(k)`, renormalised to sum 1, where `r` is the resting face of
 *    a typical person ({@link NEUTRAL_REFERENCE}: the default classifier's mean output on FER2013 PublicTest
 *    "neutral" crops). At rest (`p = b`) the relative probabilities are `r`, i.e. "neutral"; a change of expression
 *    moves them the way it moves `p` relative to `b`.
 * Caveat: the window must catch the person at rest. A track that smiles through the window gets a "happy" baseline
 * and later smiles read weaker; use an explicit calibration (`calibrateBaseline`) when that matters.
 * Pure functions and small classes; no module state.
 */
import { FerkitError, numberIn } from './errors.js';
import { EXPRESSIONS, type ExpressionProbabilities } from './labels.js';

/**
 * The resting face of a typical person, as the default classifier (`ferkit-resnet-s-int8-ensemble`, calibrated) sees it:
 * its mean probability record over the 607 FER2013 PublicTest "neutral" crops (measured 2026-12-03 by
 * `node dist/bench/temporal.js --model ferkit-resnet-s-int8-ensemble`, `results/temporal-int8-ensemble.json` →
 * `neutralReference`; the previous default, one network with flip TTA, gave the same within 0.006, and the weights
 * before it within 0.02). Sums to 1.
 */
export const NEUTRAL_REFERENCE: Readonly<ExpressionProbabilities> = Object.freeze({
  angry: 0.0848, disgust: 0.0269, fear: 0.07, happy: 0.0791, sad: 0.1356, surprise: 0.0305, neutral: 0.5731,
});

/** Options of {@link BaselineEstimator} and {@link relativeToBaseline}. */
export interface BaselineOptions {
  /** Calibration window, ms (in [1, 3 600 000]): the baseline is the mean over the last `windowMs` of observations. */
  windowMs: number;
  /** Shrinkage λ towards uniform, in [0, 1). Default 0.1. */
  shrinkage?: number;
  /** Resting distribution the baseline is mapped onto (sums to 1). Default {@link NEUTRAL_REFERENCE}. */
  reference?: Readonly<ExpressionProbabilities>;
}

/** A track's estimated resting distribution. */
export interface Baseline {
  /** `b`: the shrunk mean, over {@link EXPRESSIONS}, each in (0, 1], summing to 1. */
  probabilities: ExpressionProbabilities;
  /** Observations averaged. */
  samples: number;
  /** Timestamps of the first and last observation in the window, ms. */
  fromMs: number;
  toMs: number;
}

/** Throws `E_OPTION` unless `p` is a probability record over the 7 expressions summing to 1 (±1e-3). */
function checkDistribution(name: string, p: Readonly<ExpressionProbabilities>): void {
  let sum = 0;
  for (const e of EXPRESSIONS) {
    const v = p[e];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) {
      throw new FerkitError('E_OPTION', `${name}.${e} must be a probability in [0, 1], got ${String(v)} (${typeof v})`);
    }
    sum += v;
  }
  if (Math.abs(sum - 1) > 1e-3) throw new FerkitError('E_OPTION', `${name} must sum to 1, sums to ${sum.toFixed(4)}`);
}

/**
 * The shrunk mean `b = (1 − λ)·mean + λ/7` of probability records.
 * @param samples - raw probability records (each summing to 1), at least one.
 * @param shrinkage - λ in [0, 1); default 0.1.
 * @throws {FerkitError} `E_OPTION` for no samples or a bad λ.
 */
export function baselineOf(samples: readonly Readonly<ExpressionProbabilities>[], shrinkage = 0.1): ExpressionProbabilities {
  const lambda = numberIn('baseline.shrinkage', shrinkage, 0, 0.999);
  if (samples.length === 0) throw new FerkitError('E_OPTION', 'baseline: no observations to estimate it from');
  const out = {} as ExpressionProbabilities;
  for (const e of EXPRESSIONS) {
    let s = 0;
    for (const p of samples) s += p[e];
    out[e] = (1 - lambda) * (s / samples.length) + lambda / EXPRESSIONS.length;
  }
  return out;
}

/**
 * Probabilities relative to a baseline: `p_rel(k) ∝ p(k) · reference(k) / baseline(k)`, renormalised.
 * @param p - raw probabilities (sum 1).
 * @param baseline - the track's baseline `b` (every class > 0, e.g. from {@link baselineOf} with λ > 0).
 * @param reference - the resting distribution `r`; default {@link NEUTRAL_REFERENCE}.
 * @returns probabilities in [0, 1] summing to 1; equals `reference` when `p` equals `baseline`.
 * @throws {RangeError} if a baseline class is 0 where `p · r` is not, or everything cancels out.
 */
export function relativeToBaseline(
  p: Readonly<ExpressionProbabilities>, baseline: Readonly<ExpressionProbabilities>,
  reference: Readonly<ExpressionProbabilities> = NEUTRAL_REFERENCE,
): ExpressionProbabilities {
  const out = {} as ExpressionProbabilities;
  let sum = 0;
  for (const e of EXPRESSIONS) {
    const num = p[e] * reference[e];
    if (num > 0 && !(baseline[e] > 0)) throw new RangeError(`relativeToBaseline: baseline.${e} is ${baseline[e]}, expected > 0 (use shrinkage > 0)`);
    out[e] = num > 0 ? num / baseline[e] : 0;
    sum += out[e];
  }
  if (!(sum > 0)) throw new RangeError('relativeToBaseline: p · reference / baseline is 0 for every class');
  for (const e of EXPRESSIONS) out[e] /= sum;
  return out;
}

/**
 * Collects a track's raw probabilities over a sliding window of `windowMs` and estimates its {@link Baseline}.
 * @example
 * const est = new BaselineEstimator({ windowMs: 5000 });
 * est.add(face.probabilities, tMs);                 // every frame
 * const b = est.estimate();                         // when calibrating (null before any observation)
 * const rel = b && relativeToBaseline(face.probabilities, b.probabilities);
 */
export class BaselineEstimator {
  readonly windowMs: number;
  readonly shrinkage: number;
  readonly reference: Readonly<ExpressionProbabilities>;
  private readonly window: { tMs: number; p: ExpressionProbabilities }[] = [];

  /** @throws {FerkitError} `E_OPTION` for a bad window, shrinkage or reference. */
  constructor(options: BaselineOptions) {
    this.windowMs = numberIn('baseline.windowMs', options.windowMs, 1, 3_600_000);
    this.shrinkage = numberIn('baseline.shrinkage', options.shrinkage ?? 0.1, 0, 0.999);
    const ref = options.reference ?? NEUTRAL_REFERENCE;
    checkDistribution('baseline.reference', ref);
    this.reference = Object.freeze({ ...ref });
  }

  /**
   * Adds one raw observation at `tMs` (ms, not decreasing) and forgets those older than `windowMs` before it.
   * @throws {FerkitError} `E_OPTION` if `tMs` goes back in time.
   */
  add(p: Readonly<ExpressionProbabilities>, tMs: number): void {
    const last = this.window[this.window.length - 1];
    if (typeof tMs !== 'number' || !Number.isFinite(tMs) || (last && tMs < last.tMs)) {
      throw new FerkitError('E_OPTION', `BaselineEstimator.add: timestampMs must be a finite number not before ${last?.tMs ?? '-∞'} ms, got ${String(tMs)}`);
    }
    this.window.push({ tMs, p: { ...p } });
    while (this.window.length > 0 && this.window[0]!.tMs < tMs - this.windowMs) this.window.shift();
  }

  /** The baseline of the observations in the window, or `null` before any. */
  estimate(): Baseline | null {
    if (this.window.length === 0) return null;
    return {
      probabilities: baselineOf(this.window.map((o) => o.p), this.shrinkage),
      samples: this.window.length,
      fromMs: this.window[0]!.tMs,
      toMs: this.window[this.window.length - 1]!.tMs,
    };
  }
}
