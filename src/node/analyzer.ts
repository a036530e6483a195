/**
 * `createAnalyzer` for Node: decode (sharp) → detect (BlazeFace) → crop → classify, on onnxruntime-node (or the
 * onnxruntime-web fallback from `loadNodeRuntime`). Re-exported by `ferkit/node` (`src/node/index.ts`).
 */
import { createExpressionClassifier } from '../core/classifier/expression.js';
import { type FaceDetectorOptions, createFaceDetector, resolveFaceDetectorOptions } from '../core/detector/index.js';
import { FerkitError, describeValue, numberIn, oneOf, optionalBoolean, optionalString, optionsObject } from '../core/errors.js';
import { type AlignOptions, assertRawImage } from '../core/image.js';
import { LABEL_SET_IDS, type LabelSetId } from '../core/labels.js';
import { type Pipeline, createPipeline } from '../core/analyzer.js';
import type { QualityThresholds } from '../core/quality.js';
import type { ImageAnalysis, RawImage } from '../core/types.js';
import { DEFAULT_MAX_PIXELS, PixelBudget, decodeImageWithin } from './decode.js';
import { DEFAULT_CLASSIFIER, readClassifierModel, readDetectorModels } from './models.js';
import { loadNodeRuntime } from './runtime.js';

/** Options of {@link createAnalyzer}; validated once, immutable afterwards. */
export interface AnalyzerOptions {
  /** Face detector options (model 'auto' | 'front' | 'back', minScore, minFacePx, maxFaces, tiling). */
  detector?: FaceDetectorOptions;
  /** Classifier: a bundled model id (default `ferkit-resnet-s-int8-ensemble`, two int8 networks in one graph; `ferkit-resnet-s-int8`, the better of the two alone at twice the speed; `ferkit-resnet-s`, its float network; `ferkit-lite` for weak devices) or a path to an `.onnx` with its `.card.json` beside it. */
  classifier?: { model?: string };
  /** Label set for each face's `projected` field ('7' = none). */
  labels?: LabelSetId;
  /** Crop geometry before classification. */
  align?: AlignOptions;
  /** Overrides of the quality gate's thresholds (see `DEFAULT_QUALITY_THRESHOLDS`); every face gets `quality`. */
  quality?: Partial<QualityThresholds>;
  /** Decompression-bomb guard in pixels (default 100 MP). */
  maxPixels?: number;
  /** Largest input file read from a path, in bytes, checked before reading (default 1 GiB). */
  maxBytes?: number;
  /**
   * Decoded pixels that concurrent `analyze` calls may hold at once (memory bound for batches of large images):
   * a number (default: `max(maxPixels, 100 MP)`, about 300 MB of RGB plus the decoder's working memory) or a
   * {@link PixelBudget} shared with other work (the CLI shares one with annotation). A single image larger than the
   * budget still runs, alone.
   */
  pixelBudget?: number | PixelBudget;
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
   * @param input - a file path (non-empty string), the encoded bytes (Uint8Array) or a decoded {@link RawImage}.
   * @param options - `{ cropped?: boolean, name?: string }`; other keys are refused.
   * @throws {FerkitError} `E_INPUT_EMPTY`, `E_INPUT_READ`, `E_UNSUPPORTED_INPUT`, `E_INPUT_TOO_LARGE`, `E_DECODE`,
   *   `E_UNSUPPORTED_FORMAT`, `E_TOO_MANY_PIXELS`, `E_IMAGE` for bad input, each naming the file; `E_IMAGE` when
   *   `input` is none of the three; `E_OPTION` for bad options; `E_INFERENCE` if the runtime fails.
   */
  analyze(input: string | Uint8Array | RawImage, options?: AnalyzeOptions): Promise<ImageAnalysis>;
  /** Releases every ONNX session; later `analyze` calls reject with `E_INFERENCE`. Safe to call twice. */
  dispose(): Promise<void>;
  /** The same as {@link Analyzer.dispose} (the name MediaPipe Tasks and transformers.js users look for). */
  close(): Promise<void>;
  /** `await using analyzer = await createAnalyzer()` releases the sessions at the end of the block. */
  [Symbol.asyncDispose](): Promise<void>;
}

const ANALYZER_OPTION_KEYS = ['detector', 'classifier', 'labels', 'align', 'quality', 'maxPixels', 'maxBytes', 'pixelBudget', 'threads', 'cropsOnly'];

/**
 * Loads the models and returns an {@link Analyzer}.
 * @param options - see {@link AnalyzerOptions}; `undefined` for the defaults. Every key and value is checked before any
 *   model is read: `null`, a non-object, an unknown key or a value of the wrong type is `E_OPTION` naming the option.
 * @throws {FerkitError} `E_OPTION` for bad options; `E_MODEL_LOAD`, `E_MODEL_CHECKSUM`, `E_MODEL_MISMATCH` for model problems.
 */
export async function createAnalyzer(optionsIn?: AnalyzerOptions): Promise<Analyzer> {
  // Validate everything before any model is read (no sessions to leak on a bad option).
  const options = optionsObject<AnalyzerOptions>('createAnalyzer options', optionsIn, ANALYZER_OPTION_KEYS);
  const classifierOpts = optionsObject<{ model?: string }>('classifier', options.classifier, ['model']);
  optionalString('classifier.model', classifierOpts.model);
  optionsObject('align', options.align, ['margin', 'shiftDown']);
  if (options.detector !== undefined && (options.detector === null || typeof options.detector !== 'object' || Array.isArray(options.detector))) {
    throw new FerkitError('E_OPTION', `detector must be an object or undefined, got ${describeValue(options.detector)}`);
  }
  optionalBoolean('cropsOnly', options.cropsOnly);
  if (options.maxBytes !== undefined) numberIn('maxBytes', options.maxBytes, 1, Number.MAX_SAFE_INTEGER);
  if (options.pixelBudget !== undefined && !(options.pixelBudget instanceof PixelBudget)) numberIn('pixelBudget', options.pixelBudget, 1, Number.MAX_SAFE_INTEGER);
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
  const budget = options.pixelBudget instanceof PixelBudget ? options.pixelBudget
    : new PixelBudget(options.pixelBudget ?? Math.max(options.maxPixels ?? DEFAULT_MAX_PIXELS, DEFAULT_MAX_PIXELS));
  const { ort } = await loadNodeRuntime();
  const model = await readClassifierModel(classifierOpts.model ?? DEFAULT_CLASSIFIER);
  const classifier = await createExpressionClassifier(ort, model.bytes, model.card, { session });
  let detector = null;
  try {
    if (detectorOptions) detector = await createFaceDetector(ort, await readDetectorModels(), detectorOptions, session);
  } catch (err) {
    await classifier.dispose();
    throw err;
  }
  const pipeline = createPipeline(detector, classifier, { labels, align: options.align, quality: options.quality });
  const maxPixels = options.maxPixels;
  const maxBytes = options.maxBytes;
  let disposed: Promise<void> | null = null;
  const dispose = (): Promise<void> => (disposed ??= Promise.all([classifier.dispose(), detector?.dispose()]).then(() => undefined));
  return {
    pipeline,
    async analyze(input, callIn) {
      const call = optionsObject<AnalyzeOptions>('analyze options', callIn, ['cropped', 'name']);
      optionalBoolean('cropped', call.cropped);
      optionalString('name', call.name);
      const t0 = performance.now();
      let source: string | null = call.name ?? null;
      const run = async (image: RawImage): Promise<ImageAnalysis> => {
        const decodeMs = performance.now() - t0;
        const result = await pipeline.analyze(image, { cropped: call.cropped, source });
        result.timingsMs.decode = decodeMs;
        result.timingsMs.total += decodeMs;
        return result;
      };
      if (typeof input === 'string' && input !== '') {
        source = call.name ?? input;
        return decodeImageWithin(input, { maxPixels, name: source, budget, ...(maxBytes !== undefined ? { maxBytes } : {}) }, run);
      }
      if (input instanceof Uint8Array) return decodeImageWithin(input, { maxPixels, name: source ?? '(bytes)', budget }, run);
      if (input === null || typeof input !== 'object' || !('data' in input)) {
        throw new FerkitError('E_IMAGE', `input must be a file path (non-empty string), the encoded bytes (Uint8Array) or a RawImage {data, width, height, channels}, got ${describeValue(input)}`);
      }
      assertRawImage(input, source ?? undefined);
      return run(input);
    },
    dispose,
    close: dispose,
    [Symbol.asyncDispose]: dispose,
  };
}
