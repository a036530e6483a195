/**
 * Pixel operations for the classifier input: grayscale conversion (ITU-R BT.601 luma) fused with an
 * affine crop (rotation about the face centre) and area-style downsampling, all in one pass.
 */
import { FerkitError } from './errors.js';
import type { FaceDetection, RawImage } from './types.js';

/** BT.601 luma weights: Y = 0.299 R + 0.587 G + 0.114 B (what OpenCV's RGB2GRAY and PIL's "L" use). */
export const BT601 = [0.299, 0.587, 0.114] as const;

/** Throws `E_IMAGE` unless `image` is a consistent {@link RawImage}. */
export function assertRawImage(image: RawImage, name?: string): void {
  const { width, height, channels, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new FerkitError('E_IMAGE', `image size must be positive integers, got ${width}x${height}`, name);
  }
  if (channels !== 1 && channels !== 3 && channels !== 4) {
    throw new FerkitError('E_IMAGE', `image channels must be 1, 3 or 4, got ${String(channels)}`, name);
  }
  if (!data || data.length !== width * height * channels) {
    throw new FerkitError('E_IMAGE', `image data has ${data?.length} bytes, expected ${width}x${height}x${channels} = ${width * height * channels}`, name);
  }
}

/**
 * A square (or rectangular) window in the source image, rotated by `angle` about its centre.
 * Units: pixels and radians; `angle` > 0 rotates the window clockwise in image coordinates (y down).
 */
export interface CropWindow { cx: number; cy: number; width: number; height: number; angle: number }

/**
 * Samples a `size × size` grayscale patch from the crop window `win` (values 0–255, row-major, float32).
 * Each output pixel is the mean of `k × k` bilinear samples spread over its footprint, with
 * `k = ceil(window side / size)` (at most 8): area interpolation when shrinking, bilinear when
 * enlarging. Pixels outside the image replicate the border.
 */
export function sampleGray(image: RawImage, win: CropWindow, size: number, out = new Float32Array(size * size)): Float32Array {
  const { data, width: W, height: H, channels: C } = image;
  const sx = win.width / size;
  const sy = win.height / size;
  const k = Math.min(8, Math.max(1, Math.ceil(Math.max(sx, sy) - 1e-6)));
  const cos = Math.cos(win.angle);
  const sin = Math.sin(win.angle);
  const hw = win.width / 2;
  const hh = win.height / 2;
  // Luma of the image region the (rotated) window covers, once: each pixel is then read by up to 4·k² bilinear taps.
  const ex = Math.abs(hw * cos) + Math.abs(hh * sin);
  const ey = Math.abs(hw * sin) + Math.abs(hh * cos);
  const clampX = (x: number): number => Math.min(W - 1, Math.max(0, x));
  const clampY = (y: number): number => Math.min(H - 1, Math.max(0, y));
  const rx0 = clampX(Math.floor(win.cx - 0.5 - ex));
  const ry0 = clampY(Math.floor(win.cy - 0.5 - ey));
  const rx1 = clampX(Math.ceil(win.cx - 0.5 + ex) + 1);
  const ry1 = clampY(Math.ceil(win.cy - 0.5 + ey) + 1);
  const rw = rx1 - rx0 + 1;
  const rh = ry1 - ry0 + 1;
  const gray = new Float32Array(rw * rh);
  for (let y = 0; y < rh; y++) {
    let i = ((ry0 + y) * W + rx0) * C;
    const o = y * rw;
    if (C === 1) {
      for (let x = 0; x < rw; x++) gray[o + x] = data[i++]!;
    } else {
      for (let x = 0; x < rw; x++, i += C) gray[o + x] = BT601[0] * data[i]! + BT601[1] * data[i + 1]! + BT601[2] * data[i + 2]!;
    }
  }
  // Window-local sample offsets, rotated: image x = cx − 0.5 + lx·cos − ly·sin, y = cy − 0.5 + lx·sin + ly·cos
  // (pixel centres at +0.5).
  const n = size * k;
  const xc = new Float64Array(n);
  const xs = new Float64Array(n);
  const yc = new Float64Array(n);
  const ys = new Float64Array(n);
  for (let t = 0; t < n; t++) {
    const lx = (Math.floor(t / k) + ((t % k) + 0.5) / k) * sx - hw;
    const ly = (Math.floor(t / k) + ((t % k) + 0.5) / k) * sy - hh;
    xc[t] = lx * cos;
    xs[t] = lx * sin;
    yc[t] = ly * cos;
    ys[t] = ly * sin;
  }
  const ox = win.cx - 0.5 - rx0;
  const oy = win.cy - 0.5 - ry0;
  // Border replication in region coordinates: clamp to the image's last pixel; the right/bottom neighbour of the last
  // pixel is itself.
  const maxX = W - 1 - rx0;
  const maxY = H - 1 - ry0;
  const inside = win.cx - 0.5 - ex >= 0 && win.cy - 0.5 - ey >= 0 && win.cx - 0.5 + ex < W - 1 && win.cy - 0.5 + ey < H - 1;
  const inv = 1 / (k * k);
  for (let v = 0; v < size; v++) {
    for (let u = 0; u < size; u++) {
      let acc = 0;
      for (let j = v * k; j < (v + 1) * k; j++) {
        const bx = ox - ys[j]!;
        const by = oy + yc[j]!;
        for (let i = u * k; i < (u + 1) * k; i++) {
          let px = bx + xc[i]!;
          let py = by + xs[i]!;
          let dx = 1;
          let dy = rw;
          if (!inside) {
            px = Math.min(maxX, Math.max(-rx0, px));
            py = Math.min(maxY, Math.max(-ry0, py));
            if (Math.floor(px) >= maxX) dx = 0;
            if (Math.floor(py) >= maxY) dy = 0;
          }
          const x0 = Math.floor(px);
          const y0 = Math.floor(py);
          const fx = px - x0;
          const fy = py - y0;
          const a = y0 * rw + x0;
          const top = gray[a]! + (gray[a + dx]! - gray[a]!) * fx;
          const bottom = gray[a + dy]! + (gray[a + dy + dx]! - gray[a + dy]!) * fx;
          acc += top + (bottom - top) * fy;
        }
      }
      out[v * size + u] = acc * inv;
    }
  }
  return out;
}

/** Options for {@link faceCropWindow}. */
export interface AlignOptions {
  /**
   * Extra context around the detector box, as a fraction of its larger side (0.1 → a 1.1× square). Default 0.1,
   * which frames faces like FER2013's crops (face filling the 48×48 image, forehead partly cut).
   */
  margin?: number;
  /** Moves the window down by this fraction of its side, along the face's vertical axis. Default 0.05 (puts the eyes at ~40 % height as in FER2013). */
  shiftDown?: number;
  /** Rotate so that the eye line is horizontal. Default true. */
  align?: boolean;
}

/**
 * The square crop window for a detected face: centred on the box (moved down by `shiftDown × side`), side `max(w, h) × (1 + margin)`,
 * rotated by the eye-line angle (from the right-eye to the left-eye keypoint) when `align` is on.
 */
export function faceCropWindow(face: FaceDetection, options: AlignOptions = {}): CropWindow {
  const margin = options.margin ?? 0.1;
  const shift = options.shiftDown ?? 0.05;
  const { box, keypoints } = face;
  const side = Math.max(box.width, box.height) * (1 + margin);
  const angle = (options.align ?? true)
    ? Math.atan2(keypoints.leftEye.y - keypoints.rightEye.y, keypoints.leftEye.x - keypoints.rightEye.x)
    : 0;
  // "down" in the rotated face frame is (−sin, cos) in image coordinates
  const d = shift * side;
  return { cx: box.x + box.width / 2 - d * Math.sin(angle), cy: box.y + box.height / 2 + d * Math.cos(angle), width: side, height: side, angle };
}

/** The window covering the whole image (for inputs that are already face crops). */
export function wholeImageWindow(image: RawImage): CropWindow {
  return { cx: image.width / 2, cy: image.height / 2, width: image.width, height: image.height, angle: 0 };
}
