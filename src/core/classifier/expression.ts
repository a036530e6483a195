/**
 * Expression classifier: 48×48 grayscale face crops → softmax over the 7 FER2013 expressions.
 */
import { FerkitError, numberIn } from '../errors.js';
import { softmaxWithTemperature } from '../calibration.js';
import { type ExpressionProbabilities, toExpressionRecord } from '../labels.js';
import { type ExpressionModelCard, checkExpressionCard } from '../model-card.js';
import { type ModelSession, type OrtModule, type SessionOptions, createSession } from '../runtime.js';

/**
 * The classifiers bundled with ferkit (`models/<id>.onnx` + `<id>.card.json`), all trained by `training/` on the
 * FER2013 Training split only, leaving out its calibration hold-out, on which each card's temperature was fitted (see each
 * card's `trainedOn`, `metrics`, `calibration` and `docs/model-card-<id>.md`):
 * - `default` — `ferkit-resnet-s-int8-ensemble`: two int8 `resnet_s` networks in one graph, `resnet-s-triokd-int8` on
 *   the face and `singleCrop` below on its left–right mirror image; the output is the log of the two softmaxes' mean,
 *   still logits (`training/ferkit_train/tta.py --flip 0,m`). 2.4 MB, 70.41% on FER2013 PublicTest (the better member
 *   alone 68.93%; chosen on PublicTest among two-view combinations, 71.64% on the calibration hold-out), temperature
 *   0.734; two network runs per face: 2,205–3,203 faces/s at batch 64 and 1,045–1,384 at batch 1 on a 2-core CPU in
 *   onnxruntime-node (six runs) (`docs/model-card-ferkit-resnet-s-int8-ensemble.md`).
 * - `singleCrop` — `ferkit-resnet-s-int8`: the `float` network below in int8 (static QDQ, 7-bit per-channel weights,
 *   uint8 activations calibrated on 1,000 Training images), after 5 epochs of quantization-aware fine-tuning
 *   (`training/ferkit_train/qat.py`), 1.2 MB, 68.93% on PublicTest (single crop; the float network 69.24%), temperature
 *   0.806, 2.7× the float network's faces/s at batch 64 (2.0× at batch 1; in the browser app's WASM worker about
 *   8.5 instead of 14 ms per one-face frame, for ~170 ms more session start-up). For when speed matters more than the
 *   default's 1.5 points.
 * - `float` — `ferkit-resnet-s`, a slim ResNet-18-style network (stride-2 stem, 32–160 channels, 7 basic blocks),
 *   1.13 M parameters, 4.5 MB fp32, trained 160 + 36 epochs with mixup/CutMix (a 210-epoch cosine stopped early); 69.24% on PublicTest,
 *   temperature 0.782; the reference the int8 graph is checked against (`docs/model-card-ferkit-resnet-s.md`).
 * - `lite` — for weak devices: `ferkit-lite`, `resnet_xs` quantized to int8: a narrow ResNet (stride-2 stem, one basic
 *   block per stage at 16/40/80/160 channels, global average pooling), 0.48 M parameters, 0.52 MB, distilled from
 *   `ferkit-resnet-s`'s weights of 2026-12-01; 66.1% on PublicTest, temperature 0.784, ~4× the default's faces/s
 *   (`docs/model-card-ferkit-lite.md`).
 */
export const BUNDLED_CLASSIFIERS = {
  default: 'ferkit-resnet-s-int8-ensemble', singleCrop: 'ferkit-resnet-s-int8', float: 'ferkit-resnet-s', lite: 'ferkit-lite',
} as const;

/** Every bundled classifier id (the values of {@link BUNDLED_CLASSIFIERS}, default first). */
export const BUNDLED_CLASSIFIER_IDS: readonly BundledClassifierId[] = Object.values(BUNDLED_CLASSIFIERS);

/** A bundled classifier id. */
export type BundledClassifierId = (typeof BUNDLED_CLASSIFIERS)[keyof typeof BUNDLED_CLASSIFIERS];

/** A loaded expression classifier. */
export interface ExpressionClassifier {
  readonly id: string;
  readonly card: ExpressionModelCard;
  /** Input side in pixels (48 for ferkit's models). */
  readonly inputSize: number;
  /**
   * The temperature `classify` divides the logits by: the card's `calibration.temperature` (fitted on held-out
   * data), or 1 when the card has none or the classifier was created with `calibrated: false`.
   */
  readonly temperature: number;
  /**
   * Classifies face crops.
   * @param crops - each `inputSize × inputSize` grayscale, values 0–255, row-major (from `sampleGray`).
   *   They are normalised with the card's mean/std and packed as float32 NCHW `[N, 1, s, s]`, at most
   *   `maxBatch` per run.
   * @returns one probability record per crop, `softmax(logits / temperature)`: in [0, 1], summing to 1.
   * @throws {FerkitError} `E_IMAGE` if a crop has the wrong length; `E_INFERENCE` if the runtime fails.
   */
  classify(crops: readonly Float32Array[]): Promise<ExpressionProbabilities[]>;
  /** Like `classify`, but returns the raw logits rows `[N][7]` (before the temperature). */
  logits(crops: readonly Float32Array[]): Promise<Float32Array[]>;
  /** Releases the ONNX session; later calls reject with `E_INFERENCE`. */
  dispose(): Promise<void>;
}

/** Options for {@link createExpressionClassifier}. */
export interface ClassifierOptions {
  /** Largest batch per ONNX run, an integer ≥ 1. Default 64. */
  maxBatch?: number;
  /** ONNX Runtime session options (threads, execution providers, log level), passed through unchanged. */
  session?: SessionOptions;
  /** Apply the card's temperature scaling (default true); `false` gives the raw softmax. */
  calibrated?: boolean;
}

/**
 * Loads an expression classifier from ONNX bytes and its card.
 * @remarks Weights: one of {@link BUNDLED_CLASSIFIERS} (`models/ferkit-resnet-s-int8-ensemble.onnx` by default), trained by `training/`
 *   on the FER2013 Training split only (see the card's `trainedOn`, `selectedOn` and `metrics`).
 * @throws {FerkitError} `E_MODEL_MISMATCH` / `E_MODEL_CHECKSUM` when the card and bytes disagree; `E_MODEL_LOAD`.
 */
export async function createExpressionClassifier(
  ort: OrtModule, bytes: Uint8Array, card: unknown, options: ClassifierOptions = {},
): Promise<ExpressionClassifier> {
  const c = await checkExpressionCard(card, bytes);
  const size = c.input.shape[2]; // checkExpressionCard guarantees [N, 1, s, s]
  const maxBatch = numberIn('maxBatch', options.maxBatch ?? 64, 1, 4096);
  if (!Number.isInteger(maxBatch)) throw new FerkitError('E_OPTION', `maxBatch must be an integer, got ${maxBatch}`);
  const session: ModelSession = await createSession(ort, c.id, bytes, options.session);
  if (!session.inputNames.includes(c.input.name) || !session.outputNames.includes(c.output.name)) {
    await session.release();
    throw new FerkitError('E_MODEL_MISMATCH', `model ${c.id}: card names input '${c.input.name}' and output '${c.output.name}', the model has inputs [${session.inputNames.join(', ')}] and outputs [${session.outputNames.join(', ')}]`);
  }
  const temperature = options.calibrated === false ? 1 : (c.calibration?.temperature ?? 1);
  const plane = size * size;
  const scale = 1 / c.input.std;

  const logits = async (crops: readonly Float32Array[]): Promise<Float32Array[]> => {
    const rows: Float32Array[] = [];
    for (let start = 0; start < crops.length; start += maxBatch) {
      const n = Math.min(maxBatch, crops.length - start);
      // A fresh array per run: runs are queued, and the runtime reads the input only when the run starts.
      const input = new Float32Array(n * plane);
      for (let b = 0; b < n; b++) {
        const crop = crops[start + b]!;
        if (crop.length !== plane) throw new FerkitError('E_IMAGE', `crop ${start + b} has ${crop.length} values, expected ${size}x${size} = ${plane}`);
        const off = b * plane;
        for (let i = 0; i < plane; i++) input[off + i] = (crop[i]! - c.input.mean) * scale;
      }
      const out = await session.run({ [c.input.name]: { data: input, dims: [n, 1, size, size] } });
      const t = out[c.output.name]!;
      const k = t.dims[1] ?? 0;
      if (k !== c.labels.length) throw new FerkitError('E_MODEL_MISMATCH', `model ${c.id}: output has ${k} classes, card lists ${c.labels.length}`);
      for (let b = 0; b < n; b++) rows.push(t.data.slice(b * k, (b + 1) * k));
    }
    return rows;
  };

  return {
    id: c.id,
    card: c,
    inputSize: size,
    temperature,
    logits,
    async classify(crops) {
      return (await logits(crops)).map((row) => toExpressionRecord(softmaxWithTemperature(row, temperature)));
    },
    dispose: () => session.release(),
  };
}
