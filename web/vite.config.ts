/**
 * Vite config of the ferkit browser app. `npm run build:web` writes `dist/web/`: the app, `models/` (classifier +
 * card, BlazeFace front/back from `models/blazeface/`, `manifest.json` with SHA-256 of each) and `ort/` (onnxruntime-web's WASM runtime).
 * Nothing is fetched from elsewhere at run time. Every compressible file also gets `.br` and `.gz` siblings, which
 * `ferkit serve` sends with `Content-Encoding` to browsers that accept them (see src/server/static-files.ts).
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { brotliCompressSync, constants as zlibConstants, gzipSync } from 'node:zlib';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, defaultClientConditions, type Plugin } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');
const require = createRequire(import.meta.url);

/** Cross-origin isolation (WASM threads) for the dev and preview servers; `ferkit serve` sends the same. */
const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

interface Asset { url: string; file: string }

/** Files copied into the build: URL path (under the app) → file on disk. */
function assets(): Asset[] {
  const list: Asset[] = [];
  const models = join(repo, 'models');
  for (const f of readdirSync(models)) {
    if (f.endsWith('.card.json') && existsSync(join(models, f.replace(/\.card\.json$/, '.onnx')))) {
      list.push({ url: `models/${f}`, file: join(models, f) }, { url: `models/${f.replace(/\.card\.json$/, '.onnx')}`, file: join(models, f.replace(/\.card\.json$/, '.onnx')) });
    }
  }
  const blaze = join(models, 'blazeface'); // MediaPipe BlazeFace, Apache-2.0: see models/blazeface/NOTICE
  for (const f of ['face_detection_front_128x128_barracuda.onnx', 'face_detection_back_256x256_barracuda.onnx']) {
    list.push({ url: `models/${f}`, file: join(blaze, f) });
  }
  // Loaded at run time: by the default `onnxruntime-web` entry (WASM + WebGPU through JSEP) and by `onnxruntime-web/wasm`.
  for (const f of ['ort-wasm-simd-threaded.jsep.mjs', 'ort-wasm-simd-threaded.jsep.wasm', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm']) {
    list.push({ url: `ort/${f}`, file: require.resolve(`onnxruntime-web/${f}`) });
  }
  return list;
}

function manifest(list: Asset[]): string {
  const files: Record<string, { sha256: string; bytes: number }> = {};
  for (const a of list) {
    if (!a.url.startsWith('models/')) continue;
    const bytes = readFileSync(a.file);
    files[basename(a.url)] = { sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.length };
  }
  return `${JSON.stringify({ files }, null, 2)}\n`;
}

const TYPES: Record<string, string> = {
  '.json': 'application/json', '.onnx': 'application/octet-stream', '.mjs': 'text/javascript', '.wasm': 'application/wasm',
};

/** Serves the assets in `vite dev` and emits them into the build. */
function ferkitAssets(): Plugin {
  return {
    name: 'ferkit-assets',
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const path = decodeURIComponent((req.url ?? '').split('?')[0]!).replace(/^\/+/, '');
        if (path === 'models/manifest.json') {
          res.setHeader('Content-Type', 'application/json');
          res.end(manifest(assets()));
          return;
        }
        const hit = assets().find((a) => a.url === path);
        if (!hit) return next();
        res.setHeader('Content-Type', TYPES[hit.file.slice(hit.file.lastIndexOf('.'))] ?? 'application/octet-stream');
        res.setHeader('Content-Length', String(statSync(hit.file).size));
        for (const [k, v] of Object.entries(isolation)) res.setHeader(k, v);
        createReadStream(hit.file).pipe(res);
      });
    },
    generateBundle() {
      const list = assets();
      for (const a of list) this.emitFile({ type: 'asset', fileName: a.url, source: readFileSync(a.file) });
      this.emitFile({ type: 'asset', fileName: 'models/manifest.json', source: manifest(list) });
    },
  };
}

/** Extensions worth pre-compressing (text, WebAssembly, ONNX weights). Images are compressed already. */
const COMPRESSIBLE = /\.(html|js|mjs|css|json|wasm|onnx|svg|txt|map)$/;
/** Compressed copies are cached by content hash here, so that repeated builds (tests) do not redo brotli. */
const COMPRESS_CACHE = join(repo, 'node_modules', '.cache', 'ferkit-precompress');

/**
 * `<file>.br` and `<file>.gz` next to `file`, when they save at least 10 %. Brotli quality 11 below 4 MB, 9 above
 * (quality 11 takes ~45 s on the 14 MB WASM runtime for ~12 % fewer bytes). Returns the sizes written (null: not worth it).
 */
function precompress(file: string): { raw: number; br: number | null; gz: number | null } {
  const bytes = readFileSync(file);
  const key = createHash('sha256').update(bytes).digest('hex');
  const out = { raw: bytes.length, br: null as number | null, gz: null as number | null };
  for (const enc of ['br', 'gz'] as const) {
    const cached = join(COMPRESS_CACHE, `${key}.${enc}`);
    let packed: Buffer;
    if (existsSync(cached)) {
      packed = readFileSync(cached);
    } else {
      packed = enc === 'br'
        ? brotliCompressSync(bytes, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: bytes.length < 4e6 ? 11 : 9, [zlibConstants.BROTLI_PARAM_SIZE_HINT]: bytes.length } })
        : gzipSync(bytes, { level: 9 });
      mkdirSync(COMPRESS_CACHE, { recursive: true });
      writeFileSync(`${cached}.tmp`, packed);
      renameSync(`${cached}.tmp`, cached);
    }
    if (packed.length > bytes.length * 0.9) continue;
    writeFileSync(`${file}.${enc}`, packed);
    out[enc] = packed.length;
  }
  return out;
}

/** Writes the `.br`/`.gz` siblings of the build's compressible files. */
function ferkitPrecompress(): Plugin {
  return {
    name: 'ferkit-precompress',
    apply: 'build',
    writeBundle(options, bundle) {
      const dir = options.dir ?? resolve(repo, 'dist/web');
      for (const name of Object.keys(bundle)) if (COMPRESSIBLE.test(name)) precompress(join(dir, name));
    },
  };
}

export default defineConfig({
  root: here,
  base: './',
  clearScreen: false,
  resolve: {
    alias: { 'ferkit/web': resolve(repo, 'src/web/index.ts') },
    // onnxruntime-web: the build that imports its WASM glue from `wasmPaths` (our own /ort/) instead of inlining it.
    conditions: ['onnxruntime-web-use-extern-wasm', ...defaultClientConditions],
  },
  worker: { format: 'es' },
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  build: {
    outDir: resolve(repo, 'dist/web'),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 1024,
    reportCompressedSize: false,
  },
  server: { host: '127.0.0.1', headers: isolation },
  preview: { host: '127.0.0.1', headers: isolation },
  plugins: [ferkitAssets(), ferkitPrecompress()],
});
