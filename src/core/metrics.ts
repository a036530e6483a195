/**
 * Classification metrics over integer class indices `0 … K−1`: confusion matrix, accuracy,
 * per-class precision/recall/F1, macro-F1, Hamming loss. Pure functions, no I/O.
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

/** Builds a {@link ClassificationReport} from a confusion matrix. Classes without support or predictions get 0 for undefined ratios. */
export function reportFromConfusion(confusion: number[][], labels: readonly string[]): ClassificationReport {
  const k = labels.length;
  let n = 0;
  let correct = 0;
  const perClass = labels.map((label, c) => {
    const row = confusion[c]!;
    const support = row.reduce((a, b) => a + b, 0);
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
  const macroF1 = perClass.reduce((a, p) => a + p.f1, 0) / k;
  return { labels, n, accuracy, confusion, perClass, macroF1, hammingLoss: n ? 1 - accuracy : 0 };
}

/** Convenience: {@link confusionMatrix} then {@link reportFromConfusion}. */
export function classificationReport(yTrue: ArrayLike<number>, yPred: ArrayLike<number>, labels: readonly string[]): ClassificationReport {
  return reportFromConfusion(confusionMatrix(yTrue, yPred, labels.length), labels);
}
