/**
 * ferkit for Node: decoding with sharp, onnxruntime-node, models read from disk.
 * @example
 * import { createAnalyzer } from 'ferkit/node';
 * const analyzer = await createAnalyzer();
 * try {
 *   const res = await analyzer.analyze('class.jpg');
 *   for (const f of res.faces) console.log(f.label, f.labelScore.toFixed(2), f.box);
 * } finally { await analyzer.dispose(); }
 */
import * as ort from 'onnxruntime-node';
import { createExpressionClassifier } from '../core/classifier/expression.js';
import { type FaceDetectorOptions, createFaceDetector, resolveFaceDetectorOptions } from '../core/detector/index.js';
import { FerkitError, numberIn, oneOf } from '../core/errors.js';
import { type AlignOptions, assertRawImage } from '../core/image.js';
import { LABEL_SET_IDS, type LabelSetId } from '../core/labels.js';
import { type Pipeline, createPipeline } from '../core/analyzer.js';
import type { ImageAnalysis, RawImage } from '../core/types.js';
import { decodeImage } from './decode.js';
import { DEFAULT_CLASSIFIER, readClassifierModel, readDetectorModels } from './models.js';

export * from '../core/index.js';
export { decodeImage, readImageBytes, DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS } from './decode.js';
export { readClassifierModel, readDetectorModels, packageRoot, DEFAULT_CLASSIFIER } from './models.js';
export {
  analyzeVideoFile, probeVideo, decodeVideoFrames, type VideoFileOptions, type VideoFileResult, type VideoProbe,
} from './video.js';

/** Options of {@link createAnalyzer}; validated once, immutable afterwards. */
export interface AnalyzerOptions {
  /** Face detector options (model 'auto' | 'front' | 'back', minScore, minFacePx, maxFaces, tiling). */
  detector?: FaceDetectorOptions;
  /** Classifier: a bundled model id (default `ferkit-vgg`; `ferkit-lite` for weak devices) or a path to an `.onnx` with its `.card.json` beside it. */
  classifier?: { model?: string };
  /** Label set for each face's `projected` field ('7' = none). */
  labels?: LabelSetId;
  /** Crop geometry before classification. */
  align?: AlignOptions;
  /** Decompression-bomb guard in pixels (default 100 MP). */
  maxPixels?: number;
  /** ONNX Runtime intra-op threads per session (default: ORT's choice). */
  threads?: number;
  /** Skip loading the face detector (only `cropped: true` calls will work). Default false. */
  cropsOnly?: boolean;
}

/** Per-call options of {@link Analyzer.analyze}. */
export interface AnalyzeOptions {
  /** Treat the input as one already-cropped face (no detection). */
  cropped?: boolean;
  /** Name for `source` and error messages (default: the path, or null for bytes/images). */
  name?: string;
}

/** A loaded detect + classify pipeline for Node. */
export interface Analyzer {
  readonly pipeline: Pipeline;
  /**
   * Decodes (paths and bytes, with EXIF orientation) and analyses one image.
   * @throws {FerkitError} `E_INPUT_EMPTY`, `E_INPUT_READ`, `E_DECODE`, `E_UNSUPPORTED_FORMAT`, `E_TOO_MANY_PIXELS`,
   *   `E_IMAGE` for bad input, each naming the file; `E_INFERENCE` if the runtime fails.
   */
  analyze(input: string | Uint8Array | RawImage, options?: AnalyzeOptions): Promise<ImageAnalysis>;
  /** Releases every ONNX session. */
  dispose(): Promise<void>;
}

/**
 * Loads the models and returns an {@link Analyzer}.
 * @throws {FerkitError} `E_OPTION` for bad options; `E_MODEL_LOAD`, `E_MODEL_CHECKSUM`, `E_MODEL_MISMATCH` for model problems.
 */
export async function createAnalyzer(options: AnalyzerOptions = {}): Promise<Analyzer> {
  // Validate everything before any model is read (no sessions to leak on a bad option).
  const known = ['detector', 'classifier', 'labels', 'align', 'maxPixels', 'threads', 'cropsOnly'];
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new FerkitError('E_OPTION', `unknown option '${key}'; known: ${known.join(', ')}`);
  }
  const labels = oneOf('labels', options.labels ?? '7', LABEL_SET_IDS);
  if (options.align?.margin !== undefined) numberIn('align.margin', options.align.margin, 0, 2);
  if (options.align?.shiftDown !== undefined) numberIn('align.shiftDown', options.align.shiftDown, -0.5, 0.5);
  if (options.maxPixels !== undefined) numberIn('maxPixels', options.maxPixels, 1, Number.MAX_SAFE_INTEGER);
  if (options.threads !== undefined && !Number.isInteger(numberIn('threads', options.threads, 1, 256))) {
    throw new FerkitError('E_OPTION', `threads must be an integer, got ${options.threads}`);
  }
  const detectorOptions = options.cropsOnly ? undefined : resolveFaceDetectorOptions(options.detector ?? {});

  // logSeverityLevel 3: errors only (ORT otherwise warns about unused initializers in the BlazeFace graphs).
  const session = {
    logSeverityLevel: 3 as const,
    ...(options.threads !== undefined ? { intraOpNumThreads: options.threads, interOpNumThreads: 1 } : {}),
  };
  const model = await readClassifierModel(options.classifier?.model ?? DEFAULT_CLASSIFIER);
  const classifier = await createExpressionClassifier(ort, model.bytes, model.card, { session });
  let detector = null;
  try {
    if (detectorOptions) detector = await createFaceDetector(ort, await readDetectorModels(), detectorOptions, session);
  } catch (err) {
    await classifier.dispose();
    throw err;
  }
  const pipeline = createPipeline(detector, classifier, { labels, align: options.align });
  const maxPixels = options.maxPixels;
  return {
    pipeline,
    async analyze(input, call = {}) {
      const t0 = performance.now();
      let image: RawImage;
      let source: string | null = call.name ?? null;
      if (typeof input === 'string') {
        source = call.name ?? input;
        image = await decodeImage(input, { maxPixels, name: source });
      } else if (input instanceof Uint8Array) {
        image = await decodeImage(input, { maxPixels, name: source ?? '(bytes)' });
      } else {
        assertRawImage(input, source ?? undefined);
        image = input;
      }
      const decodeMs = performance.now() - t0;
      const result = await pipeline.analyze(image, { cropped: call.cropped, source });
      result.timingsMs.decode = decodeMs;
      result.timingsMs.total += decodeMs;
      return result;
    },
    async dispose() {
      await Promise.all([classifier.dispose(), detector?.dispose()]);
    },
  };
}
