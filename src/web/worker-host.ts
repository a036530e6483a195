/**
 * The worker side: runs a {@link WebAnalyzer} inside a dedicated Web Worker so that inference never blocks the page.
 * @example
 * // analyzer.worker.ts
 * import * as ort from 'onnxruntime-web';
 * import { serveAnalyzer } from 'ferkit/web';
 * serveAnalyzer(self, ort);
 */
import { FerkitError } from '../core/errors.js';
import type { FaceDetection, ImageAnalysis, RawImage } from '../core/types.js';
import { createWebAnalyzer, type WebAnalyzer } from './analyzer.js';
import { createFrameGrabber, type FrameSource } from './frames.js';
import type { OrtWebModule, WebBackend } from './ort.js';
import type { WorkerRequest, WorkerResponse } from './protocol.js';

/** The part of `DedicatedWorkerGlobalScope` used here. */
export interface WorkerScope {
  postMessage(message: WorkerResponse, transfer?: Transferable[]): void;
  addEventListener(type: 'message', listener: (event: MessageEvent<WorkerRequest>) => void): void;
}

function errorRecord(err: unknown): { code: string; message: string } {
  if (err instanceof FerkitError) return { code: err.code, message: err.message };
  return { code: 'E_INTERNAL', message: (err as Error | null)?.message ?? String(err) };
}

/** Scales a photo's result from the analysed (shrunk) size back to the original pixels. */
function scaleResult(result: ImageAnalysis, k: number, width: number, height: number): ImageAnalysis {
  if (k === 1) return result;
  const s = 1 / k;
  const scaleFace = <F extends FaceDetection>(f: F): F => ({
    ...f,
    box: { x: f.box.x * s, y: f.box.y * s, width: f.box.width * s, height: f.box.height * s },
    keypoints: Object.fromEntries(Object.entries(f.keypoints).map(([n, p]) => [n, { x: p.x * s, y: p.y * s }])) as F['keypoints'],
  });
  return { ...result, width, height, faces: result.faces.map(scaleFace) };
}

const closeFrame = (f: FrameSource): void => {
  (f as { close?: () => void }).close?.();
};

/**
 * Loads an ONNX Runtime build for the backend asked for, and says which backend to configure: e.g. the smaller
 * `onnxruntime-web/wasm` build with `'wasm'` when WebGPU is not wanted or has no adapter.
 */
export type OrtLoader = (backend: WebBackend) => Promise<{ ort: OrtWebModule; backend: WebBackend }>;

/**
 * Answers {@link WorkerRequest}s on `scope` (the worker's `self`) with a {@link WebAnalyzer}.
 * @param ort - `import * as ort from 'onnxruntime-web'` (the worker's own copy), or an {@link OrtLoader} that picks
 *   a build when `init` says which backend is wanted.
 */
export function serveAnalyzer(scope: WorkerScope, ort: OrtWebModule | OrtLoader): void {
  let analyzer: WebAnalyzer | null = null;
  /** Video-file streams by the page's stream number (each with its own tracks). */
  const streams = new Map<number, ReturnType<WebAnalyzer['createVideoStream']>>();
  const videoGrabber = createFrameGrabber();
  const grabber = createFrameGrabber();
  const photoGrabber = createFrameGrabber();
  const post = (m: WorkerResponse): void => scope.postMessage(m);
  const need = (): WebAnalyzer => {
    if (!analyzer) throw new FerkitError('E_MODE', 'the analyzer is not initialised: send init first');
    return analyzer;
  };

  const epochMs = (): number => performance.timeOrigin + performance.now();
  const handle = async (req: WorkerRequest, receivedAt: number): Promise<void> => {
    switch (req.type) {
      case 'init': {
        if (analyzer) await analyzer.dispose();
        analyzer = null;
        const loaded = typeof ort === 'function' ? await ort(req.options.backend ?? 'auto') : { ort, backend: req.options.backend };
        analyzer = await createWebAnalyzer(loaded.ort, { ...req.options, backend: loaded.backend, onProgress: (event) => post({ type: 'progress', event }) });
        post({ type: 'ready', id: req.id, info: analyzer.info });
        return;
      }
      case 'frame': {
        const a = need();
        const startedAt = epochMs();
        const t0 = performance.now();
        let image: RawImage;
        try {
          image = grabber.grab(req.frame, req.maxSide);
        } finally {
          closeFrame(req.frame);
        }
        const t1 = performance.now();
        const { result, stages, adaptation } = await a.analyzeFrameStages(image, req.tMs);
        post({ type: 'frame', id: req.id, result, timings: { grab: t1 - t0, analyze: performance.now() - t1, stages, adaptation, clock: { receivedAt, startedAt, repliedAt: epochMs() } } });
        return;
      }
      case 'image': {
        const a = need();
        const t0 = performance.now();
        const { width, height } = req.bitmap;
        let image: RawImage;
        try {
          image = photoGrabber.grab(req.bitmap, req.maxSide);
        } finally {
          closeFrame(req.bitmap);
        }
        const t1 = performance.now();
        const result = await a.analyzeImage(image, req.source);
        post({
          type: 'image', id: req.id, result: scaleResult(result, image.width / width, width, height),
          timings: { grab: t1 - t0, analyze: performance.now() - t1 },
        });
        return;
      }
      case 'explain': {
        const a = need();
        let image: RawImage;
        try {
          image = photoGrabber.grab(req.frame);
        } finally {
          closeFrame(req.frame);
        }
        const result = await a.explainFace(image, req.face, req.px);
        scope.postMessage({ type: 'explanation', id: req.id, result }, [result.rgba.buffer]);
        return;
      }
      case 'videoStart':
        streams.set(req.stream, need().createVideoStream());
        post({ type: 'done', id: req.id });
        return;
      case 'videoFrame': {
        const v = streams.get(req.stream);
        let image: RawImage;
        try {
          if (!v) throw new FerkitError('E_MODE', `video stream ${req.stream} is not open: send videoStart first`);
          image = videoGrabber.grab(req.frame, req.maxSide);
        } finally {
          closeFrame(req.frame);
        }
        const t0 = performance.now();
        const result = await v.analyzeFrame(image, req.tMs);
        post({ type: 'frame', id: req.id, result, timings: { grab: 0, analyze: performance.now() - t0 } });
        return;
      }
      case 'videoEnd': {
        const v = streams.get(req.stream);
        if (!v) throw new FerkitError('E_MODE', `video stream ${req.stream} is not open`);
        streams.delete(req.stream);
        post({ type: 'videoSummary', id: req.id, summary: v.summary(req.endMs) });
        return;
      }
      case 'calibrate':
        post({ type: 'calibrated', id: req.id, trackIds: need().calibrateBaseline(req.trackId) });
        return;
      case 'reset':
        need().resetTracking();
        post({ type: 'done', id: req.id });
        return;
      case 'live':
        need().setLiveOptions(req.options);
        post({ type: 'done', id: req.id });
        return;
      case 'dispose':
        if (analyzer) await analyzer.dispose();
        analyzer = null;
        post({ type: 'done', id: req.id });
        return;
    }
  };

  scope.addEventListener('message', (event) => {
    const req = event.data;
    handle(req, epochMs()).catch((err: unknown) => post({ type: 'error', id: req.id, error: errorRecord(err) }));
  });
}
