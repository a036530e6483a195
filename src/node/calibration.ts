/**
 * The calibration hold-out of FER2013 Training and the logits of a classifier on a dataset.
 *
 * The hold-out is the set of Training images whose id hashes below {@link CALIBRATION_PERCENT} (mod 100), with 32-bit
 * FNV-1a over the file's base name (`Training_10019449.jpg`), the same rule as `training/ferkit_train/data.py`
 * (`calibration_mask`). Training runs leave these images out (by default), so a temperature or threshold fitted on them
 * is fitted on data the model never saw, and PublicTest stays the one split used for model selection.
 */
import { basename } from 'node:path';
import { EXPRESSIONS } from '../core/labels.js';
import { sampleGray, wholeImageWindow } from '../core/image.js';
import type { ExpressionClassifier } from '../core/classifier/expression.js';
import type { Dataset } from './datasets.js';

/** Share of Training in the calibration hold-out, in percent (≈ 1,925 of 28,709 images). */
export const CALIBRATION_PERCENT = 7;

/** 32-bit FNV-1a hash of the UTF-8 bytes of `text`. */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(text)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h >>> 0;
}

/** Whether a Training image (by path or file name) belongs to the calibration hold-out. */
export function isCalibrationHoldout(name: string): boolean {
  return fnv1a32(basename(name)) % 100 < CALIBRATION_PERCENT;
}

/** Logits of a classifier over a labelled dataset of face crops. */
export interface DatasetLogits {
  /** One row of 7 logits (before any temperature) per sample, in FER2013 order. */
  logits: Float32Array[];
  /** True class index per sample, in FER2013 order. */
  labels: number[];
  /** Sample names (file paths). */
  names: string[];
}

/**
 * Runs the classifier on every sample of a dataset of cropped faces (each image is the whole face, as FER2013's
 * 48×48 images are) whose name passes `filter`, `batch` crops per run. Unreadable samples are skipped and counted.
 */
export async function datasetLogits(
  classifier: ExpressionClassifier, dataset: Pick<Dataset, 'samples'>,
  options: { filter?: (name: string) => boolean; batch?: number } = {},
): Promise<DatasetLogits & { skipped: number }> {
  const out: DatasetLogits & { skipped: number } = { logits: [], labels: [], names: [], skipped: 0 };
  const batch = options.batch ?? 256;
  let crops: Float32Array[] = [];
  const flush = async (): Promise<void> => {
    if (crops.length) out.logits.push(...await classifier.logits(crops));
    crops = [];
  };
  for await (const item of dataset.samples()) {
    if (item.error) { out.skipped++; continue; }
    if (item.label === null || (options.filter && !options.filter(item.name))) continue;
    let image;
    try { image = await item.load(); } catch { out.skipped++; continue; }
    crops.push(sampleGray(image, wholeImageWindow(image), classifier.inputSize));
    out.labels.push(EXPRESSIONS.indexOf(item.label));
    out.names.push(item.name);
    if (crops.length >= batch) await flush();
  }
  await flush();
  return out;
}
