/**
 * The analyzer worker: onnxruntime-web and the ferkit pipeline, off the main thread.
 * Two onnxruntime-web builds, each loading its `.mjs`/`.wasm` from `wasmPaths` (the app's own `ort/` folder; see
 * vite.config.ts), never from a CDN: the default one (WASM + WebGPU, a 28 MB runtime) when WebGPU is wanted and has an
 * adapter, else the WASM-only one (14 MB, so it compiles about twice as fast).
 */
import { hasWebGpuAdapter, serveAnalyzer, type OrtWebModule, type WorkerScope } from 'ferkit/web';

serveAnalyzer(self as unknown as WorkerScope, async (backend) => {
  if (backend !== 'wasm' && (backend === 'webgpu' || (await hasWebGpuAdapter()))) {
    return { ort: (await import('onnxruntime-web')) as unknown as OrtWebModule, backend };
  }
  return { ort: (await import('onnxruntime-web/wasm')) as unknown as OrtWebModule, backend: 'wasm' };
});
