/**
 * Frame grabbing: a `<video>`, `ImageBitmap`, `VideoFrame` or canvas → a {@link RawImage} (RGBA, 4 channels) via an
 * OffscreenCanvas whose buffer is reused from frame to frame.
 */
import { FerkitError } from '../core/errors.js';
import type { RawImage } from '../core/types.js';

/** Anything `drawImage` takes, with its size. */
export type FrameSource = ImageBitmap | HTMLVideoElement | HTMLCanvasElement | OffscreenCanvas | HTMLImageElement | VideoFrame;

/** The pixel size of a frame source (a video's intrinsic size, a VideoFrame's display size). */
export function frameSize(source: FrameSource): { width: number; height: number } {
  if (typeof HTMLVideoElement !== 'undefined' && source instanceof HTMLVideoElement) return { width: source.videoWidth, height: source.videoHeight };
  if (typeof HTMLImageElement !== 'undefined' && source instanceof HTMLImageElement) return { width: source.naturalWidth, height: source.naturalHeight };
  if (typeof VideoFrame !== 'undefined' && source instanceof VideoFrame) return { width: source.displayWidth, height: source.displayHeight };
  const s = source as { width: number; height: number };
  return { width: s.width, height: s.height };
}

/** Reads frames into RawImages; one per video stream or worker. */
export interface FrameGrabber {
  /**
   * Draws `source` (scaled so that its longer side is at most `maxSide`, if given) and returns its RGBA pixels.
   * The returned `data` is a fresh copy owned by the caller.
   * @throws {FerkitError} `E_IMAGE` for a source with no pixels yet (a video before `loadeddata`).
   */
  grab(source: FrameSource, maxSide?: number): RawImage;
}

/** Creates a {@link FrameGrabber} backed by one OffscreenCanvas (works in windows and workers). */
export function createFrameGrabber(): FrameGrabber {
  let canvas: OffscreenCanvas | null = null;
  let ctx: OffscreenCanvasRenderingContext2D | null = null;
  return {
    grab(source, maxSide) {
      const { width: w0, height: h0 } = frameSize(source);
      if (!(w0 > 0 && h0 > 0)) throw new FerkitError('E_IMAGE', `frame has no pixels yet (${w0}x${h0})`);
      const k = maxSide && Math.max(w0, h0) > maxSide ? maxSide / Math.max(w0, h0) : 1;
      const width = Math.max(1, Math.round(w0 * k));
      const height = Math.max(1, Math.round(h0 * k));
      if (!canvas || canvas.width !== width || canvas.height !== height) {
        canvas = new OffscreenCanvas(width, height);
        ctx = canvas.getContext('2d', { willReadFrequently: true, alpha: false });
        if (!ctx) throw new FerkitError('E_IMAGE', 'this browser gives no 2D context for OffscreenCanvas');
      }
      ctx!.drawImage(source as CanvasImageSource, 0, 0, width, height);
      const img = ctx!.getImageData(0, 0, width, height);
      return { data: img.data, width, height, channels: 4 };
    },
  };
}
