/**
 * The page side of the analyzer worker: promise-returning calls over `postMessage`, frames transferred (not copied).
 */
import { FerkitError, type FerkitErrorCode } from '../core/errors.js';
import type { FaceDetection, ImageAnalysis } from '../core/types.js';
import type { VideoSummary } from '../core/video.js';
import type { FaceExplanationImage, WebAnalyzerInfo } from './analyzer.js';
import type { LiveFrame, LiveOptions } from './live.js';
import type { ModelLoadEvent } from './models.js';
import type { WorkerAnalyzerOptions, WorkerFrameTimings, WorkerRequest, WorkerResponse } from './protocol.js';

/** The part of `Worker` used here. */
export interface WorkerLike {
  postMessage(message: WorkerRequest, transfer: Transferable[]): void;
  addEventListener(type: 'message', listener: (event: MessageEvent<WorkerResponse>) => void): void;
  addEventListener(type: 'error', listener: (event: ErrorEvent) => void): void;
  terminate(): void;
}

/** An analyzer running in a worker. */
export interface WorkerAnalyzer {
  /** Loads the models in the worker. @throws {FerkitError} as `createWebAnalyzer` does (code and message carried over). */
  init(options: WorkerAnalyzerOptions, onProgress?: (event: ModelLoadEvent) => void): Promise<WebAnalyzerInfo>;
  /** Sends a frame (transferred: the caller's handle is closed) captured at `tMs`. */
  analyzeFrame(frame: ImageBitmap | VideoFrame, tMs: number, maxSide?: number): Promise<{ result: LiveFrame; timings: WorkerFrameTimings }>;
  /** Sends a photo (transferred). Photos larger than `maxSide` are analysed shrunk; results are in original pixels. */
  analyzeImage(bitmap: ImageBitmap, source: string, maxSide?: number): Promise<{ result: ImageAnalysis; timings: WorkerFrameTimings }>;
  /** Explains one face of `frame` (transferred) by occlusion, painted `px × px` (see {@link FaceExplanationImage}). */
  explainFace(frame: ImageBitmap | VideoFrame, face: FaceDetection, px?: number): Promise<FaceExplanationImage>;
  /**
   * Opens a video-file stream in the worker (its own tracks): `frame` sends one frame (transferred) at media time
   * `tMs` (increasing), `end` returns the summary of the whole stream (as `ferkit video` prints it) and closes it.
   */
  openVideoStream(): Promise<{
    frame(frame: ImageBitmap | VideoFrame, tMs: number, maxSide?: number): Promise<LiveFrame>;
    end(endMs: number): Promise<VideoSummary>;
  }>;
  /** "Calibrate now" (see `WebAnalyzer.calibrateBaseline`): resolves to the track ids calibrated. */
  calibrateBaseline(trackId?: number): Promise<number[]>;
  resetTracking(): Promise<void>;
  /** Replaces the tracking/smoothing options (tracks restart). */
  setLiveOptions(options: LiveOptions): Promise<void>;
  /** Releases the ONNX sessions and terminates the worker. */
  dispose(): Promise<void>;
}

const KNOWN_CODES = new Set<string>([
  'E_INPUT_EMPTY', 'E_INPUT_READ', 'E_DECODE', 'E_UNSUPPORTED_FORMAT', 'E_TOO_MANY_PIXELS', 'E_IMAGE', 'E_OPTION', 'E_MODE',
  'E_MODEL_CHECKSUM', 'E_MODEL_MISMATCH', 'E_MODEL_LOAD', 'E_INFERENCE',
]);

/** Wraps a worker that runs {@link serveAnalyzer}. */
export function connectAnalyzer(worker: WorkerLike): WorkerAnalyzer {
  let nextId = 1;
  let nextStream = 1;
  let progress: ((e: ModelLoadEvent) => void) | undefined;
  let broken: Error | null = null;
  const pending = new Map<number, { ok: (m: WorkerResponse) => void; fail: (e: Error) => void }>();

  worker.addEventListener('message', (event) => {
    const m = event.data;
    if (m.type === 'progress') {
      progress?.(m.event);
      return;
    }
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.type === 'error') {
      const code = KNOWN_CODES.has(m.error.code) ? (m.error.code as FerkitErrorCode) : 'E_INFERENCE';
      p.fail(new FerkitError(code, m.error.message));
    } else {
      p.ok(m);
    }
  });
  worker.addEventListener('error', (event) => {
    broken = new FerkitError('E_MODEL_LOAD', `the analyzer worker failed: ${event.message || 'script error (see the console)'}`);
    for (const p of pending.values()) p.fail(broken);
    pending.clear();
  });

  const call = <T extends WorkerResponse['type']>(
    req: WorkerRequest, transfer: Transferable[] = [],
  ): Promise<Extract<WorkerResponse, { type: T }>> => {
    if (broken) return Promise.reject(broken);
    return new Promise((ok, fail) => {
      pending.set(req.id, { ok: ok as (m: WorkerResponse) => void, fail });
      worker.postMessage(req, transfer);
    });
  };

  return {
    async init(options, onProgress) {
      progress = onProgress;
      const m = await call<'ready'>({ type: 'init', id: nextId++, options });
      return m.info;
    },
    async analyzeFrame(frame, tMs, maxSide) {
      const m = await call<'frame'>({ type: 'frame', id: nextId++, frame, tMs, maxSide }, [frame]);
      return { result: m.result, timings: m.timings };
    },
    async analyzeImage(bitmap, source, maxSide) {
      const m = await call<'image'>({ type: 'image', id: nextId++, bitmap, source, maxSide }, [bitmap]);
      return { result: m.result, timings: m.timings };
    },
    async explainFace(frame, face, px = 192) {
      const m = await call<'explanation'>({ type: 'explain', id: nextId++, frame, face, px }, [frame]);
      return m.result;
    },
    async openVideoStream() {
      const stream = nextStream++;
      await call<'done'>({ type: 'videoStart', id: nextId++, stream });
      return {
        async frame(frame, tMs, maxSide) {
          return (await call<'frame'>({ type: 'videoFrame', id: nextId++, stream, frame, tMs, maxSide }, [frame])).result;
        },
        async end(endMs) {
          return (await call<'videoSummary'>({ type: 'videoEnd', id: nextId++, stream, endMs })).summary;
        },
      };
    },
    async calibrateBaseline(trackId) {
      return (await call<'calibrated'>({ type: 'calibrate', id: nextId++, ...(trackId !== undefined ? { trackId } : {}) })).trackIds;
    },
    async resetTracking() {
      await call<'done'>({ type: 'reset', id: nextId++ });
    },
    async setLiveOptions(options) {
      await call<'done'>({ type: 'live', id: nextId++, options });
    },
    async dispose() {
      try {
        if (!broken) await call<'done'>({ type: 'dispose', id: nextId++ });
      } finally {
        worker.terminate();
      }
    },
  };
}
