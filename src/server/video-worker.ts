/**
 * The worker-thread side of {@link threadVideoRunner}: runs one video job (`analyzeVideoFile` of `ferkit/node`: ffmpeg
 * decoding, detection, tracking, classification) off the server's main thread, whose event loop would otherwise stop
 * for every frame's ONNX Runtime runs (onnxruntime-node runs them synchronously on the calling thread).
 *
 * `workerData`: `{ input, outDir, options, stop }` where `stop` is a SharedArrayBuffer whose first Int32 the main thread
 * sets to 1 to stop the job early (a graceful server stop). Messages out: `{ type: 'start', expected }`,
 * `{ type: 'frame', done }`, `{ type: 'end', outcome: 'done' | 'stopped' }`, `{ type: 'error', error }`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FerkitError } from '../core/errors.js';
import type { VideoWorkerData, VideoWorkerMessage } from './video-jobs.js';

if (parentPort && workerData) {
  const port = parentPort;
  const { input, outDir, options, stop } = workerData as VideoWorkerData;
  const flag = new Int32Array(stop);
  const post = (m: VideoWorkerMessage): void => port.postMessage(m);
  (async () => {
    const [{ runVideoJob }] = await Promise.all([import('./video-jobs.js')]);
    const outcome = await runVideoJob(input, outDir, options, {
      onStart: (expected) => post({ type: 'start', expected }),
      onFrame: (done) => post({ type: 'frame', done }),
      shouldStop: () => Atomics.load(flag, 0) === 1,
    });
    post({ type: 'end', outcome });
  })().catch((err: unknown) => {
    post({ type: 'error', error: err instanceof FerkitError ? { code: err.code, message: err.message } : { message: err instanceof Error ? err.message : String(err) } });
  });
}
