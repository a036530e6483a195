/**
 * Explanations by occlusion sensitivity (Zeiler & Fergus 2014): which parts of the classifier's 48×48 input drove
 * its label. A uniform patch slides over the crop; every occluded copy is classified in one batch, and the drop in
 * the explained label's probability is spread back over the pixels the patch covered. Model-agnostic (any
 * {@link ExpressionClassifier}, no gradients, no extra graph outputs) and isomorphic.
 */
import type { ExpressionClassifier } from './classifier/expression.js';
import { FerkitError, describeValue, numberIn, oneOf, optionsObject } from './errors.js';
import { type AlignOptions, faceCropWindow, sampleGray, wholeImageWindow } from './image.js';
import { EXPRESSIONS, type Expression, type ExpressionProbabilities, argmax } from './labels.js';
import type { FaceDetection, RawImage } from './types.js';

/** Options of {@link explainCrop}. */
export interface ExplainOptions {
  /** Side of the square occluding patch, in input pixels (an integer in [1, inputSize]). Default 8. */
  patch?: number;
  /** Step between patch positions, in input pixels (an integer in [1, patch]). Default 4 (121 positions on 48×48). */
  stride?: number;
  /**
   * Gray value (0–255) of the patch: `'mean'` (default) is the model card's normalisation mean (127.5 for ferkit's
   * models: the patch becomes 0 after normalisation, i.e. "no signal"); `'crop'` is the crop's own mean; a number is used as is.
   */
  fill?: 'mean' | 'crop' | number;
  /** Label to explain. Default: the classifier's top label on the unoccluded crop (the label ferkit reports). */
  label?: Expression;
}

/** What {@link explainCrop} returns. Plain data except the typed arrays. */
export interface Explanation {
  method: 'occlusion';
  /** The explained label. */
  label: Expression;
  /** Its probability on the unoccluded crop, in [0, 1]. */
  probability: number;
  /** All 7 probabilities on the unoccluded crop (softmax, as the classifier returns them). */
  probabilities: ExpressionProbabilities;
  /** Side of the heatmap in pixels: the classifier's input size (48). */
  size: number;
  /**
   * `size × size` row-major heat in [0, 1]: the mean drop in `probability` over the patches that covered each pixel
   * (constant on `stride`-sized cells), upsampled bilinearly from the cell centres, clamped at 0 and divided by its
   * maximum ({@link Explanation.scale}). All zeros when no patch lowered the probability.
   */
  heatmap: Float32Array;
  /** The heat that 1.0 stands for, in probability units (the largest mean drop of any pixel, ≥ 0). */
  scale: number;
  /** Largest drop of the label's probability caused by a single patch (may be negative if every patch raised it). */
  maxDrop: number;
  /** Per patch position, row-major over the `positions × positions` grid: `probability − occluded probability`. */
  drops: Float32Array;
  /** Patch positions per axis (top-left corners, pixels): 11 for 8 px patches at stride 4 on 48 px. */
  positions: number[];
  patch: number;
  stride: number;
  /** Gray value 0–255 the patch was filled with. */
  fill: number;
  /** Crops classified: one unoccluded plus one per patch position (122 by default). */
  runs: number;
  /** Wall-clock time of the whole explanation, in milliseconds (inference dominates). */
  ms: number;
}

/**
 * Top-left patch positions along one axis: `0, stride, 2·stride, …`, plus `size − patch` when the last step does
 * not reach the edge, so every pixel is covered at least once.
 */
export function occlusionPositions(size: number, patch: number, stride: number): number[] {
  const out: number[] = [];
  for (let p = 0; p + patch <= size; p += stride) out.push(p);
  if (out[out.length - 1] !== size - patch) out.push(size - patch);
  return out;
}

/** Sorted cell edges along one axis: 0, the size, and every patch start and end. */
function cellEdges(size: number, positions: readonly number[], patch: number): number[] {
  return [...new Set([0, size, ...positions, ...positions.map((p) => p + patch)])].sort((a, b) => a - b);
}

/**
 * Bilinear interpolation between the centres of the cells of a map that is constant on each cell (same cells on both
 * axes); beyond the outer centres the edge value is kept.
 */
function smoothCells(map: Float32Array, size: number, edges: readonly number[]): Float32Array {
  const n = edges.length - 1;
  const centre = Array.from({ length: n }, (_, j) => (edges[j]! + edges[j + 1]!) / 2);
  // For each pixel index along an axis: the two cells (pixel index inside each) and the weight of the second.
  const lo = new Int32Array(size);
  const hi = new Int32Array(size);
  const w = new Float32Array(size);
  for (let i = 0, j = 0; i < size; i++) {
    const x = i + 0.5;
    while (j < n - 1 && centre[j + 1]! <= x) j++;
    const a = Math.min(j, n - 1);
    const b = Math.min(a + 1, n - 1);
    const t = b === a || x <= centre[a]! ? 0 : Math.min(1, (x - centre[a]!) / (centre[b]! - centre[a]!));
    lo[i] = edges[a]!;
    hi[i] = edges[b]!;
    w[i] = t;
  }
  const out = new Float32Array(size * size);
  for (let y = 0; y < size; y++) {
    const r0 = lo[y]! * size;
    const r1 = hi[y]! * size;
    const wy = w[y]!;
    for (let x = 0; x < size; x++) {
      const c0 = lo[x]!;
      const c1 = hi[x]!;
      const wx = w[x]!;
      const top = map[r0 + c0]! * (1 - wx) + map[r0 + c1]! * wx;
      const bottom = map[r1 + c0]! * (1 - wx) + map[r1 + c1]! * wx;
      out[y * size + x] = top * (1 - wy) + bottom * wy;
    }
  }
  return out;
}

const EXPLAIN_KEYS = ['patch', 'stride', 'fill', 'label'];

function integerIn(name: string, v: unknown, min: number, max: number): number {
  const n = numberIn(name, v, min, max);
  if (!Number.isInteger(n)) throw new FerkitError('E_OPTION', `${name} must be an integer, got ${n}`);
  return n;
}

/**
 * Explains one face crop by occlusion sensitivity.
 * @param classifier - a loaded classifier; the crop is classified `runs` times in a single `classify` call (split
 *   into ONNX runs of at most `maxBatch` by the classifier).
 * @param crop - the classifier's input: `inputSize × inputSize` grayscale, values 0–255, row-major (from
 *   {@link sampleGray}, or {@link explanationCrop} to get the analyzer's exact crop for a detected face).
 * @param options - see {@link ExplainOptions}.
 * @returns the heatmap and the figures behind it, see {@link Explanation}.
 * @throws {FerkitError} `E_IMAGE` when `crop` is not a Float32Array/Uint8Array of `inputSize²` values;
 *   `E_OPTION` for bad options; `E_INFERENCE` if the runtime fails.
 */
export async function explainCrop(
  classifier: ExpressionClassifier, crop: Float32Array | Uint8Array | Uint8ClampedArray, optionsIn?: ExplainOptions,
): Promise<Explanation> {
  const t0 = globalThis.performance.now();
  if (classifier === null || typeof classifier !== 'object' || typeof (classifier as Partial<ExpressionClassifier>).classify !== 'function') {
    throw new FerkitError('E_OPTION', `classifier must be an ExpressionClassifier (from createExpressionClassifier), got ${describeValue(classifier)}`);
  }
  const size = classifier.inputSize;
  const plane = size * size;
  if (!(crop instanceof Float32Array || crop instanceof Uint8Array || crop instanceof Uint8ClampedArray) || crop.length !== plane) {
    throw new FerkitError('E_IMAGE', `crop must be a Float32Array or Uint8Array of ${size}x${size} = ${plane} gray values, got ${describeValue(crop)}${ArrayBuffer.isView(crop) ? ` of length ${(crop as Uint8Array).length}` : ''}`);
  }
  const options = optionsObject<ExplainOptions>('explain options', optionsIn, EXPLAIN_KEYS);
  const patch = integerIn('patch', options.patch ?? 8, 1, size);
  const stride = integerIn('stride', options.stride ?? 4, 1, patch);
  const wanted = options.label === undefined ? undefined : oneOf('label', options.label, EXPRESSIONS);
  const base = Float32Array.from(crop);
  let fill: number;
  const f = options.fill ?? 'mean';
  if (f === 'mean') fill = classifier.card.input.mean;
  else if (f === 'crop') fill = base.reduce((a, b) => a + b, 0) / plane;
  else if (typeof f === 'number') fill = numberIn('fill', f, 0, 255);
  else throw new FerkitError('E_OPTION', `fill must be 'mean', 'crop' or a number in [0, 255], got ${describeValue(f)}`);

  const positions = occlusionPositions(size, patch, stride);
  const crops: Float32Array[] = [base];
  for (const y0 of positions) {
    for (const x0 of positions) {
      const c = base.slice();
      for (let y = y0; y < y0 + patch; y++) c.fill(fill, y * size + x0, y * size + x0 + patch);
      crops.push(c);
    }
  }
  const probs = await classifier.classify(crops);
  const probabilities = probs[0]!;
  const label = wanted ?? argmax(probabilities).label;
  const probability = probabilities[label];

  const drops = new Float32Array(positions.length * positions.length);
  const sum = new Float64Array(plane);
  const count = new Uint16Array(plane);
  let maxDrop = -Infinity;
  let k = 0;
  for (const y0 of positions) {
    for (const x0 of positions) {
      const d = probability - probs[k + 1]![label];
      drops[k++] = d;
      if (d > maxDrop) maxDrop = d;
      for (let y = y0; y < y0 + patch; y++) {
        for (let x = x0; x < x0 + patch; x++) { const i = y * size + x; sum[i] = sum[i]! + d; count[i] = count[i]! + 1; }
      }
    }
  }
  // The mean drop per pixel is constant on the cells cut by the patch edges (4×4 px by default): upsample that cell
  // grid bilinearly from the cell centres to 48×48, so the map shows no patch-sized blocks.
  const mean = new Float32Array(plane);
  for (let i = 0; i < plane; i++) mean[i] = sum[i]! / count[i]!;
  const heatmap = smoothCells(mean, size, cellEdges(size, positions, patch));
  let scale = 0;
  for (let i = 0; i < plane; i++) {
    const h = Math.max(0, heatmap[i]!);
    heatmap[i] = h;
    if (h > scale) scale = h;
  }
  if (scale > 0) for (let i = 0; i < plane; i++) heatmap[i] = heatmap[i]! / scale;
  return {
    method: 'occlusion', label, probability, probabilities, size, heatmap, scale, maxDrop, drops, positions,
    patch, stride, fill, runs: crops.length, ms: globalThis.performance.now() - t0,
  };
}

/**
 * The classifier input the analyzer used for a face: the same window ({@link faceCropWindow} with the same `align`
 * options, or the whole image for `cropped` inputs) sampled the same way ({@link sampleGray}).
 * @param image - the decoded image the face was detected in.
 * @param face - the detection (box and keypoints, in `image` pixels); ignored when `cropped`.
 * @param size - the classifier's `inputSize` (48).
 * @returns `size × size` gray values 0–255, row-major.
 */
export function explanationCrop(
  image: RawImage, face: FaceDetection | null, size: number, options: { align?: AlignOptions; cropped?: boolean } = {},
): Float32Array {
  const win = options.cropped || face === null ? wholeImageWindow(image) : faceCropWindow(face, options.align);
  return sampleGray(image, win, size);
}

/**
 * Mean heat of a rectangle of a heatmap (rows `y0..y1−1`, columns `x0..x1−1`, clipped to the map), e.g. to compare
 * the mouth region with the forehead. Coordinates in heatmap pixels.
 */
export function meanHeat(e: Pick<Explanation, 'heatmap' | 'size'>, x0: number, y0: number, x1: number, y1: number): number {
  const { heatmap, size } = e;
  let s = 0;
  let n = 0;
  for (let y = Math.max(0, y0); y < Math.min(size, y1); y++) {
    for (let x = Math.max(0, x0); x < Math.min(size, x1); x++) { s += heatmap[y * size + x]!; n++; }
  }
  return n === 0 ? 0 : s / n;
}

// Matplotlib's "inferno" at 0, 1/7, …, 1 (perceptually uniform, still ordered when printed in gray).
const INFERNO: readonly (readonly [number, number, number])[] = [
  [0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21], [250, 193, 39], [252, 255, 164],
];

/** The colour of heat `t` in [0, 1] on the "inferno" map (black → purple → orange → pale yellow), RGB 0–255. */
export function heatColour(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, t)) * (INFERNO.length - 1);
  const i = Math.min(INFERNO.length - 2, Math.floor(x));
  const f = x - i;
  const a = INFERNO[i]!;
  const b = INFERNO[i + 1]!;
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

/** Bilinear sample of a `size × size` row-major map at continuous coordinates (pixel centres at +0.5). */
function bilinear(map: ArrayLike<number>, size: number, x: number, y: number): number {
  const px = Math.min(size - 1, Math.max(0, x - 0.5));
  const py = Math.min(size - 1, Math.max(0, y - 0.5));
  const x0 = Math.floor(px);
  const y0 = Math.floor(py);
  const x1 = Math.min(size - 1, x0 + 1);
  const y1 = Math.min(size - 1, y0 + 1);
  const fx = px - x0;
  const fy = py - y0;
  const top = map[y0 * size + x0]! * (1 - fx) + map[y0 * size + x1]! * fx;
  const bottom = map[y1 * size + x0]! * (1 - fx) + map[y1 * size + x1]! * fx;
  return top * (1 - fy) + bottom * fy;
}

/** Options of {@link explanationRgba}. */
export interface ExplanationRgbaOptions {
  /** Opacity of the heat colour where the heat is 1, in [0, 1]. Default 0.7. */
  alpha?: number;
  /** `false` paints the plain enlarged crop (a "before" panel). Default true. */
  heat?: boolean;
  /**
   * Weak explanations fade: when {@link Explanation.scale} (the drop that heat 1.0 stands for) is below this many
   * probability units, the colours are drawn at `scale / fadeBelow` of their opacity, so a map where no patch
   * mattered much (redundant evidence, or noise) does not look as decisive as a strong one. 0 turns fading off.
   * Default {@link WEAK_EXPLANATION_SCALE} (0.1).
   */
  fadeBelow?: number;
}

/**
 * Below this {@link Explanation.scale} (probability units: the drop in the label's probability that heat 1.0 stands
 * for) an explanation is *weak*: hiding no single patch mattered much. {@link explanationRgba} fades its colours by
 * default, and the apps say so in words.
 */
export const WEAK_EXPLANATION_SCALE = 0.1;

/**
 * Paints the explanation over its crop, for canvases (`new ImageData(rgba, px, px)`) and image encoders alike:
 * the crop enlarged bilinearly to `px × px` in gray, with the heat colour ({@link heatColour}) blended over it at
 * opacity `alpha × heat × min(1, scale / fadeBelow)` (so cold areas show the plain face, and weak maps fade).
 * @param explanation - from {@link explainCrop} (its `heatmap`, `size` and `scale`).
 * @param crop - the explained crop, `size × size` gray 0–255.
 * @param px - output side in pixels (an integer in [1, 8192]), e.g. 192.
 * @param options - see {@link ExplanationRgbaOptions}.
 * @returns `px × px × 4` RGBA bytes, row-major, alpha 255.
 * @throws {FerkitError} `E_IMAGE` when `crop` does not have `size²` values; `E_OPTION` for a bad `px` or option.
 */
export function explanationRgba(
  explanation: Pick<Explanation, 'heatmap' | 'size' | 'scale'>, crop: ArrayLike<number>, px: number, optionsIn?: ExplanationRgbaOptions,
): Uint8ClampedArray {
  const n = explanation.size;
  if (!crop || crop.length !== n * n) throw new FerkitError('E_IMAGE', `crop must have ${n}x${n} = ${n * n} values, got ${describeValue(crop)}`);
  integerIn('px', px, 1, 8192);
  const options = optionsObject<ExplanationRgbaOptions>('explanationRgba options', optionsIn, ['alpha', 'heat', 'fadeBelow']);
  const fadeBelow = numberIn('fadeBelow', options.fadeBelow ?? WEAK_EXPLANATION_SCALE, 0, 1);
  const alpha = numberIn('alpha', options.alpha ?? 0.7, 0, 1) * (fadeBelow > 0 ? Math.min(1, explanation.scale / fadeBelow) : 1);
  const heat = options.heat ?? true;
  const out = new Uint8ClampedArray(px * px * 4);
  const k = n / px;
  for (let y = 0; y < px; y++) {
    for (let x = 0; x < px; x++) {
      const sx = (x + 0.5) * k;
      const sy = (y + 0.5) * k;
      const g = bilinear(crop, n, sx, sy);
      const i = (y * px + x) * 4;
      out[i + 3] = 255;
      if (!heat) { out[i] = out[i + 1] = out[i + 2] = g; continue; }
      const h = bilinear(explanation.heatmap, n, sx, sy);
      const [r, gg, b] = heatColour(h);
      const a = alpha * h;
      out[i] = g * (1 - a) + r * a;
      out[i + 1] = g * (1 - a) + gg * a;
      out[i + 2] = g * (1 - a) + b * a;
    }
  }
  return out;
}
