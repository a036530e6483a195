/**
 * Classification metrics over integer class indices `0 … K−1`: confusion matrix, accuracy, top-k accuracy,
 * per-class precision/recall/F1, macro-F1, Hamming loss, and calibration (reliability bins, expected calibration
 * error). Pure functions and small accumulators, no I/O.
 */

/** Metrics for one evaluation. Fractions are in [0, 1]. */
export interface ClassificationReport {
  labels: readonly string[];
  /** Number of scored samples. */
  n: number;
  accuracy: number;
  /** `confusion[true][predicted]` counts. */
  confusion: number[][];
  perClass: { label: string; precision: number; recall: number; f1: number; support: number }[];
  /** Mean F1 over the classes that occur in the truth or the predictions (sklearn's `average='macro'`); 0 if none. */
  macroF1: number;
  /** Fraction of misclassified samples (sklearn `hamming_loss` on label vectors; equals 1 − accuracy for single-label data). */
  hammingLoss: number;
}

/** `K × K` confusion matrix with rows = true class, columns = predicted class. @throws {RangeError} for indices outside [0, K). */
export function confusionMatrix(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, k: number): number[][] {
  if (yTrue.length !== yPred.length) throw new RangeError(`yTrue has ${yTrue.length} items, yPred ${yPred.length}`);
  const m = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < yTrue.length; i++) {
    const t = yTrue[i]!;
    const p = yPred[i]!;
    if (!(t >= 0 && t < k && p >= 0 && p < k)) throw new RangeError(`class index out of range at ${i}: true ${t}, predicted ${p}, K = ${k}`);
    m[t]![p]!++;
  }
  return m;
}

/**
 * Builds a {@link ClassificationReport} from a confusion matrix. Classes without support or predictions get 0 for undefined ratios.
 * @param unpredicted - optional count per true class of samples that got no prediction at all (e.g. no face found):
 *   they add to `support` and `n` and count as errors (lower recall, accuracy), but are in no column of `confusion`.
 */
export function reportFromConfusion(confusion: number[][], labels: readonly string[], unpredicted?: readonly number[]): ClassificationReport {
  let n = 0;
  let correct = 0;
  const perClass = labels.map((label, c) => {
    const row = confusion[c]!;
    const support = row.reduce((a, b) => a + b, 0) + (unpredicted?.[c] ?? 0);
    const predicted = confusion.reduce((a, r) => a + r[c]!, 0);
    const tp = row[c]!;
    n += support;
    correct += tp;
    const precision = predicted ? tp / predicted : 0;
    const recall = support ? tp / support : 0;
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    return { label, precision, recall, f1, support };
  });
  const accuracy = n ? correct / n : 0;
  // As sklearn's f1_score(average='macro'): over the classes that occur in the truth or the predictions.
  const present = perClass.filter((p, c) => p.support > 0 || confusion.some((r) => r[c]! > 0));
  const macroF1 = present.length ? present.reduce((a, p) => a + p.f1, 0) / present.length : 0;
  return { labels, n, accuracy, confusion, perClass, macroF1, hammingLoss: n ? 1 - accuracy : 0 };
}

/** Convenience: {@link confusionMatrix} then {@link reportFromConfusion}. */
export function classificationReport(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, labels: readonly string[]): ClassificationReport {
  return reportFromConfusion(confusionMatrix(yTrue, yPred, labels.length), labels);
}

/**
 * Rank-`k` hit: whether `trueIndex` is among the `k` highest entries of `probs`.
 * Ties are broken as {@link argmax} does (the earlier class ranks first), so `k = 1` agrees with argmax.
 * @param probs - one score per class (probabilities or logits; only the order matters).
 * @throws {RangeError} for a `trueIndex` outside `[0, probs.length)` or `k < 1`.
 */
export function inTopK(probs: ArrayLike<number>, trueIndex: number, k: number): boolean {
  if (!(Number.isInteger(trueIndex) && trueIndex >= 0 && trueIndex < probs.length)) {
    throw new RangeError(`true class ${trueIndex} is outside [0, ${probs.length})`);
  }
  if (!(k >= 1)) throw new RangeError(`k must be at least 1, got ${k}`);
  const p = probs[trueIndex]!;
  let above = 0;
  for (let j = 0; j < probs.length; j++) if (probs[j]! > p || (j < trueIndex && probs[j] === p)) above++;
  return above < k;
}

/** Top-`k` accuracy: the fraction of rows whose true class is among their `k` highest scores (see {@link inTopK}); 0 for no rows. */
export function topKAccuracy(rows: readonly ArrayLike<number>[], yTrue: ArrayLike<number>, k: number): number {
  if (rows.length !== yTrue.length) throw new RangeError(`rows has ${rows.length} items, yTrue ${yTrue.length}`);
  let hits = 0;
  for (let i = 0; i < rows.length; i++) if (inTopK(rows[i]!, yTrue[i]!, k)) hits++;
  return rows.length ? hits / rows.length : 0;
}

/** One confidence bin of a reliability diagram. Confidences and accuracies are in [0, 1]. */
export interface CalibrationBin {
  /** The bin is `(lower, upper]` (the first bin also holds confidence 0). */
  lower: number;
  upper: number;
  /** Samples whose confidence falls in the bin. */
  count: number;
  /** Mean confidence of those samples (0 when `count` is 0). */
  confidence: number;
  /** Fraction of those samples that were classified correctly (0 when `count` is 0). */
  accuracy: number;
}

/** Default number of equal-width confidence bins for calibration (Guo et al. 2017 use 15). */
export const CALIBRATION_BINS = 15;

/** Index of the `(i/m, (i+1)/m]` bin that holds `confidence` (0 goes to the first bin). */
function binIndex(confidence: number, bins: number): number {
  if (!(confidence >= 0 && confidence <= 1)) throw new RangeError(`confidence must be in [0, 1], got ${confidence}`);
  return Math.min(bins - 1, Math.max(0, Math.ceil(confidence * bins) - 1));
}

/**
 * Accumulates (confidence, correct) pairs into equal-width bins over [0, 1] for a reliability diagram and the
 * expected calibration error. Memory is O(bins), whatever the number of samples.
 */
export class CalibrationAccumulator {
  private readonly counts: number[];
  private readonly confidenceSums: number[];
  private readonly correctCounts: number[];

  /** @param bins - number of equal-width bins (default {@link CALIBRATION_BINS}). */
  constructor(readonly bins: number = CALIBRATION_BINS) {
    if (!(Number.isInteger(bins) && bins >= 1)) throw new RangeError(`bins must be a whole number ≥ 1, got ${bins}`);
    this.counts = new Array<number>(bins).fill(0);
    this.confidenceSums = new Array<number>(bins).fill(0);
    this.correctCounts = new Array<number>(bins).fill(0);
  }

  /** Adds one sample: the probability of its predicted class, and whether that prediction was right. */
  add(confidence: number, correct: boolean): void {
    const b = binIndex(confidence, this.bins);
    this.counts[b]!++;
    this.confidenceSums[b]! += confidence;
    if (correct) this.correctCounts[b]!++;
  }

  /** The bins, in order of confidence. */
  result(): CalibrationBin[] {
    return this.counts.map((count, b) => ({
      lower: b / this.bins,
      upper: (b + 1) / this.bins,
      count,
      confidence: count ? this.confidenceSums[b]! / count : 0,
      accuracy: count ? this.correctCounts[b]! / count : 0,
    }));
  }
}

/** Bins `(confidence, correct)` pairs; see {@link CalibrationAccumulator}. */
export function calibrationBins(confidences: ArrayLike<number>, correct: ArrayLike<boolean>, bins: number = CALIBRATION_BINS): CalibrationBin[] {
  if (confidences.length !== correct.length) throw new RangeError(`confidences has ${confidences.length} items, correct ${correct.length}`);
  const acc = new CalibrationAccumulator(bins);
  for (let i = 0; i < confidences.length; i++) acc.add(confidences[i]!, correct[i]!);
  return acc.result();
}

/**
 * Expected calibration error (Naeini et al. 2015; Guo et al. 2017): `Σ_b (n_b / n) · |accuracy_b − confidence_b|`
 * over equal-width confidence bins. In [0, 1]; 0 when every bin's accuracy equals its mean confidence; 0 for no samples.
 */
export function expectedCalibrationError(bins: readonly CalibrationBin[]): number {
  const n = bins.reduce((a, b) => a + b.count, 0);
  if (n === 0) return 0;
  return bins.reduce((a, b) => a + (b.count / n) * Math.abs(b.accuracy - b.confidence), 0);
}

/** Metrics of one evaluation: the {@link ClassificationReport} plus ranking and calibration. */
export interface EvaluationMetrics extends ClassificationReport {
  /** Fraction of samples whose true class is one of the two most probable (a sample without a prediction is a miss). */
  top2Accuracy: number;
  /** Expected calibration error over `calibration`, on the max probability of each predicted sample. */
  ece: number;
  /** Reliability-diagram bins (predicted samples only). */
  calibration: CalibrationBin[];
  /** Samples with a true class but no prediction (e.g. no face found), per true class; counted as errors. */
  unpredicted: number[];
}

/**
 * Accumulates an evaluation one sample at a time (O(K² + bins) memory): a confusion matrix, top-2 hits, calibration
 * bins, and samples that got no prediction.
 */
export class EvaluationAccumulator {
  private readonly confusion: number[][];
  private readonly unpredicted: number[];
  private readonly calibration: CalibrationAccumulator;
  private top2 = 0;

  /**
   * @param labels - class names in index order.
   * @param bins - calibration bins (default {@link CALIBRATION_BINS}).
   */
  constructor(readonly labels: readonly string[], bins: number = CALIBRATION_BINS) {
    const k = labels.length;
    this.confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
    this.unpredicted = new Array<number>(k).fill(0);
    this.calibration = new CalibrationAccumulator(bins);
  }

  /**
   * Adds one sample.
   * @param trueIndex - its class in `[0, K)`.
   * @param probs - its probabilities over the K classes (in [0, 1], summing to 1), or `null` when there is no
   *   prediction (it then counts as an error in accuracy, recall and top-2, and is left out of calibration).
   * @throws {RangeError} for a class index out of range or a row of the wrong length.
   */
  add(trueIndex: number, probs: ArrayLike<number> | null): void {
    const k = this.labels.length;
    if (!(Number.isInteger(trueIndex) && trueIndex >= 0 && trueIndex < k)) throw new RangeError(`true class ${trueIndex} is outside [0, ${k})`);
    if (probs === null) { this.unpredicted[trueIndex]!++; return; }
    if (probs.length !== k) throw new RangeError(`expected ${k} probabilities, got ${probs.length}`);
    let pred = 0;
    for (let j = 1; j < k; j++) if (probs[j]! > probs[pred]!) pred = j;
    this.confusion[trueIndex]![pred]!++;
    if (inTopK(probs, trueIndex, 2)) this.top2++;
    this.calibration.add(Math.min(1, Math.max(0, probs[pred]!)), pred === trueIndex);
  }

  /** The metrics so far. */
  result(): EvaluationMetrics {
    const confusion = this.confusion.map((r) => [...r]);
    const report = reportFromConfusion(confusion, this.labels, this.unpredicted);
    const calibration = this.calibration.result();
    return {
      ...report,
      top2Accuracy: report.n ? this.top2 / report.n : 0,
      ece: expectedCalibrationError(calibration),
      calibration,
      unpredicted: [...this.unpredicted],
    };
  }
}
