/**
 * The pipeline facade: detect faces → align and crop each to the classifier's input → classify → label sets.
 * Isomorphic: the caller supplies a decoded {@link RawImage} and loaded models.
 */
import type { ExpressionClassifier } from './classifier/expression.js';
import type { FaceDetector } from './detector/index.js';
import { FerkitError, describeValue, numberIn, oneOf, optionalBoolean, optionsObject } from './errors.js';
import { type AlignOptions, assertRawImage, faceCropWindow, sampleGray, wholeImageWindow } from './image.js';
import {
  type ExpressionProbabilities, LABEL_SET_IDS, type LabelSetId, argmax, projectProbabilities,
} from './labels.js';
import type { FaceAnalysis, FaceDetection, ImageAnalysis, RawImage } from './types.js';
import { DEFAULT_QUALITY_THRESHOLDS, type QualityThresholds, judgeQuality, qualitySignals } from './quality.js';
import { valenceCategory, valenceScore } from './valence.js';

/** Options fixed when the analyzer is created. */
export interface PipelineOptions {
  /** Label set for `projected` (default '7': no projection). */
  labels?: LabelSetId;
  /** Crop geometry (margin around the detector box, eye-line alignment). */
  align?: AlignOptions;
  /** Overrides of the quality gate's thresholds (`DEFAULT_QUALITY_THRESHOLDS` in quality.ts). */
  quality?: Partial<QualityThresholds>;
}

/** Per-call options. */
export interface AnalyzeImageOptions {
  /** Treat the whole image as one face crop (no detection), e.g. FER2013's 48×48 images. */
  cropped?: boolean;
  /** File path or name to put in the result's `source`. */
  source?: string | null;
}

/** The detect + classify pipeline over in-memory images. */
export interface Pipeline {
  readonly detector: FaceDetector | null;
  readonly classifier: ExpressionClassifier;
  /**
   * Analyses one decoded image.
   * @returns every face found (sorted by detection score), each with its 7-class probabilities and projections.
   * @throws {FerkitError} `E_IMAGE` for a missing or inconsistent RawImage; `E_OPTION` for bad or unknown options;
   *   `E_MODE` when `cropped` is false and there is no detector.
   */
  analyze(image: RawImage, options?: AnalyzeImageOptions): Promise<ImageAnalysis>;
}

/** What {@link toFaceAnalysis} needs besides the detection and the probabilities. */
export interface FaceAnalysisContext {
  /** The classifier's input crop (`size × size` gray 0–255), for the sharpness signal. */
  crop: Float32Array;
  size: number;
  /** Whether the face came from the detector (`false` for cropped input: no pose or detection score). */
  detected: boolean;
  /** Label set for the `projected` field ('7' leaves it out). */
  labels?: LabelSetId;
  quality?: Partial<QualityThresholds>;
}

/** Builds a {@link FaceAnalysis} from a detection, its 7-class probabilities and its crop (for the quality gate). */
export function toFaceAnalysis(face: FaceDetection, probabilities: ExpressionProbabilities, ctx: FaceAnalysisContext): FaceAnalysis {
  const labels = ctx.labels ?? '7';
  const top = argmax(probabilities);
  const score = valenceScore(probabilities);
  const result: FaceAnalysis = {
    ...face,
    probabilities,
    label: top.label,
    labelScore: top.score,
    valence: valenceCategory(score),
    valenceScore: score,
    quality: judgeQuality(qualitySignals(face, ctx.crop, ctx.size, probabilities, ctx.detected), ctx.quality),
  };
  if (labels !== '7') {
    const projected = projectProbabilities(probabilities, labels);
    const p = argmax(projected);
    result.projected = { labelSet: labels, probabilities: projected, label: p.label, score: p.score };
  }
  return result;
}

/**
 * Crops every face to the classifier's input and classifies them in one batch.
 * @returns one analysis per face, in the order given.
 */
export async function classifyFaces(
  classifier: ExpressionClassifier, image: RawImage, faces: readonly FaceDetection[], options: PipelineOptions = {},
): Promise<FaceAnalysis[]> {
  if (faces.length === 0) return [];
  const crops = faces.map((f) => sampleGray(image, faceCropWindow(f, options.align), classifier.inputSize));
  const probs = await classifier.classify(crops);
  const size = classifier.inputSize;
  return faces.map((f, i) => toFaceAnalysis(f, probs[i]!, { crop: crops[i]!, size, detected: true, labels: options.labels, quality: options.quality }));
}

/**
 * Creates the pipeline from loaded models. `detector` may be `null` for crop-only use (`cropped: true`).
 * @throws {FerkitError} `E_OPTION` naming the argument: `detector` not a detector or `null`, `classifier` not a
 *   classifier, `options` not an object or with an unknown key, an unknown label set, a crop margin/shift out of range.
 */
export function createPipeline(detector: FaceDetector | null, classifier: ExpressionClassifier, optionsIn?: PipelineOptions): Pipeline {
  if (detector !== null && (typeof detector !== 'object' || typeof (detector as Partial<FaceDetector>).detect !== 'function')) {
    throw new FerkitError('E_OPTION', `detector must be a FaceDetector (from createFaceDetector) or null, got ${describeValue(detector)}`);
  }
  if (classifier === null || typeof classifier !== 'object' || typeof (classifier as Partial<ExpressionClassifier>).classify !== 'function') {
    throw new FerkitError('E_OPTION', `classifier must be an ExpressionClassifier (from createExpressionClassifier), got ${describeValue(classifier)}`);
  }
  const options = optionsObject<PipelineOptions>('pipeline options', optionsIn, ['labels', 'align', 'quality']);
  optionsObject('quality', options.quality, Object.keys(DEFAULT_QUALITY_THRESHOLDS));
  for (const [k, v] of Object.entries(options.quality ?? {})) numberIn(`quality.${k}`, v as number, 0, 10_000);
  optionsObject('align', options.align, ['margin', 'shiftDown']);
  const labels = oneOf('labels', options.labels ?? '7', LABEL_SET_IDS);
  if (options.align?.margin !== undefined) numberIn('align.margin', options.align.margin, 0, 2);
  if (options.align?.shiftDown !== undefined) numberIn('align.shiftDown', options.align.shiftDown, -0.5, 0.5);
  const opts: PipelineOptions = { labels, align: { ...options.align }, quality: { ...options.quality } };
  const now = (): number => globalThis.performance.now();
  return {
    detector,
    classifier,
    async analyze(image, callIn) {
      const call = optionsObject<AnalyzeImageOptions>('analyze options', callIn, ['cropped', 'source']);
      optionalBoolean('cropped', call.cropped);
      if (call.source !== undefined && call.source !== null && typeof call.source !== 'string') {
        throw new FerkitError('E_OPTION', `source must be a string or null, got ${describeValue(call.source)}`);
      }
      if (image === null || typeof image !== 'object') {
        throw new FerkitError('E_IMAGE', `image must be a RawImage {data, width, height, channels}, got ${describeValue(image)}`);
      }
      assertRawImage(image, call.source ?? undefined);
      const t0 = now();
      let faces: FaceAnalysis[];
      let detectMs = 0;
      if (call.cropped) {
        const crop = sampleGray(image, wholeImageWindow(image), classifier.inputSize);
        const [p] = await classifier.classify([crop]);
        const w = image.width;
        const h = image.height;
        const c = { x: w / 2, y: h / 2 };
        faces = [toFaceAnalysis({
          box: { x: 0, y: 0, width: w, height: h },
          keypoints: { rightEye: c, leftEye: c, nose: c, mouth: c, rightEar: c, leftEar: c },
          score: 1,
        }, p!, { crop, size: classifier.inputSize, detected: false, labels, quality: opts.quality })];
      } else {
        if (!detector) throw new FerkitError('E_MODE', 'this pipeline has no face detector: pass cropped: true or create it with a detector');
        const detections = await detector.detect(image);
        detectMs = now() - t0;
        faces = await classifyFaces(classifier, image, detections, opts);
      }
      const total = now() - t0;
      return {
        source: call.source ?? null,
        width: image.width,
        height: image.height,
        faces,
        timingsMs: { decode: 0, detect: detectMs, classify: total - detectMs, total },
        models: { detector: call.cropped ? 'none (cropped input)' : detector!.id, classifier: classifier.id },
      };
    },
  };
}
