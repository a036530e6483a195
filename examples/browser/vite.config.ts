/**
 * Vite config of the browser example. The only ferkit-specific part is `ferkitAssets()`: it publishes, next to the
 * app, what the analyzer fetches at run time from the page's own origin (nothing comes from a CDN):
 *   models/  the default classifier (<id>.onnx + <id>.card.json), the two BlazeFace files and manifest.json
 *            (SHA-256 and size of each; ferkit checks the bytes against it);
 *   ort/     onnxruntime-web's WASM runtime (ort-wasm-simd-threaded.{mjs,wasm}).
 * Copy it into your own vite.config.ts; other bundlers need the same files at the same URLs.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { BUNDLED_CLASSIFIERS } from 'ferkit';
import { defineConfig, defaultClientConditions, type Plugin } from 'vite';

const require = createRequire(import.meta.url);

/** @param classifier - a bundled classifier id; default `BUNDLED_CLASSIFIERS.default` (the one `createWebAnalyzer` loads). */
function ferkitAssets(classifier?: string): Plugin {
  const ferkit = dirname(require.resolve('ferkit/package.json'));
  const id = classifier ?? BUNDLED_CLASSIFIERS.default;
  const models = [`${id}.onnx`, `${id}.card.json`].map((f) => join(ferkit, 'models', f))
    .concat(['face_detection_front_128x128_barracuda.onnx', 'face_detection_back_256x256_barracuda.onnx'].map((f) => join(ferkit, 'models', 'blazeface', f)));
  const ort = ['ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'].map((f) => require.resolve(`onnxruntime-web/${f}`));
  return {
    name: 'ferkit-assets',
    generateBundle() {
      const files: Record<string, { sha256: string; bytes: number }> = {};
      for (const path of models) {
        const bytes = readFileSync(path);
        this.emitFile({ type: 'asset', fileName: `models/${basename(path)}`, source: bytes });
        files[basename(path)] = { sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length };
      }
      this.emitFile({ type: 'asset', fileName: 'models/manifest.json', source: JSON.stringify({ files }) });
      for (const path of ort) this.emitFile({ type: 'asset', fileName: `ort/${basename(path)}`, source: readFileSync(path) });
    },
  };
}

export default defineConfig({
  base: './',
  // onnxruntime-web: load its WASM glue from `wasmPaths` (./ort/) instead of bundling it.
  resolve: { conditions: ['onnxruntime-web-use-extern-wasm', ...defaultClientConditions] },
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  build: { target: 'es2022', outDir: 'dist', chunkSizeWarningLimit: 1024 },
  plugins: [ferkitAssets()],
});
