/**
 * BlazeFace input preparation: a square window of the image (letterboxed when it leaves the image) is
 * resampled to the model size (area averaging when shrinking, bilinear when enlarging) and packed as NHWC float32 in [-1, 1].
 */

/**
 * A square window in input-image pixels (top-left corner and side). It may extend past the image:
 * the outside is padded with black (letterboxing), which the model sees as -1.
 */
export interface SquareWindow { x: number; y: number; side: number }

/**
 * The square window that letterboxes the whole image: side `max(width, height)`, image centred.
 * @param width - image width in pixels; @param height - image height in pixels.
 */
export function letterboxWindow(width: number, height: number): SquareWindow {
  const side = Math.max(width, height);
  return { x: (width - side) / 2, y: (height - side) / 2, side };
}

/** Reusable buffers for {@link resampleNhwc}; one per detector instance (never shared between concurrent calls). */
export interface ResampleScratch { tmp: Float32Array; wx: AxisWeights | null; wy: AxisWeights | null }

/** Creates empty scratch buffers; they grow on demand. */
export function createResampleScratch(): ResampleScratch {
  return { tmp: new Float32Array(0), wx: null, wy: null };
}

/** Per-output-pixel filter taps along one axis: source indices `start[i] … start[i] + count[i] - 1`. */
export interface AxisWeights { start: Int32Array; count: Int32Array; weights: Float32Array; stride: number }

/**
 * Filter taps mapping source range `[origin, origin + side)` onto `size` output pixels. Shrinking uses area
 * averaging (each output pixel is the mean of the source pixels under its footprint, weighted by overlap, like
 * OpenCV's `INTER_AREA`); enlarging uses bilinear interpolation. Taps outside `[0, limit)` are dropped after
 * normalisation, i.e. they count as black.
 */
function axisWeights(origin: number, side: number, size: number, limit: number, reuse: AxisWeights | null): AxisWeights {
  const scale = side / size;
  const area = scale > 1;
  const stride = Math.ceil(scale) + 2;
  const w = reuse && reuse.start.length === size && reuse.stride === stride
    ? reuse
    : { start: new Int32Array(size), count: new Int32Array(size), weights: new Float32Array(size * stride), stride };
  for (let i = 0; i < size; i++) {
    let j0: number;
    const base = i * stride;
    let n = 0;
    let lo = 0;
    if (area) {
      const a = origin + i * scale;
      const b = a + scale;
      j0 = Math.floor(a);
      lo = Math.max(0, j0);
      const hi = Math.min(limit - 1, Math.ceil(b) - 1);
      for (let j = lo; j <= hi; j++) w.weights[base + n++] = (Math.min(b, j + 1) - Math.max(a, j)) / scale;
    } else {
      let c = origin + (i + 0.5) * scale - 0.5; // in pixel-centre coordinates
      // Within half a pixel of the image edge the edge pixel is replicated; further out, black is blended in.
      if (c >= -0.5 && c < 0) c = 0;
      if (c > limit - 1 && c <= limit - 0.5) c = limit - 1;
      j0 = Math.floor(c);
      const f = c - j0;
      lo = Math.max(0, j0);
      if (j0 >= 0 && j0 < limit) w.weights[base + n++] = 1 - f;
      if (j0 + 1 >= 0 && j0 + 1 < limit) {
        if (n === 0) lo = j0 + 1;
        w.weights[base + n++] = f;
      }
    }
    w.start[i] = Math.min(lo, Math.max(0, limit - 1));
    w.count[i] = n;
  }
  return w;
}

/**
 * Pixels to resample: a `RawImage`, or a float RGB working copy (HWC, values 0–255) such as
 * {@link shrinkImage} makes.
 */
export interface PixelSource { data: ArrayLike<number>; width: number; height: number; channels: 1 | 3 | 4 }

/**
 * Resamples `win` of `image` to a `size × size` RGB tensor for BlazeFace.
 * @param image - gray is replicated to RGB, alpha is ignored.
 * @param win - the square source window in `image` pixels; parts outside the image are black.
 * @param size - model input side (128 or 256).
 * @param out - destination, length `size × size × 3`: NHWC `[1, size, size, 3]`, RGB, values `v / 127.5 - 1` in [-1, 1]
 *   (MediaPipe's `ImageToTensorCalculator` range for BlazeFace).
 * @returns `out`.
 */
export function resampleNhwc(image: PixelSource, win: SquareWindow, size: number, out: Float32Array, scratch: ResampleScratch): Float32Array {
  return resampleRect(image, win.x, win.y, win.side, win.side, size, size, out, scratch, 1 / 127.5, -1);
}

/**
 * Shrinks `image` by the factor `1 / scale` (area averaging) into a float RGB working copy, so that several
 * windows can be cut from it without reading the full-resolution image again.
 * @param scale - output pixels per input pixel, in (0, 1]. The copy is `ceil(width × scale) × ceil(height × scale)`;
 *   its pixel `(u, v)` covers input pixels `[u / scale, (u + 1) / scale)` (the last column/row may overhang the image).
 * @param out - reused when large enough.
 */
export function shrinkImage(image: PixelSource, scale: number, scratch: ResampleScratch, out?: Float32Array): PixelSource & { data: Float32Array } {
  const w = Math.ceil(image.width * scale);
  const h = Math.ceil(image.height * scale);
  const data = out && out.length >= w * h * 3 ? out : new Float32Array(w * h * 3);
  resampleRect(image, 0, 0, w / scale, h / scale, w, h, data, scratch, 1, 0);
  return { data, width: w, height: h, channels: 3 };
}

/**
 * Separable resampling of the source rectangle `[x, x + sw) × [y, y + sh)` to `ow × oh` RGB pixels (HWC), writing
 * `value × mul + add` into `out`.
 */
function resampleRect(
  image: PixelSource, x: number, y: number, sw: number, sh: number, ow: number, oh: number,
  out: Float32Array, scratch: ResampleScratch, mul: number, add: number,
): Float32Array {
  const { data, width: W, height: H, channels: C } = image;
  const wx = (scratch.wx = axisWeights(x, sw, ow, W, scratch.wx));
  const wy = (scratch.wy = axisWeights(y, sh, oh, H, scratch.wy));
  // Source rows the vertical pass reads.
  let rowLo = H;
  let rowHi = 0;
  for (let v = 0; v < oh; v++) {
    const n = wy.count[v]!;
    if (n === 0) continue;
    rowLo = Math.min(rowLo, wy.start[v]!);
    rowHi = Math.max(rowHi, wy.start[v]! + n);
  }
  const rows = Math.max(0, rowHi - rowLo);
  const rowLen = ow * 3;
  if (scratch.tmp.length < rows * rowLen) scratch.tmp = new Float32Array(rows * rowLen);
  const tmp = scratch.tmp;
  // Horizontal pass: source rows [rowLo, rowHi) -> `ow` columns, 3 channels.
  const g1 = C === 1 ? 0 : 1;
  const g2 = C === 1 ? 0 : 2;
  const { count: xCount, start: xStart, weights: xWeights, stride: xStride } = wx;
  for (let r = 0; r < rows; r++) {
    const rowBase = (rowLo + r) * W;
    let t = r * rowLen;
    for (let u = 0; u < ow; u++) {
      const end = u * xStride + xCount[u]!;
      let p = (rowBase + xStart[u]!) * C;
      let a = 0;
      let b = 0;
      let c = 0;
      for (let q = u * xStride; q < end; q++, p += C) {
        const wt = xWeights[q]!;
        a += wt * data[p]!;
        b += wt * data[p + g1]!;
        c += wt * data[p + g2]!;
      }
      tmp[t++] = a;
      tmp[t++] = b;
      tmp[t++] = c;
    }
  }
  // Vertical pass with the affine output mapping folded into the weights: out = Σ (w·mul)·tmp + add.
  for (let v = 0; v < oh; v++) {
    const n = wy.count[v]!;
    const o = v * rowLen;
    const w0 = v * wy.stride;
    const base = (wy.start[v]! - rowLo) * rowLen;
    if (n === 0) {
      out.fill(add, o, o + rowLen);
      continue;
    }
    const first = wy.weights[w0]! * mul;
    for (let q = 0; q < rowLen; q++) out[o + q] = first * tmp[base + q]! + add;
    for (let k = 1; k < n; k++) {
      const wt = wy.weights[w0 + k]! * mul;
      const bk = base + k * rowLen;
      for (let q = 0; q < rowLen; q++) out[o + q] = out[o + q]! + wt * tmp[bk + q]!;
    }
  }
  return out;
}
