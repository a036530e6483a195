/// <reference lib="dom" />
/**
 * ferkit for the browser (`ferkit/web`): the core pipeline on onnxruntime-web, models fetched from the page's own
 * origin and checked by SHA-256, frame grabbing from `<video>`/ImageBitmap/VideoFrame, and a Web Worker host/client
 * so that inference runs off the main thread. Nothing is sent anywhere: frames stay in the tab.
 * @example
 * // worker.ts
 * import * as ort from 'onnxruntime-web';
 * import { serveAnalyzer } from 'ferkit/web';
 * serveAnalyzer(self, ort);
 * // page.ts
 * import { connectAnalyzer } from 'ferkit/web';
 * const analyzer = connectAnalyzer(new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' }));
 * await analyzer.init({ modelsUrl: '/models/', wasmPaths: '/ort/' });
 * const { result } = await analyzer.analyzeFrame(await createImageBitmap(video), performance.now());
 * @example
 * // a photo on the main thread (examples/browser/main.ts)
 * import * as ort from 'onnxruntime-web/wasm';
 * import { createFrameGrabber, createWebAnalyzer } from 'ferkit/web';
 * const analyzer = await createWebAnalyzer(ort, { modelsUrl: './models/', wasmPaths: './ort/' });
 * const result = await analyzer.analyzeImage(createFrameGrabber().grab(imgElement), 'photo.jpg');
 * await analyzer.dispose();
 * @remarks The models and onnxruntime-web's WASM files must be published on the page's origin: the model files are
 *   exported as `ferkit/models/*`, and `examples/browser/vite.config.ts` shows a 30-line Vite plugin that copies them
 *   with the `manifest.json` of their SHA-256 (see `docs/install.md`).
 * @module ferkit/web
 */
export * from '../core/index.js';
export * from './ort.js';
export * from './models.js';
export * from './frames.js';
export * from './support.js';
export * from './live.js';
export * from './analyzer.js';
export * from './protocol.js';
export * from './worker-host.js';
export * from './worker-client.js';
