/**
 * The browser analyzer: onnxruntime-web set up, the models fetched from the page's origin and checked, and the same
 * core pipeline as in Node. Webcam frames go through a pipeline with the fast front detector (no tiling) and then
 * tracking and smoothing; photos through one with the automatic detector choice (loaded on first use).
 */
import { BUNDLED_CLASSIFIERS, createExpressionClassifier, type ExpressionClassifier } from '../core/classifier/expression.js';
import { createFaceDetector, type FaceDetector, type FaceDetectorOptions } from '../core/detector/index.js';
import { FerkitError } from '../core/errors.js';
import type { Expression, LabelSetId } from '../core/labels.js';
import { createPipeline, type Pipeline } from '../core/analyzer.js';
import { explainCrop, explanationCrop, explanationRgba } from '../core/explain.js';
import type { FaceDetection, ImageAnalysis, RawImage } from '../core/types.js';
import type { VideoAnalyzer } from '../core/video.js';
import { FrameBudget, type FrameBudgetLevel, type FrameBudgetOptions } from '../core/frame-budget.js';
import { createLiveAnalyzer, type LiveFrame, type LiveOptions } from './live.js';
import { fetchClassifier, fetchDetectorModels, fetchManifest, type LoadStep, type ModelLoadEvent, type ModelManifest } from './models.js';
import { configureOrtWeb, startOrtRuntime, type OrtWebInfo, type OrtWebModule, type WebBackend } from './ort.js';

/** Options of {@link createWebAnalyzer}; validated once. */
export interface WebAnalyzerOptions {
  /** URL of the folder with the models and `manifest.json` (same origin). Default `./models/` of the page or worker. */
  modelsUrl?: string;
  /** URL prefix of onnxruntime-web's `.wasm`/`.mjs` files (same origin). Default `./ort/`. */
  wasmPaths?: string;
  /** Classifier id (`<id>.onnx` + `<id>.card.json` under `modelsUrl`). Default `ferkit-resnet-s-int8-ensemble` (`BUNDLED_CLASSIFIERS.default`, two int8 networks in one graph); `ferkit-resnet-s-int8` (the better of the two alone, twice the faces/s), `ferkit-resnet-s` (its float network), `ferkit-lite` for weak devices. */
  classifier?: string;
  backend?: WebBackend;
  /** WASM threads (see {@link OrtWebOptions.threads}). */
  threads?: number;
  labels?: LabelSetId;
  /** Detector for webcam frames. Default `{ model: 'front', tiling: 'off' }` (close faces, one 128×128 pass). */
  liveDetector?: FaceDetectorOptions;
  /** Detector for photos. Default `{ model: 'auto' }` (front for small images, back + tiles for large ones). */
  photoDetector?: FaceDetectorOptions;
  /** Tracking and smoothing of webcam frames (`createVideoAnalyzer` options; defaults: `DEFAULT_SMOOTHING` in core). */
  live?: LiveOptions;
  /**
   * Keeping webcam frames within a time budget (`src/core/frame-budget.ts`): when the median analysis time of 30
   * frames exceeds `budgetMs` (default 40 ms, i.e. 25 frames/s), detect faces every 2nd, then every 3rd frame, then
   * switch the live stream to the lite classifier (`ferkit-lite`); step back to detecting more often when frames
   * are fast again. `false` turns it off. Photos and video files are never affected.
   */
  frameBudget?: FrameBudgetOptions | false;
  onProgress?: (event: ModelLoadEvent) => void;
}

/** The live stream's adaptation to its frame budget (see {@link WebAnalyzerOptions.frameBudget}). */
export interface LiveAdaptation extends FrameBudgetLevel {
  /** The live classifier's id (the lite one after a switch). */
  classifier: string;
  /** Why the level last changed (`null`: it never did). */
  reason: string | null;
  /** Number of level changes so far. */
  changes: number;
}

/** What is loaded and how it runs. */
export interface WebAnalyzerInfo extends Omit<OrtWebInfo, 'sessionOptions'> {
  models: { classifier: string; liveDetector: string; classifierCard: ExpressionClassifier['card'] };
  /** Milliseconds from `createWebAnalyzer` to ready. */
  loadMs: number;
}

/**
 * An occlusion explanation of one face (`explainCrop` in core), painted for a canvas: `rgba` is `px × px × 4` bytes
 * (the classifier's gray crop enlarged, heat colour over it; see `explanationRgba`).
 */
export interface FaceExplanationImage {
  label: Expression;
  /** The label's probability on the unoccluded crop, in [0, 1]. */
  probability: number;
  /** The probability drop that full heat stands for. */
  scale: number;
  /** Largest drop caused by one patch. */
  maxDrop: number;
  /** Crops classified, and the time it took (ms). */
  runs: number;
  ms: number;
  px: number;
  rgba: Uint8ClampedArray;
}

/** A camera frame's time per stage, ms (`stages` of the worker protocol's frame timings). */
export interface FrameStages { detect: number; crop: number; classifier: number; track: number }

/** A loaded browser analyzer. Calls are queued per model, so they may be issued without waiting. */
export interface WebAnalyzer {
  readonly info: WebAnalyzerInfo;
  /** The webcam pipeline (front detector), without tracking. */
  readonly pipeline: Pipeline;
  /**
   * Analyses one video frame: detection, tracking, classification and smoothing (`createVideoAnalyzer` in core).
   * @param tMs - the frame's capture time in ms (e.g. `performance.now()`), increasing from call to call.
   */
  analyzeFrame(image: RawImage, tMs: number): Promise<LiveFrame>;
  /** {@link analyzeFrame}, with the frame's time per stage. */
  analyzeFrameStages(image: RawImage, tMs: number): Promise<{ result: LiveFrame; stages: FrameStages; adaptation: LiveAdaptation }>;
  /** Analyses one photo (no tracking). `source` goes into the result. */
  analyzeImage(image: RawImage, source: string | null): Promise<ImageAnalysis>;
  /**
   * Explains one face of `image` by occlusion (the live classifier, 122 crops in one batch): the crop the analyzer
   * classified and a heat map of what drove its label, painted `px × px`.
   * @throws {FerkitError} `E_OPTION` for a bad `px`; `E_INFERENCE` if the runtime fails.
   */
  explainFace(image: RawImage, face: FaceDetection, px: number): Promise<FaceExplanationImage>;
  /**
   * A separate video analyzer (its own tracks and smoothing, the webcam's detector and classifier) for a video file:
   * feed it frames with their media time in ms, then ask for `summary(endMs)` as `ferkit video` prints it.
   */
  createVideoStream(): VideoAnalyzer;
  /**
   * "Calibrate now" for the webcam: each live track's (or one track's) neutral baseline is set from its last
   * `baseline.seconds` of raw probabilities (default 5 s; `live.baseline` changes it), and later frames carry
   * probabilities relative to it (`LiveFace.relative`; the smoothed label follows them). See docs/temporal.md.
   * @param trackId - one live track; default: every live track.
   * @returns the ids calibrated (empty when no face has been seen yet).
   */
  calibrateBaseline(trackId?: number): number[];
  /** Forgets all tracks (new IDs from 1). */
  resetTracking(): void;
  /** Replaces the tracking and smoothing options; tracks restart. @throws {FerkitError} `E_OPTION`. */
  setLiveOptions(options: LiveOptions): void;
  /** Releases every ONNX session. */
  dispose(): Promise<void>;
}

/**
 * The webcam's per-person baseline: collected from the start, applied only on "calibrate now" (never automatically: a
 * baseline taken while someone laughs would mark their later neutral face as sad).
 */
const LIVE_BASELINE = { seconds: 5, auto: false } as const;

const baseOf = (): string => (typeof location === 'undefined' ? 'http://localhost/' : location.href);

/** A classifier that remembers how long its last `classify` call took (ms). */
function timedClassifier(c: ExpressionClassifier): ExpressionClassifier & { lastMs: number } {
  const t: ExpressionClassifier & { lastMs: number } = {
    id: c.id, card: c.card, inputSize: c.inputSize, temperature: c.temperature, lastMs: 0,
    async classify(crops) {
      const t0 = performance.now();
      try {
        return await c.classify(crops);
      } finally {
        t.lastMs = performance.now() - t0;
      }
    },
    logits: (crops) => c.logits(crops),
    dispose: () => c.dispose(),
  };
  return t;
}

/**
 * One run on a blank input: ONNX Runtime allocates and JIT-compiles on a session's first run (hundreds of ms in WASM),
 * which would otherwise stall the first camera frames.
 */
async function warmDetector(detector: FaceDetector): Promise<void> {
  const w = 320;
  const h = 240;
  await detector.detect({ data: new Uint8ClampedArray(w * h * 4).fill(128), width: w, height: h, channels: 4 });
}

async function warmClassifier(classifier: ExpressionClassifier): Promise<void> {
  await classifier.classify([new Float32Array(classifier.inputSize * classifier.inputSize).fill(128)]);
}

/** `model` after its warm-up run; disposed (and the error rethrown) if that run fails. */
async function warmedUp<T extends { dispose(): Promise<void> }>(model: T, warm: (m: T) => Promise<void>): Promise<T> {
  try {
    await warm(model);
  } catch (err) {
    await model.dispose();
    throw err;
  }
  return model;
}

/**
 * Session options for a classifier. An int8 model (its card has `quantization`, from training/ferkit_train/quantize.py)
 * gets ONNX Runtime's graph optimisations on WASM even though the app turns them off elsewhere: only they fuse its
 * QuantizeLinear/DequantizeLinear pairs into integer kernels. Measured in Chromium, 1 WASM thread, 2-core machine:
 * ferkit-resnet-s-int8 199 faces/s at batch 16 with them, 105 without; the float ferkit-resnet-s 96 / 82.
 */
function classifierSessionOptions(runtime: OrtWebInfo, card: unknown): OrtWebInfo['sessionOptions'] {
  const quantized = typeof card === 'object' && card !== null && 'quantization' in card;
  return quantized && runtime.backend === 'wasm' ? { ...runtime.sessionOptions, graphOptimizationLevel: 'all' } : runtime.sessionOptions;
}

/**
 * Sets up onnxruntime-web, fetches and checks the models, and returns a {@link WebAnalyzer}.
 * @param ort - `import * as ort from 'onnxruntime-web'`.
 * @throws {FerkitError} `E_MODEL_LOAD` (fetch failed), `E_MODEL_CHECKSUM`, `E_MODEL_MISMATCH`, `E_OPTION`.
 */
export async function createWebAnalyzer(ort: OrtWebModule, options: WebAnalyzerOptions = {}): Promise<WebAnalyzer> {
  const t0 = performance.now();
  const modelsUrl = new URL(options.modelsUrl ?? './models/', baseOf()).href;
  const wasmPaths = new URL(options.wasmPaths ?? './ort/', baseOf()).href;
  const liveOpts: FaceDetectorOptions = { model: 'front', tiling: 'off', ...options.liveDetector };
  const photoOpts: FaceDetectorOptions = { model: 'auto', ...options.photoDetector };
  const step = async <T>(name: LoadStep, run: () => Promise<T>): Promise<T> => {
    const ts = performance.now();
    options.onProgress?.({ type: 'step', step: name, state: 'start' });
    const out = await run();
    options.onProgress?.({ type: 'step', step: name, state: 'done', ms: performance.now() - ts });
    return out;
  };
  const fetchOpts = { onProgress: options.onProgress };
  const liveModels = liveOpts.model === 'auto' || liveOpts.model === undefined ? (['front', 'back'] as const) : [liveOpts.model];
  const [runtime, manifest] = await step('runtime', () => Promise.all([
    configureOrtWeb(ort, { wasmPaths, backend: options.backend, threads: options.threads }),
    fetchManifest(modelsUrl),
  ]));
  /** The live classifier from its fetched bytes and card (the one at start, and ferkit-lite when the frame budget asks). */
  const makeClassifier = (bytes: Uint8Array, card: unknown): Promise<ExpressionClassifier> =>
    createExpressionClassifier(ort, bytes, card, { session: classifierSessionOptions(runtime, card), maxBatch: 16 });
  // Three things start at once: the WebAssembly runtime (14 MB to stream and compile), the detector and the classifier
  // downloads. Each model's session is created, and run once on a blank input, as soon as its bytes and the runtime are
  // there: the detector's while the larger classifier is still arriving. (Measured on a warm reload, 2 cores: the
  // runtime alone takes 0.3–0.5 s, mostly reading its 14 MB from the HTTP cache.)
  const engine = step('engine', () => startOrtRuntime(ort, runtime.sessionOptions));
  const classifierFetch = fetchClassifier(modelsUrl, options.classifier ?? BUNDLED_CLASSIFIERS.default, fetchOpts);
  const detectorFetch = fetchDetectorModels(modelsUrl, manifest as ModelManifest, liveModels, fetchOpts);
  classifierFetch.catch(() => undefined); // awaited below; a rejection before then is not unhandled
  detectorFetch.catch(() => undefined);
  await engine;
  const liveDetector = await step('detector', async () =>
    warmedUp(await createFaceDetector(ort, await detectorFetch, liveOpts, runtime.sessionOptions), warmDetector));
  const cleanup: (() => Promise<void>)[] = [() => liveDetector.dispose()];
  let classifier: ExpressionClassifier;
  let liveClassifier: ReturnType<typeof timedClassifier>;
  let video: VideoAnalyzer;
  try {
    const { bytes, card } = await classifierFetch;
    classifier = await step('classifier', async () => warmedUp(await makeClassifier(bytes, card), warmClassifier));
    cleanup.push(() => classifier.dispose());
    liveClassifier = timedClassifier(classifier);
    video = createLiveAnalyzer({ detector: liveDetector, classifier: liveClassifier }, { labels: options.labels, baseline: LIVE_BASELINE, ...options.live });
  } catch (err) {
    await Promise.all(cleanup.map((f) => f()));
    throw err;
  }
  const budget = options.frameBudget === false ? null
    : new FrameBudget({ allowLite: classifier.id !== BUNDLED_CLASSIFIERS.lite, ...options.frameBudget });
  const adaptation: LiveAdaptation = { detectEvery: video.options.detectEvery, lite: false, classifier: classifier.id, reason: null, changes: 0 };
  let liteLoading: Promise<void> | null = null;
  /** Applies a frame-budget decision to the live analyzer (the lite classifier loads in the background). */
  const adapt = (level: FrameBudgetLevel, reason: string): void => {
    adaptation.changes++;
    adaptation.reason = reason;
    adaptation.detectEvery = level.detectEvery;
    video.setDetectEvery(level.detectEvery);
    if (level.lite && !adaptation.lite && !liteLoading) {
      liteLoading = (async () => {
        const { bytes, card } = await fetchClassifier(modelsUrl, BUNDLED_CLASSIFIERS.lite, fetchOpts);
        const lite = await makeClassifier(bytes, card);
        if (disposed) {
          await lite.dispose();
          return;
        }
        cleanup.push(() => lite.dispose());
        liveClassifier = timedClassifier(lite);
        video.setClassifier(liveClassifier);
        adaptation.lite = true;
        adaptation.classifier = lite.id;
      })().catch((err: unknown) => {
        // The default classifier keeps running; the reason says why the switch did not happen.
        adaptation.reason = `${reason}, but the lite classifier could not be loaded: ${(err as Error).message}`;
      });
    }
  };
  const pipelineOptions = { labels: options.labels };
  const pipeline = createPipeline(liveDetector, classifier, pipelineOptions);
  let photoPipeline: Promise<Pipeline> | null = null;
  let disposed = false;

  const photos = (): Promise<Pipeline> => {
    photoPipeline ??= (async () => {
      const photoModels = photoOpts.model === 'auto' || photoOpts.model === undefined ? (['front', 'back'] as const) : [photoOpts.model];
      const det = await createFaceDetector(ort, await fetchDetectorModels(modelsUrl, manifest, photoModels, fetchOpts), photoOpts, runtime.sessionOptions);
      cleanup.push(() => det.dispose());
      return createPipeline(det, classifier, pipelineOptions);
    })();
    // A failed load (network, checksum) is not cached: the next photo batch tries again.
    photoPipeline.catch(() => { photoPipeline = null; });
    return photoPipeline;
  };
  const alive = (): void => {
    if (disposed) throw new FerkitError('E_INFERENCE', 'the web analyzer was disposed');
  };
  const { sessionOptions: _s, ...runtimeInfo } = runtime;
  return {
    info: {
      ...runtimeInfo,
      models: { classifier: classifier.id, liveDetector: liveDetector.id, classifierCard: classifier.card },
      loadMs: performance.now() - t0,
    },
    pipeline,
    async analyzeFrame(image, tMs) {
      alive();
      return video.analyzeFrame(image, tMs);
    },
    async analyzeFrameStages(image, tMs) {
      alive();
      const t0 = performance.now();
      const result = await video.analyzeFrame(image, tMs);
      const decision = budget?.observe(performance.now() - t0);
      if (decision) adapt(decision.level, decision.reason);
      const t = result.timingsMs;
      const classifierMs = result.faces.length ? Math.min(liveClassifier.lastMs, t.classify) : 0;
      return {
        result,
        stages: { detect: t.detect, crop: Math.max(0, t.classify - classifierMs), classifier: classifierMs, track: t.track },
        adaptation: { ...adaptation },
      };
    },
    async analyzeImage(image, source) {
      alive();
      return (await photos()).analyze(image, { source });
    },
    async explainFace(image, face, px) {
      alive();
      const crop = explanationCrop(image, face, classifier.inputSize, { align: options.live?.align });
      const e = await explainCrop(classifier, crop);
      const rgba = explanationRgba(e, crop, px);
      return { label: e.label, probability: e.probability, scale: e.scale, maxDrop: e.maxDrop, runs: e.runs, ms: e.ms, px, rgba };
    },
    createVideoStream() {
      alive();
      return createLiveAnalyzer({ detector: liveDetector, classifier }, { labels: options.labels, ...options.live });
    },
    calibrateBaseline(trackId) {
      alive();
      return video.calibrateBaseline(trackId);
    },
    resetTracking() {
      video.reset();
    },
    setLiveOptions(live) {
      const keys = Object.keys(live);
      const smoothingKeys = Object.keys(live.smoothing ?? {});
      if (keys.length === 1 && keys[0] === 'smoothing' && smoothingKeys.length === 1 && smoothingKeys[0] === 'halfLifeMs') {
        // Only the half-life changed: keep the tracker, so track IDs (people in a monitoring session) stay the same.
        video.setHalfLife(live.smoothing!.halfLifeMs!);
        return;
      }
      // Anything else rebuilds the live analyzer (new track IDs), on top of the options given at init; the frame
      // budget's level carries over unless `detectEvery` is given.
      video = createLiveAnalyzer({ detector: liveDetector, classifier: liveClassifier }, {
        labels: options.labels, detectEvery: adaptation.detectEvery, baseline: LIVE_BASELINE, ...options.live, ...live,
        smoothing: { ...options.live?.smoothing, ...live.smoothing },
      });
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      if (photoPipeline) await photoPipeline.catch(() => undefined);
      await Promise.all(cleanup.map((f) => f()));
    },
  };
}
