/**
 * Webcam frames: the core video analyzer (`src/core/video.ts`: detect → track → classify → smooth with an EMA half-life
 * in ms and label hysteresis), with the types the browser app uses. This is the one place the web glue meets
 * tracking and smoothing; it adds nothing of its own.
 */
import type { Pipeline } from '../core/analyzer.js';
import {
  createVideoAnalyzer, type TrackedFace, type VideoAnalyzer, type VideoAnalyzerOptions, type VideoFrameAnalysis,
} from '../core/video.js';

/** Tracking and smoothing options for webcam frames (those of `createVideoAnalyzer`). */
export type LiveOptions = VideoAnalyzerOptions;
/** One frame's result: faces in track-id order, each with `trackId`, `smoothed` and `displayLabel`. */
export type LiveFrame = VideoFrameAnalysis;
/** One tracked face. */
export type LiveFace = TrackedFace;

/**
 * Creates the per-stream video analyzer over the webcam pipeline.
 * @throws {FerkitError} `E_OPTION` for a bad option; `E_MODE` for a pipeline without a detector.
 */
export function createLiveAnalyzer(pipeline: Pick<Pipeline, 'detector' | 'classifier'>, options: LiveOptions = {}): VideoAnalyzer {
  return createVideoAnalyzer(pipeline, options);
}
