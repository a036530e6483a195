/**
 * Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks"): probabilities are
 * `softmax(logits / T)` with one scalar `T > 0` per model, fitted by minimising the negative log-likelihood on held-out
 * data. It changes confidences, never the argmax (accuracy is unchanged). ferkit fits `T` on the calibration hold-out of
 * FER2013 Training (see `isCalibrationHoldout` in `ferkit/node`), stores it in the model card's `calibration`, and the
 * classifier applies it.
 */
import { FerkitError } from './errors.js';

/** What a model card records about the temperature fitted for it. */
export interface TemperatureCalibration {
  method: 'temperature-scaling';
  /** The fitted temperature, > 0: > 1 softens over-confident outputs, < 1 sharpens under-confident ones. */
  temperature: number;
  /** The data it was fitted on, in words. */
  fittedOn: string;
  /** Samples it was fitted on. */
  n: number;
  /**
   * Whether the fitting data was left out of the model's training. `false` for a model trained on all of Training
   * (the hold-out was then seen in training, and the fitted temperature is biased towards sharpening).
   */
  heldOut: boolean;
  /** Mean negative log-likelihood (nats) on the fitting data at T = 1 and at the fitted T. */
  nll: { before: number; after: number };
  /** Expected calibration error (15 bins) on the fitting data at T = 1 and at the fitted T, in [0, 1]. */
  ece: { before: number; after: number };
}

/**
 * Softmax of `logits / temperature` (numerically stable).
 * @param logits - one row of K logits.
 * @returns K probabilities in [0, 1] summing to 1.
 */
export function softmaxWithTemperature(logits: ArrayLike<number>, temperature: number): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]! / temperature);
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) { out[i] = Math.exp(logits[i]! / temperature - max); sum += out[i]!; }
  for (let i = 0; i < out.length; i++) out[i] = out[i]! / sum;
  return out;
}

/**
 * Mean negative log-likelihood (nats) of the true classes under `softmax(logits / temperature)`.
 * @param logits - N rows of K logits; `labels` - N class indices in [0, K).
 */
export function meanNll(logits: readonly ArrayLike<number>[], labels: ArrayLike<number>, temperature: number): number {
  let total = 0;
  for (let n = 0; n < logits.length; n++) {
    const row = logits[n]!;
    let max = -Infinity;
    for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]! / temperature);
    let sum = 0;
    for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! / temperature - max);
    total += max + Math.log(sum) - row[labels[n]!]! / temperature;
  }
  return logits.length ? total / logits.length : 0;
}

/**
 * Fits the temperature that minimises {@link meanNll}: golden-section search over `β = 1/T` in [1/20, 20] (the NLL is
 * convex in β), to a relative tolerance of 1e-4.
 * @returns the temperature and the NLL before (T = 1) and after.
 * @throws {FerkitError} `E_OPTION` for no samples or a label count that differs from the rows.
 */
export function fitTemperature(logits: readonly ArrayLike<number>[], labels: ArrayLike<number>): { temperature: number; nllBefore: number; nllAfter: number } {
  if (logits.length === 0 || logits.length !== labels.length) {
    throw new FerkitError('E_OPTION', `fitTemperature needs one label per logits row and at least one row, got ${logits.length} rows and ${labels.length} labels`);
  }
  const f = (beta: number): number => meanNll(logits, labels, 1 / beta);
  const phi = (Math.sqrt(5) - 1) / 2;
  let a = 1 / 20;
  let b = 20;
  let c = b - phi * (b - a);
  let d = a + phi * (b - a);
  let fc = f(c);
  let fd = f(d);
  while (b - a > 1e-4 * (a + b)) {
    if (fc < fd) { b = d; d = c; fd = fc; c = b - phi * (b - a); fc = f(c); } else { a = c; c = d; fc = fd; d = a + phi * (b - a); fd = f(d); }
  }
  const beta = (a + b) / 2;
  return { temperature: 1 / beta, nllBefore: f(1), nllAfter: f(beta) };
}
