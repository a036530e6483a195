/**
 * Messages between the page and the analyzer worker ({@link serveAnalyzer} / {@link connectAnalyzer}).
 * Frames and photos travel as transferred `ImageBitmap`s (or `VideoFrame`s); results as plain data.
 */
import type { FaceDetection, ImageAnalysis } from '../core/types.js';
import type { VideoSummary } from '../core/video.js';
import type { FaceExplanationImage, LiveAdaptation, WebAnalyzerInfo, WebAnalyzerOptions } from './analyzer.js';
import type { LiveFrame, LiveOptions } from './live.js';
import type { ModelLoadEvent } from './models.js';

/** Analyzer options that can cross a worker boundary (no callbacks). */
export type WorkerAnalyzerOptions = Omit<WebAnalyzerOptions, 'onProgress'>;

/** Page → worker. Each carries an `id` the answer repeats. */
export type WorkerRequest =
  | { type: 'init'; id: number; options: WorkerAnalyzerOptions }
  | { type: 'frame'; id: number; frame: ImageBitmap | VideoFrame; tMs: number; maxSide?: number }
  | { type: 'image'; id: number; bitmap: ImageBitmap; source: string; maxSide?: number }
  | { type: 'explain'; id: number; frame: ImageBitmap | VideoFrame; face: FaceDetection; px: number }
  | { type: 'videoStart'; id: number; stream: number }
  | { type: 'videoFrame'; id: number; stream: number; frame: ImageBitmap | VideoFrame; tMs: number; maxSide?: number }
  | { type: 'videoEnd'; id: number; stream: number; endMs: number }
  | { type: 'calibrate'; id: number; trackId?: number }
  | { type: 'reset'; id: number }
  | { type: 'live'; id: number; options: LiveOptions }
  | { type: 'dispose'; id: number };

/**
 * Time spent in the worker per frame, ms: `grab` (reading the pixels of the transferred frame) and `analyze` (the
 * pipeline). For camera frames, `stages` splits `analyze`: `detect` (BlazeFace, 0 on frames where boxes were
 * predicted), `crop` (face crops to the classifier's input), `classifier` (the ONNX run, all faces in one batch) and
 * `track` (association and smoothing). The page adds the transfer time (its round trip minus the worker's time).
 */
export interface WorkerFrameTimings {
  grab: number;
  analyze: number;
  stages?: { detect: number; crop: number; classifier: number; track: number };
  /**
   * Wall-clock times in the worker (`performance.timeOrigin + performance.now()`, ms since the epoch, comparable with
   * the page's): when the message arrived, when its work started (after earlier frames), and when the answer was posted.
   */
  clock?: { receivedAt: number; startedAt: number; repliedAt: number };
  /** Camera frames: the live stream's frame-budget level after this frame (detector cadence, classifier). */
  adaptation?: LiveAdaptation;
}

/** Worker → page. */
export type WorkerResponse =
  | { type: 'progress'; event: ModelLoadEvent }
  | { type: 'ready'; id: number; info: WebAnalyzerInfo }
  | { type: 'frame'; id: number; result: LiveFrame; timings: WorkerFrameTimings }
  | { type: 'image'; id: number; result: ImageAnalysis; timings: WorkerFrameTimings }
  | { type: 'explanation'; id: number; result: FaceExplanationImage }
  | { type: 'videoSummary'; id: number; summary: VideoSummary }
  | { type: 'calibrated'; id: number; trackIds: number[] }
  | { type: 'done'; id: number }
  | { type: 'error'; id: number; error: { code: string; message: string } };
