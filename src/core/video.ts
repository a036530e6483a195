/**
 * The video analyzer: detect → track → crop + classify → smooth, one call per frame with the caller's timestamp.
 * Isomorphic (no Node or DOM): `ferkit/node` feeds it frames decoded by ffmpeg, the browser feeds it camera frames.
 *
 * Per frame: the face detector runs every `detectEvery` frames, and also at once when nothing is being followed, when a
 * followed track's motion model has fewer than {@link MIN_HITS_TO_FOLLOW} detections behind it (its velocity is not known yet), or when a followed
 * box is predicted to have moved more than `redetectShift` of its size since its last detection; in between, each face's box is
 * the tracker's constant-velocity prediction. Every reported face is re-cropped and re-classified on every frame
 * (the 48×48 classifier costs about half a detector run). Each track's probabilities are smoothed by an exponential
 * moving average with a half-life in ms, and the displayed label has hysteresis. {@link VideoAnalyzer.summary} gives,
 * per track and for the whole video, the time-weighted share of each displayed label and the mean valence.
 */
import type { Pipeline } from './analyzer.js';
import { classifyFaces } from './analyzer.js';
import { AUTO_FRONT_MAX_SIDE, type BlazeFaceModel } from './detector/blazeface.js';
import { FerkitError, describeValue, numberIn, oneOf } from './errors.js';
import { type AlignOptions, assertRawImage } from './image.js';
import {
  EXPRESSIONS, LABEL_SET_IDS, LABEL_SETS, type Expression, type ExpressionProbabilities, type LabelSetId, type Valence,
  argmax, projectProbabilities,
} from './labels.js';
import { type Baseline, BaselineEstimator, relativeToBaseline } from './baseline.js';
import { DEFAULT_SMOOTHING, type HysteresisOptions, LabelHysteresis, ProbabilityEma } from './smoothing.js';
import { valenceCategory, valenceScore } from './valence.js';
import { FaceTracker, type TrackerOptions } from './tracker.js';
import type { Box, FaceAnalysis, FaceDetection, Keypoints, RawImage } from './types.js';
import { KEYPOINT_NAMES } from './types.js';

/**
 * Between scheduled detector runs, a track is followed by its motion model only once the model has this many detections
 * behind it (two give its velocity, a third checks it, unless they came under `MIN_MOTION_DT_MS` apart; see
 * `Track.motionHits`, which starts again when the tracker restarts a wrong motion model); before that, the detector runs
 * on every frame.
 */
export const MIN_HITS_TO_FOLLOW = 3;

/** Options of {@link createVideoAnalyzer}; validated once, immutable afterwards. */
export interface VideoAnalyzerOptions {
  /** Run the face detector on every k-th frame (an integer in [1, 1000]); boxes are predicted in between. Default 1. */
  detectEvery?: number;
  /**
   * Adaptive detection between scheduled runs: detect at once when a followed box is predicted to have moved by more
   * than this fraction of its size since its last detection (centre shift / side + relative size change), in [0, 100].
   * Default 0.25. Only matters when `detectEvery > 1`.
   */
  redetectShift?: number;
  /** Track association and motion model. */
  tracker?: TrackerOptions;
  smoothing?: {
    /** Half-life of the probability EMA in ms, in [0, 3 600 000]; 0 = no smoothing. Default {@link DEFAULT_SMOOTHING}`.halfLifeMs`. */
    halfLifeMs?: number;
    /**
     * Hysteresis of the displayed label: margin, dwell time and probability floor ({@link DEFAULT_SMOOTHING} by
     * default, see `docs/temporal.md`); `false` = the smoothed argmax (then `displayUncertain` still uses the
     * default floor).
     */
    hysteresis?: HysteresisOptions | false;
  };
  /** Label set of the displayed label, the shares and each face's `projected` field. Default '7'. */
  labels?: LabelSetId;
  /**
   * Per-person neutral baseline, opt-in (method in `src/core/baseline.ts` and `docs/temporal.md`): once a track is
   * calibrated, its raw probabilities are also given relative to its own resting distribution (`relative`), and the
   * smoothing, the displayed label and the summary's shares follow the relative probabilities. Off by default.
   */
  baseline?: VideoBaselineOptions;
  /** Crop geometry before classification (as in the image pipeline). */
  align?: AlignOptions;
}

/** The `baseline` option of {@link VideoAnalyzerOptions}. */
export interface VideoBaselineOptions {
  /**
   * Calibration window in seconds, in (0, 3600]: with `auto`, a track is calibrated on its first `seconds`; an explicit
   * {@link VideoAnalyzer.calibrateBaseline} uses the track's last `seconds`.
   */
  seconds: number;
  /** Calibrate each track automatically once it is `seconds` old (default true); `false`: only on `calibrateBaseline`. */
  auto?: boolean;
  /** Shrinkage λ of the baseline towards uniform, in [0, 1). Default 0.1. */
  shrinkage?: number;
  /** Resting distribution the baseline is mapped onto. Default `NEUTRAL_REFERENCE` (src/core/baseline.ts). */
  reference?: ExpressionProbabilities;
}

/** Options after validation and defaults. */
export interface ResolvedVideoAnalyzerOptions {
  detectEvery: number;
  redetectShift: number;
  tracker: Required<TrackerOptions>;
  halfLifeMs: number;
  hysteresis: Required<HysteresisOptions> | false;
  labels: LabelSetId;
  align: AlignOptions;
  /** `null`: no baseline. */
  baseline: Required<VideoBaselineOptions> | null;
}

/** A track's probabilities after smoothing. */
export interface SmoothedExpression {
  /**
   * EMA of the 7 raw probabilities (of the baseline-relative ones once a `baseline` track is calibrated): in [0, 1],
   * sums to 1.
   */
  probabilities: ExpressionProbabilities;
  /** Argmax of `probabilities` and its probability. */
  label: Expression;
  labelScore: number;
  /** Valence category of `valenceScore` (see `valenceCategory` in valence.ts). */
  valence: Valence;
  /** Expected valence of `probabilities` (see `valenceScore` in valence.ts), in [−1, 1]. */
  valenceScore: number;
}

/** One face in one frame. `probabilities`, `label`, `labelScore`, `valence` and `projected` are this frame's raw output. */
export interface TrackedFace extends FaceAnalysis {
  trackId: number;
  /** `'detected'`: the detector's box on this frame; `'predicted'`: the tracker's motion-model box (no detection ran). */
  boxSource: 'detected' | 'predicted';
  smoothed: SmoothedExpression;
  /** The label to show, in the analyzer's label set: hysteresis (when on) over the smoothed probabilities. */
  displayLabel: string;
  /** The smoothed probability of `displayLabel` (in the analyzer's label set), in [0, 1]. */
  displayScore: number;
  /**
   * `displayScore` is below the hysteresis floor: no label reaches the floor, so `displayLabel` (then the smoothed
   * argmax) should be shown as uncertain. A displayed label below the floor is never left unmarked.
   */
  displayUncertain: boolean;
  /**
   * With the `baseline` option: `null` until the track is calibrated, then this frame's raw probabilities relative to
   * the track's baseline (`p·r/b`, renormalised), their argmax, and the baseline itself. From calibration on,
   * `smoothed`, `displayLabel` and the summary follow these relative probabilities; `probabilities` stays raw.
   * Absent without the option.
   */
  relative?: RelativeExpression | null;
}

/** A face's probabilities relative to its track's baseline. */
export interface RelativeExpression {
  /** Relative probabilities over the 7 expressions, in [0, 1], summing to 1. */
  probabilities: ExpressionProbabilities;
  label: Expression;
  labelScore: number;
  /** The track's baseline `b` (shrunk mean of its raw probabilities over the calibration window). */
  baseline: ExpressionProbabilities;
  /** Time of the calibration and the span of observations it averaged, ms. */
  calibratedAtMs: number;
  windowMs: { from: number; to: number; samples: number };
}

/** Result for one frame (plain data). */
export interface VideoFrameAnalysis {
  /** 0, 1, 2, … in call order. */
  frameIndex: number;
  /** The caller's timestamp, ms. */
  timestampMs: number;
  width: number;
  height: number;
  /** Whether the face detector ran on this frame. */
  detectorRan: boolean;
  /** Label set of `displayLabel`. */
  labelSet: LabelSetId;
  /** Faces, in track-id order. */
  faces: TrackedFace[];
  /** Wall time per stage, ms (`track`: association, smoothing, bookkeeping). */
  timingsMs: { detect: number; classify: number; track: number; total: number };
}

/** Time-weighted label shares and valence of a set of observations. */
export interface ExpressionTime {
  /** Time covered, ms: each observation counts until the next frame (the last one: until `endMs` of the summary). */
  durationMs: number;
  /** Number of frames observed. */
  frames: number;
  /** Displayed label with the most time (ties: the label set's order); `null` without observations. */
  dominant: string | null;
  /** ms per label of the label set (every label, zeros included). */
  timeMs: Record<string, number>;
  /** Fraction of `durationMs` per label; sums to 1 (by frame count when `durationMs` is 0). */
  shares: Record<string, number>;
  /** Time-weighted mean of the smoothed valence score, in [−1, 1]; `null` without observations. */
  meanValence: number | null;
  /** Time-weighted mean of the smoothed 7-class probabilities; `null` without observations. */
  meanProbabilities: ExpressionProbabilities | null;
}

/** Per-track summary. */
export interface TrackSummary extends ExpressionTime {
  trackId: number;
  /** Timestamps of the track's first and last frame, ms. */
  firstMs: number;
  lastMs: number;
  /** With the `baseline` option: the track's baseline (null: not calibrated). Absent without the option. */
  baseline?: ExpressionProbabilities | null;
}

/** The whole video so far. */
export interface VideoSummary {
  labelSet: LabelSetId;
  /** Frames analysed, and how many had at least one face. */
  frames: number;
  framesWithFaces: number;
  detectorRuns: number;
  /** From the first frame's timestamp to `endMs`, ms. */
  durationMs: number;
  /** Every track seen, by id. */
  tracks: TrackSummary[];
  /** All tracks together (time adds up over faces: two faces for 1 s give 2 s). */
  overall: ExpressionTime;
}

/** A video analyzer bound to a pipeline's detector and classifier. */
export interface VideoAnalyzer {
  readonly options: Readonly<ResolvedVideoAnalyzerOptions>;
  /**
   * Analyses the next frame. Calls are queued, so they never overlap; timestamps must increase from call to call.
   * @param image - the frame (RGB or RGBA).
   * @param timestampMs - the frame's time in ms, on any clock (video time, `performance.now()`).
   * @throws {FerkitError} `E_IMAGE` for an inconsistent image; `E_OPTION` if the timestamp does not increase;
   *   `E_INFERENCE` if the runtime fails.
   */
  analyzeFrame(image: RawImage, timestampMs: number): Promise<VideoFrameAnalysis>;
  /**
   * Per-track and overall figures for the frames so far.
   * @param endMs - end of the last frame, ms; default: its timestamp plus the previous frame interval.
   */
  summary(endMs?: number): VideoSummary;
  /** Forgets tracks, smoothing and figures (a new video); track ids keep counting up. */
  reset(): void;
  /**
   * Changes the smoothing half-life (ms, in [0, 3 600 000]) without touching tracking: track IDs, tallies and
   * time shares carry on; each track's running average restarts from its next observation.
   * @throws {FerkitError} `E_OPTION` for a bad half-life.
   */
  setHalfLife(halfLifeMs: number): void;
  /**
   * Changes how often the detector runs (every `n`-th frame, an integer in [1, 1000]; tracks are followed by their
   * motion model in between) from the next frame on, without touching tracks, smoothing or tallies. Used to keep up
   * when frames take longer than the frame budget (see `src/core/frame-budget.ts`). `options.detectEvery` follows.
   * @throws {FerkitError} `E_OPTION` for a bad `n`.
   */
  setDetectEvery(n: number): void;
  /**
   * Replaces the expression classifier from the next frame on (e.g. the lite model when frames miss their budget).
   * Track IDs, smoothing and tallies carry on: the running averages simply continue with the new model's probabilities.
   * @throws {FerkitError} `E_OPTION` if `classifier` is not an ExpressionClassifier.
   */
  setClassifier(classifier: Pipeline['classifier']): void;
  /** The classifier in use (the pipeline's, or the last {@link setClassifier}). */
  readonly classifier: Pipeline['classifier'];
  /**
   * "Calibrate now": sets the baseline of one live track (or of every live track) from its last `baseline.seconds` of
   * raw probabilities; later frames report `relative` probabilities against it. Replaces an earlier baseline.
   * @param trackId - a live track's id; default: every live track.
   * @returns the ids calibrated (empty when the track is not live or has no observation yet).
   * @throws {FerkitError} `E_MODE` when the analyzer was created without the `baseline` option.
   */
  calibrateBaseline(trackId?: number): number[];
}

/**
 * Detector options for video frames of `width × height`: the front (128×128) model up to {@link AUTO_FRONT_MAX_SIDE}
 * (640 px) on the longer side, else the back (256×256) model; no tiling (a steady per-frame cost).
 */
export function videoDetectorOptions(width: number, height: number): { model: BlazeFaceModel; tiling: 'off' } {
  return { model: Math.max(width, height) <= AUTO_FRONT_MAX_SIDE ? 'front' : 'back', tiling: 'off' };
}


/**
 * Accumulates time-weighted label shares, valence and probabilities. Each {@link add} covers `durationMs`.
 * Used per track and per time bin (charts).
 */
export class ExpressionTally {
  private readonly ms: Record<string, number>;
  private readonly counts: Record<string, number>;
  private readonly probMs: Record<Expression, number>;
  private totalMs = 0;
  private frames = 0;
  private valenceMs = 0;
  private valenceSum = 0;

  constructor(readonly labelSet: LabelSetId) {
    this.ms = Object.fromEntries(LABEL_SETS[labelSet].labels.map((l) => [l, 0]));
    this.counts = { ...this.ms };
    this.probMs = Object.fromEntries(EXPRESSIONS.map((e) => [e, 0])) as Record<Expression, number>;
  }

  /** Adds one observation covering `durationMs` (≥ 0) with its displayed label, smoothed probabilities and valence score. */
  add(label: string, durationMs: number, probabilities: ExpressionProbabilities, valence: number): void {
    this.frames++;
    this.counts[label] = (this.counts[label] ?? 0) + 1;
    this.ms[label] = (this.ms[label] ?? 0) + durationMs;
    this.totalMs += durationMs;
    for (const e of EXPRESSIONS) this.probMs[e] += probabilities[e] * durationMs;
    this.valenceMs += valence * durationMs;
    this.valenceSum += valence;
  }

  /** The figures so far (a fresh object). Without time (`durationMs` 0), frame counts weigh instead. */
  result(): ExpressionTime {
    const labels = LABEL_SETS[this.labelSet].labels;
    const byTime = this.totalMs > 0;
    const weights = byTime ? this.ms : this.counts;
    const total = byTime ? this.totalMs : this.frames;
    const shares = Object.fromEntries(labels.map((l) => [l, total > 0 ? (weights[l] ?? 0) / total : 0]));
    let dominant: string | null = null;
    if (this.frames > 0) for (const l of labels) if (dominant === null || (weights[l] ?? 0) > (weights[dominant] ?? 0)) dominant = l;
    let meanProbabilities: ExpressionProbabilities | null = null;
    if (this.frames > 0 && byTime) {
      meanProbabilities = Object.fromEntries(EXPRESSIONS.map((e) => [e, this.probMs[e] / this.totalMs])) as ExpressionProbabilities;
    }
    return {
      durationMs: this.totalMs,
      frames: this.frames,
      dominant,
      timeMs: { ...this.ms },
      shares,
      meanValence: this.frames === 0 ? null : byTime ? this.valenceMs / this.totalMs : this.valenceSum / this.frames,
      meanProbabilities,
    };
  }

  /** A copy (so a summary can credit pending frames without changing this tally). */
  clone(): ExpressionTally {
    const c = new ExpressionTally(this.labelSet);
    Object.assign(c.ms, this.ms);
    Object.assign(c.counts, this.counts);
    Object.assign(c.probMs, this.probMs);
    c.totalMs = this.totalMs;
    c.frames = this.frames;
    c.valenceMs = this.valenceMs;
    c.valenceSum = this.valenceSum;
    return c;
  }
}

/** Validates `options` and fills in defaults. @throws {FerkitError} `E_OPTION` naming the first bad option. */
export function resolveVideoAnalyzerOptions(options: VideoAnalyzerOptions = {}): Readonly<ResolvedVideoAnalyzerOptions> {
  const known = new Set(['detectEvery', 'redetectShift', 'tracker', 'smoothing', 'labels', 'align', 'baseline']);
  for (const k of Object.keys(options)) {
    if (!known.has(k)) throw new FerkitError('E_OPTION', `unknown video analyzer option '${k}' (known: ${[...known].join(', ')})`);
  }
  const detectEvery = numberIn('detectEvery', options.detectEvery ?? 1, 1, 1000);
  if (!Number.isInteger(detectEvery)) throw new FerkitError('E_OPTION', `detectEvery must be a whole number in [1, 1000], got ${detectEvery}`);
  const h = options.smoothing?.hysteresis;
  let hysteresis: Required<HysteresisOptions> | false = false;
  if (h !== false) {
    const probe = new LabelHysteresis(h ?? {}); // validates
    hysteresis = { margin: probe.margin, minDwellMs: probe.minDwellMs, floor: probe.floor };
  }
  const tracker: Required<TrackerOptions> = { ...new FaceTracker(options.tracker ?? {}).options }; // validates, fills defaults
  let baseline: Required<VideoBaselineOptions> | null = null;
  if (options.baseline !== undefined) {
    const b = options.baseline;
    if (b === null || typeof b !== 'object') throw new FerkitError('E_OPTION', `baseline must be an object like { seconds: 5 }, got ${String(b)}`);
    for (const k of Object.keys(b)) {
      if (!['seconds', 'auto', 'shrinkage', 'reference'].includes(k)) throw new FerkitError('E_OPTION', `unknown baseline option '${k}' (known: seconds, auto, shrinkage, reference)`);
    }
    const seconds = numberIn('baseline.seconds', b.seconds, 0.001, 3600);
    if (b.auto !== undefined && typeof b.auto !== 'boolean') throw new FerkitError('E_OPTION', `baseline.auto must be true or false, got ${String(b.auto)}`);
    const probe = new BaselineEstimator({ windowMs: seconds * 1000, shrinkage: b.shrinkage, reference: b.reference }); // validates
    baseline = { seconds, auto: b.auto ?? true, shrinkage: probe.shrinkage, reference: { ...probe.reference } };
  }
  return Object.freeze({
    detectEvery,
    redetectShift: numberIn('redetectShift', options.redetectShift ?? 0.25, 0, 100),
    tracker,
    halfLifeMs: numberIn('smoothing.halfLifeMs', options.smoothing?.halfLifeMs ?? DEFAULT_SMOOTHING.halfLifeMs, 0, 3_600_000),
    hysteresis,
    labels: oneOf('labels', options.labels ?? '7', LABEL_SET_IDS),
    align: { ...options.align },
    baseline,
  });
}

/** Per-track state of the analyzer. */
interface TrackInfo {
  ema: ProbabilityEma<Expression>;
  hysteresis: LabelHysteresis<string> | null;
  tally: ExpressionTally;
  firstMs: number;
  lastMs: number;
  /** Raw probabilities over the calibration window (with the `baseline` option). */
  estimator: BaselineEstimator | null;
  baseline: { b: Baseline; atMs: number } | null;
}

/** An observation waiting for the next frame's timestamp to know how long it lasted. */
interface Pending { trackId: number; label: string; probabilities: ExpressionProbabilities; valence: number }

const clipBox = (b: Box, W: number, H: number): Box | null => {
  const x0 = Math.max(0, b.x);
  const y0 = Math.max(0, b.y);
  const x1 = Math.min(W, b.x + b.width);
  const y1 = Math.min(H, b.y + b.height);
  return x1 - x0 >= 1 && y1 - y0 >= 1 ? { x: x0, y: y0, width: x1 - x0, height: y1 - y0 } : null;
};

/** Keypoints of `last` moved and scaled with its box onto `box`. */
function moveKeypoints(last: FaceDetection, box: Box): Keypoints {
  const s = box.width / last.box.width;
  const ox = last.box.x + last.box.width / 2;
  const oy = last.box.y + last.box.height / 2;
  const nx = box.x + box.width / 2;
  const ny = box.y + box.height / 2;
  const out = {} as Keypoints;
  for (const k of KEYPOINT_NAMES) {
    const p = last.keypoints[k];
    out[k] = { x: nx + (p.x - ox) * s, y: ny + (p.y - oy) * s };
  }
  return out;
}

/**
 * Creates a video analyzer over a pipeline's detector and classifier (e.g. `createPipeline(...)` or
 * `ferkit/node`'s `createAnalyzer(...).pipeline`). For video, create the detector with
 * {@link videoDetectorOptions}`(width, height)` (front or back model by frame size, no tiling).
 * @throws {FerkitError} `E_MODE` when the pipeline has no detector; `E_OPTION` for a bad option.
 * @example
 * const video = createVideoAnalyzer(analyzer.pipeline, { smoothing: { halfLifeMs: 400 } });
 * const frame = await video.analyzeFrame(rgb, 1000 * i / fps);
 * for (const f of frame.faces) console.log(f.trackId, f.displayLabel, f.smoothed.valenceScore);
 */
export function createVideoAnalyzer(
  pipeline: Pick<Pipeline, 'detector' | 'classifier'>, options: VideoAnalyzerOptions = {},
): VideoAnalyzer {
  let opts = resolveVideoAnalyzerOptions(options);
  const { detector } = pipeline;
  let { classifier } = pipeline;
  if (!detector) throw new FerkitError('E_MODE', 'video analysis needs a face detector: create the pipeline with one (not cropsOnly)');
  const now = (): number => globalThis.performance.now();

  const tracker = new FaceTracker<FaceDetection>(opts.tracker);
  let halfLifeMs = opts.halfLifeMs;
  let infos = new Map<number, TrackInfo>();
  let finished: TrackSummary[] = [];
  let overall = new ExpressionTally(opts.labels);
  let pending: Pending[] = [];
  let frameIndex = 0;
  let framesWithFaces = 0;
  let detectorRuns = 0;
  let firstMs: number | null = null;
  let lastMs: number | null = null;
  let lastIntervalMs = 0;
  let lastDetectRunMs: number | null = null;
  let framesSinceDetect = 0;
  let queue: Promise<unknown> = Promise.resolve();
  const maxCreditMs = tracker.options.maxAgeMs;

  const credit = (list: readonly Pending[], dt: number, trackTallies: Map<number, ExpressionTally>, all: ExpressionTally): void => {
    for (const p of list) {
      trackTallies.get(p.trackId)?.add(p.label, dt, p.probabilities, p.valence);
      all.add(p.label, dt, p.probabilities, p.valence);
    }
  };

  const summarise = (id: number, info: TrackInfo, tally: ExpressionTally = info.tally): TrackSummary => ({
    trackId: id, firstMs: info.firstMs, lastMs: info.lastMs, ...tally.result(),
    ...(opts.baseline ? { baseline: info.baseline?.b.probabilities ?? null } : {}),
  });

  const analyzeNow = async (image: RawImage, tMs: number): Promise<VideoFrameAnalysis> => {
    assertRawImage(image);
    if (typeof tMs !== 'number' || !Number.isFinite(tMs)) {
      throw new FerkitError('E_OPTION', `analyzeFrame: timestampMs must be a finite number of milliseconds, got ${String(tMs)} (${typeof tMs})`);
    }
    if (lastMs !== null && tMs <= lastMs) {
      throw new FerkitError('E_OPTION', `analyzeFrame: timestampMs must increase from frame to frame, got ${tMs} ms after ${lastMs} ms`);
    }
    const t0 = now();
    const W = image.width;
    const H = image.height;

    // Credit the previous frame's observations with the time until this frame.
    if (lastMs !== null) {
      const dt = Math.min(tMs - lastMs, maxCreditMs);
      credit(pending, dt, new Map([...infos].map(([id, info]) => [id, info.tally])), overall);
      lastIntervalMs = tMs - lastMs;
    }
    pending = [];

    // Follow or detect.
    const followed = lastDetectRunMs === null ? [] : tracker.predict(tMs).filter((p) => p.lastDetectedMs === lastDetectRunMs);
    const live = new Map(tracker.tracks.map((t) => [t.id, t]));
    const lastById = new Map([...live].map(([id, t]) => [id, t.last]));
    let detect = lastDetectRunMs === null || followed.length === 0 || framesSinceDetect + 1 >= opts.detectEvery;
    if (!detect) {
      for (const p of followed) {
        if (live.get(p.trackId)!.motionHits < MIN_HITS_TO_FOLLOW) { detect = true; break; }
        const last = lastById.get(p.trackId)!;
        const side = (last.box.width + last.box.height) / 2;
        const shift = Math.hypot(p.box.x + p.box.width / 2 - (last.box.x + last.box.width / 2), p.box.y + p.box.height / 2 - (last.box.y + last.box.height / 2)) / side
          + Math.abs(p.box.width - last.box.width) / last.box.width;
        if (shift > opts.redetectShift) { detect = true; break; }
      }
    }

    let detectMs = 0;
    const faces: { trackId: number; face: FaceDetection; source: 'detected' | 'predicted' }[] = [];
    let dropped: number[] = [];
    if (detect) {
      const td = now();
      const detections = await detector.detect(image);
      detectMs = now() - td;
      detectorRuns++;
      framesSinceDetect = 0;
      lastDetectRunMs = tMs;
      const upd = tracker.update(detections, tMs);
      dropped = upd.dropped;
      for (const a of upd.assigned) faces.push({ trackId: a.trackId, face: a.detection, source: 'detected' });
    } else {
      framesSinceDetect++;
      for (const p of followed) {
        const box = clipBox(p.box, W, H);
        if (!box) continue;
        const last = lastById.get(p.trackId)!;
        faces.push({ trackId: p.trackId, face: { box, keypoints: moveKeypoints(last, box), score: last.score }, source: 'predicted' });
      }
    }
    faces.sort((a, b) => a.trackId - b.trackId);
    // A dropped track was last seen more than maxAgeMs ago: its time is fully credited, so its figures are final.
    for (const id of dropped) {
      const info = infos.get(id);
      if (!info) continue;
      infos.delete(id);
      finished.push(summarise(id, info));
    }

    const tc = now();
    const analysed = await classifyFaces(classifier, image, faces.map((f) => f.face), { labels: opts.labels, align: opts.align });
    const classifyMs = now() - tc;

    const out: TrackedFace[] = faces.map((f, i) => {
      const raw = analysed[i]!;
      let info = infos.get(f.trackId);
      if (!info) {
        info = {
          ema: new ProbabilityEma<Expression>(halfLifeMs),
          hysteresis: opts.hysteresis ? new LabelHysteresis<string>(opts.hysteresis) : null,
          tally: new ExpressionTally(opts.labels),
          firstMs: tMs,
          lastMs: tMs,
          estimator: opts.baseline ? new BaselineEstimator({ windowMs: opts.baseline.seconds * 1000, shrinkage: opts.baseline.shrinkage, reference: opts.baseline.reference }) : null,
          baseline: null,
        };
        infos.set(f.trackId, info);
      }
      info.lastMs = tMs;
      let relative: RelativeExpression | null = null;
      if (info.estimator && opts.baseline) {
        info.estimator.add(raw.probabilities, tMs);
        if (!info.baseline && opts.baseline.auto && tMs - info.firstMs >= opts.baseline.seconds * 1000) {
          info.baseline = { b: info.estimator.estimate()!, atMs: tMs };
        }
        if (info.baseline) {
          const rel = relativeToBaseline(raw.probabilities, info.baseline.b.probabilities, opts.baseline.reference);
          const top = argmax(rel);
          const { b, atMs } = info.baseline;
          relative = {
            probabilities: rel, label: top.label, labelScore: top.score, baseline: b.probabilities, calibratedAtMs: atMs,
            windowMs: { from: b.fromMs, to: b.toMs, samples: b.samples },
          };
        }
      }
      const probabilities = info.ema.update(relative ? relative.probabilities : raw.probabilities, tMs);
      const top = argmax(probabilities);
      const projected = opts.labels === '7' ? probabilities : projectProbabilities(probabilities, opts.labels);
      const shown = info.hysteresis ? info.hysteresis.decide(projected, tMs) : null;
      const displayLabel = shown ? shown.label : argmax(projected).label;
      const displayScore = (projected as Record<string, number>)[displayLabel] ?? 0;
      const floor = opts.hysteresis ? opts.hysteresis.floor : DEFAULT_SMOOTHING.floor;
      const v = valenceScore(probabilities);
      pending.push({ trackId: f.trackId, label: displayLabel, probabilities, valence: v });
      return {
        ...raw,
        trackId: f.trackId,
        boxSource: f.source,
        smoothed: { probabilities, label: top.label, labelScore: top.score, valence: valenceCategory(v), valenceScore: v },
        displayLabel,
        displayScore,
        displayUncertain: displayScore < floor,
        ...(opts.baseline ? { relative } : {}),
      };
    });
    if (out.length > 0) framesWithFaces++;
    firstMs ??= tMs;
    lastMs = tMs;
    const total = now() - t0;
    return {
      frameIndex: frameIndex++,
      timestampMs: tMs,
      width: W,
      height: H,
      detectorRan: detect,
      labelSet: opts.labels,
      faces: out,
      timingsMs: { detect: detectMs, classify: classifyMs, track: total - detectMs - classifyMs, total },
    };
  };

  return {
    get options() { return opts; },
    get classifier() { return classifier; },
    analyzeFrame(image, timestampMs) {
      const p = queue.then(() => analyzeNow(image, timestampMs));
      queue = p.catch(() => undefined);
      return p;
    },
    summary(endMs) {
      const tallies = new Map([...infos].map(([id, info]) => [id, info.tally.clone()]));
      const all = overall.clone();
      if (lastMs !== null) {
        const end = endMs ?? lastMs + lastIntervalMs;
        if (typeof end !== 'number' || !Number.isFinite(end) || end < lastMs) {
          throw new FerkitError('E_OPTION', `summary: endMs must be a number ≥ the last frame's timestamp (${lastMs} ms), got ${String(end)}`);
        }
        credit(pending, Math.min(end - lastMs, maxCreditMs), tallies, all);
      }
      const live = [...infos].map(([id, info]) => summarise(id, info, tallies.get(id)));
      const tracks = [...finished, ...live].sort((a, b) => a.trackId - b.trackId);
      const end = lastMs === null ? 0 : (endMs ?? lastMs + lastIntervalMs);
      return {
        labelSet: opts.labels,
        frames: frameIndex,
        framesWithFaces,
        detectorRuns,
        durationMs: firstMs === null ? 0 : end - firstMs,
        tracks,
        overall: all.result(),
      };
    },
    calibrateBaseline(trackId) {
      if (!opts.baseline) throw new FerkitError('E_MODE', 'calibrateBaseline needs the baseline option, e.g. createVideoAnalyzer(pipeline, { baseline: { seconds: 5, auto: false } })');
      const done: number[] = [];
      for (const [id, info] of infos) {
        if (trackId !== undefined && id !== trackId) continue;
        const b = info.estimator?.estimate();
        if (!b) continue;
        info.baseline = { b, atMs: info.lastMs };
        done.push(id);
      }
      return done;
    },
    setDetectEvery(n) {
      numberIn('detectEvery', n, 1, 1000);
      if (!Number.isInteger(n)) throw new FerkitError('E_OPTION', `detectEvery must be a whole number in [1, 1000], got ${n}`);
      opts = Object.freeze({ ...opts, detectEvery: n });
    },
    setClassifier(c) {
      if (c === null || typeof c !== 'object' || typeof (c as Partial<Pipeline['classifier']>).classify !== 'function') {
        throw new FerkitError('E_OPTION', `setClassifier needs an ExpressionClassifier (from createExpressionClassifier), got ${describeValue(c)}`);
      }
      classifier = c;
    },
    setHalfLife(ms) {
      halfLifeMs = numberIn('halfLifeMs', ms, 0, 3_600_000);
      for (const info of infos.values()) info.ema = new ProbabilityEma<Expression>(halfLifeMs);
    },
    reset() {
      tracker.reset();
      infos = new Map();
      finished = [];
      overall = new ExpressionTally(opts.labels);
      pending = [];
      frameIndex = 0;
      framesWithFaces = 0;
      detectorRuns = 0;
      firstMs = null;
      lastMs = null;
      lastIntervalMs = 0;
      lastDetectRunMs = null;
      framesSinceDetect = 0;
    },
  };
}
