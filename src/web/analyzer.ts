/**
 * The browser analyzer: onnxruntime-web set up, the models fetched from the page's origin and checked, and the same
 * core pipeline as in Node. Webcam frames go through a pipeline with the fast front detector (no tiling) and then
 * tracking and smoothing; photos through one with the automatic detector choice (loaded on first use).
 */
import { BUNDLED_CLASSIFIERS, createExpressionClassifier, type ExpressionClassifier } from '../core/classifier/expression.js';
import { createFaceDetector, type FaceDetector, type FaceDetectorOptions } from '../core/detector/index.js';
import { FerkitError } from '../core/errors.js';
import type { LabelSetId } from '../core/labels.js';
import { createPipeline, type Pipeline } from '../core/analyzer.js';
import type { ImageAnalysis, RawImage } from '../core/types.js';
import type { VideoAnalyzer } from '../core/video.js';
import { createLiveAnalyzer, type LiveFrame, type LiveOptions } from './live.js';
import { fetchClassifier, fetchDetectorModels, fetchManifest, type ModelLoadEvent, type ModelManifest } from './models.js';
import { configureOrtWeb, type OrtWebInfo, type OrtWebModule, type WebBackend } from './ort.js';

/** Options of {@link createWebAnalyzer}; validated once. */
export interface WebAnalyzerOptions {
  /** URL of the folder with the models and `manifest.json` (same origin). Default `./models/` of the page or worker. */
  modelsUrl?: string;
  /** URL prefix of onnxruntime-web's `.wasm`/`.mjs` files (same origin). Default `./ort/`. */
  wasmPaths?: string;
  /** Classifier id (`<id>.onnx` + `<id>.card.json` under `modelsUrl`). Default `ferkit-resnet-s` (`BUNDLED_CLASSIFIERS.default`); `ferkit-lite` for weak devices. */
  classifier?: string;
  backend?: WebBackend;
  /** WASM threads (see {@link OrtWebOptions.threads}). */
  threads?: number;
  labels?: LabelSetId;
  /** Detector for webcam frames. Default `{ model: 'front', tiling: 'off' }` (close faces, one 128×128 pass). */
  liveDetector?: FaceDetectorOptions;
  /** Detector for photos. Default `{ model: 'auto' }` (front for small images, back + tiles for large ones). */
  photoDetector?: FaceDetectorOptions;
  /** Tracking and smoothing of webcam frames (`createVideoAnalyzer` options; default half-life 400 ms, hysteresis on). */
  live?: LiveOptions;
  onProgress?: (event: ModelLoadEvent) => void;
}

/** What is loaded and how it runs. */
export interface WebAnalyzerInfo extends Omit<OrtWebInfo, 'sessionOptions'> {
  models: { classifier: string; liveDetector: string; classifierCard: ExpressionClassifier['card'] };
  /** Milliseconds from `createWebAnalyzer` to ready. */
  loadMs: number;
}

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
  /** Analyses one photo (no tracking). `source` goes into the result. */
  analyzeImage(image: RawImage, source: string | null): Promise<ImageAnalysis>;
  /** Forgets all tracks (new IDs from 1). */
  resetTracking(): void;
  /** Replaces the tracking and smoothing options; tracks restart. @throws {FerkitError} `E_OPTION`. */
  setLiveOptions(options: LiveOptions): void;
  /** Releases every ONNX session. */
  dispose(): Promise<void>;
}

const baseOf = (): string => (typeof location === 'undefined' ? 'http://localhost/' : location.href);

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
  const runtime = await configureOrtWeb(ort, { wasmPaths, backend: options.backend, threads: options.threads });
  const fetchOpts = { onProgress: options.onProgress };
  const manifest: ModelManifest = await fetchManifest(modelsUrl);
  const { bytes, card } = await fetchClassifier(modelsUrl, options.classifier ?? BUNDLED_CLASSIFIERS.default, fetchOpts);
  const classifier = await createExpressionClassifier(ort, bytes, card, { session: runtime.sessionOptions, maxBatch: 16 });
  const cleanup: (() => Promise<void>)[] = [() => classifier.dispose()];
  let liveDetector: FaceDetector;
  let video: VideoAnalyzer;
  try {
    const liveModels = liveOpts.model === 'auto' || liveOpts.model === undefined ? (['front', 'back'] as const) : [liveOpts.model];
    liveDetector = await createFaceDetector(ort, await fetchDetectorModels(modelsUrl, manifest, liveModels, fetchOpts), liveOpts, runtime.sessionOptions);
    cleanup.push(() => liveDetector.dispose());
    video = createLiveAnalyzer({ detector: liveDetector, classifier }, { labels: options.labels, ...options.live });
  } catch (err) {
    await Promise.all(cleanup.map((f) => f()));
    throw err;
  }
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
    async analyzeImage(image, source) {
      alive();
      return (await photos()).analyze(image, { source });
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
      // Anything else rebuilds the live analyzer (new track IDs), on top of the options given at init.
      video = createLiveAnalyzer({ detector: liveDetector, classifier }, {
        labels: options.labels, ...options.live, ...live,
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
