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
  const gray = (x: number, y: number): number => {
    const i = (y * W + x) * C;
    return C === 1 ? data[i]! : BT601[0] * data[i]! + BT601[1] * data[i + 1]! + BT601[2] * data[i + 2]!;
  };
  const inv = 1 / (k * k);
  for (let v = 0; v < size; v++) {
    for (let u = 0; u < size; u++) {
      let acc = 0;
      for (let j = 0; j < k; j++) {
        const ly = (v + (j + 0.5) / k) * sy - win.height / 2;
        for (let i = 0; i < k; i++) {
          const lx = (u + (i + 0.5) / k) * sx - win.width / 2;
          // window-local -> image (pixel centres at +0.5)
          const px = Math.min(W - 1, Math.max(0, win.cx + lx * cos - ly * sin - 0.5));
          const py = Math.min(H - 1, Math.max(0, win.cy + lx * sin + ly * cos - 0.5));
          const x0 = Math.floor(px);
          const y0 = Math.floor(py);
          const x1 = Math.min(W - 1, x0 + 1);
          const y1 = Math.min(H - 1, y0 + 1);
          const fx = px - x0;
          const fy = py - y0;
          const top = gray(x0, y0) * (1 - fx) + gray(x1, y0) * fx;
          const bottom = gray(x0, y1) * (1 - fx) + gray(x1, y1) * fx;
          acc += top * (1 - fy) + bottom * fy;
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
