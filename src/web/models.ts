/**
 * Model loading in the browser: fetched from the page's own origin, checked against their SHA-256 (the classifier's
 * card, and `manifest.json` for the BlazeFace files, both written at build time), and cached by SHA-256 in the Cache API.
 */
import { FerkitError } from '../core/errors.js';
import { sha256Hex } from '../core/model-card.js';
import type { BlazeFaceModel } from '../core/detector/index.js';

/**
 * File names of the BlazeFace models. They ship in the ferkit package as `ferkit/models/blazeface/<file>` (MediaPipe
 * BlazeFace, Apache-2.0, see `models/blazeface/NOTICE`); a bundler or server must publish them, with a `manifest.json`
 * (see {@link ModelManifest}), under the `modelsUrl` given to the analyzer. ferkit's own app does this in
 * `web/vite.config.ts`; `docs/install.md` shows how for another Vite app.
 */
export const DETECTOR_FILES: Readonly<Record<BlazeFaceModel, string>> = Object.freeze({
  front: 'face_detection_front_128x128_barracuda.onnx',
  back: 'face_detection_back_256x256_barracuda.onnx',
});

/** `manifest.json` next to the models: SHA-256 and size of every file, written when the app is built. */
export interface ModelManifest {
  files: Record<string, { sha256: string; bytes: number }>;
}

/** The loading steps that are not a file download, in the order they run. */
export const LOAD_STEPS = ['runtime', 'engine', 'detector', 'classifier'] as const;
/**
 * `runtime`: ONNX Runtime configured and the model list fetched; `engine`: ONNX Runtime's WebAssembly runtime fetched,
 * compiled and initialised (while the models download); `detector` / `classifier`: the model's ONNX session created
 * from its fetched bytes and run once on a blank input, so that the first camera frame does not pay for that first run.
 */
export type LoadStep = (typeof LOAD_STEPS)[number];

/**
 * Loading progress, a union on `type`. Byte counts are of the file being fetched; `ms` is the step's duration.
 * `fetch` comes when a model's loading starts (before the Cache API lookup, `total: null`) and again when a network
 * download starts (with the `Content-Length`); `ready` ends both, with `fromCache` saying which.
 */
export type ModelLoadEvent =
  | { type: 'fetch'; file: string; total: number | null }
  | { type: 'progress'; file: string; loaded: number; total: number | null }
  | { type: 'ready'; file: string; bytes: number; fromCache: boolean }
  | { type: 'step'; step: LoadStep; state: 'start' | 'done'; ms?: number };

/** Options shared by the fetch helpers. */
export interface FetchModelOptions {
  onProgress?: (event: ModelLoadEvent) => void;
  /** Look up and store bytes in the Cache API, keyed by SHA-256. Default true (where `caches` exists). */
  cache?: boolean;
  /** Cache name. Default `ferkit-models`. */
  cacheName?: string;
  signal?: AbortSignal;
}

const fileName = (url: string): string => url.slice(url.lastIndexOf('/') + 1).split('?')[0]!;

async function openCache(options: FetchModelOptions): Promise<Cache | null> {
  if (options.cache === false || typeof caches === 'undefined') return null;
  try {
    return await caches.open(options.cacheName ?? 'ferkit-models');
  } catch {
    return null; // e.g. an opaque origin: loading still works, only without a cache
  }
}

/** Reads a response body, reporting progress. */
async function readBody(res: Response, file: string, onProgress?: (e: ModelLoadEvent) => void): Promise<Uint8Array> {
  const header = res.headers.get('content-length');
  const total = header !== null && /^\d+$/.test(header) ? Number(header) : null;
  onProgress?.({ type: 'fetch', file, total });
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    onProgress?.({ type: 'progress', file, loaded, total });
  }
  const out = new Uint8Array(loaded);
  let off = 0;
  for (const c of chunks) { out.set(c, off); off += c.length; }
  return out;
}

/**
 * Fetches `url` and checks its SHA-256.
 * @param sha256 - expected hex digest (from the model card or the manifest).
 * @throws {FerkitError} `E_MODEL_LOAD` when the request fails (with the URL and HTTP status);
 *   `E_MODEL_CHECKSUM` when the bytes' digest differs.
 */
export async function fetchVerified(url: string, sha256: string, options: FetchModelOptions = {}): Promise<Uint8Array> {
  const file = fileName(url);
  const cache = await openCache(options);
  const key = new URL(`/__ferkit-model-cache/${sha256}`, typeof location === 'undefined' ? 'http://localhost/' : location.href).href;
  if (cache) {
    options.onProgress?.({ type: 'fetch', file, total: null }); // the cache read is timed from here, like a download
    const hit = await cache.match(key);
    if (hit) {
      const bytes = new Uint8Array(await hit.arrayBuffer());
      if ((await sha256Hex(bytes)) === sha256) {
        options.onProgress?.({ type: 'ready', file, bytes: bytes.length, fromCache: true });
        return bytes;
      }
      await cache.delete(key);
    }
  }
  let res: Response;
  try {
    res = await fetch(url, { signal: options.signal, cache: 'no-cache' });
  } catch (cause) {
    throw new FerkitError('E_MODEL_LOAD', `cannot fetch ${url}: ${(cause as Error).message}`, undefined, { cause });
  }
  if (!res.ok) throw new FerkitError('E_MODEL_LOAD', `cannot fetch ${url}: HTTP ${res.status} ${res.statusText}`);
  const bytes = await readBody(res, file, options.onProgress);
  const actual = await sha256Hex(bytes);
  if (actual !== sha256) {
    throw new FerkitError('E_MODEL_CHECKSUM', `${url}: bytes have sha256 ${actual.slice(0, 12)}…, expected ${sha256.slice(0, 12)}…`);
  }
  if (cache) {
    try {
      await cache.put(key, new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-type': 'application/octet-stream' } }));
    } catch {
      // quota or private mode: the model is loaded anyway
    }
  }
  options.onProgress?.({ type: 'ready', file, bytes: bytes.length, fromCache: false });
  return bytes;
}

/** Fetches JSON (never cached: cards and manifests are small and say which bytes to expect). */
export async function fetchJson(url: string, signal?: AbortSignal): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, { signal, cache: 'no-cache' });
  } catch (cause) {
    throw new FerkitError('E_MODEL_LOAD', `cannot fetch ${url}: ${(cause as Error).message}`, undefined, { cause });
  }
  if (!res.ok) throw new FerkitError('E_MODEL_LOAD', `cannot fetch ${url}: HTTP ${res.status} ${res.statusText}`);
  try {
    return await res.json();
  } catch (cause) {
    throw new FerkitError('E_MODEL_LOAD', `${url} is not valid JSON`, undefined, { cause });
  }
}

/** Joins a base URL (with or without a trailing slash) and a file name. */
export function joinUrl(base: string, file: string): string {
  return base.endsWith('/') ? base + file : `${base}/${file}`;
}

/**
 * Loads `manifest.json` from `modelsUrl`.
 * @throws {FerkitError} `E_MODEL_LOAD` if it is missing or malformed.
 */
export async function fetchManifest(modelsUrl: string, signal?: AbortSignal): Promise<ModelManifest> {
  const url = joinUrl(modelsUrl, 'manifest.json');
  const m = (await fetchJson(url, signal)) as Partial<ModelManifest> | null;
  if (!m || typeof m.files !== 'object' || m.files === null) throw new FerkitError('E_MODEL_LOAD', `${url}: expected { files: { name: { sha256, bytes } } }`);
  return m as ModelManifest;
}

/**
 * Fetches a classifier's card and bytes (`<id>.card.json`, `<id>.onnx`); the bytes are checked against `card.sha256`
 * (and again by `createExpressionClassifier`).
 */
export async function fetchClassifier(modelsUrl: string, id: string, options: FetchModelOptions = {}): Promise<{ bytes: Uint8Array; card: unknown }> {
  const card = (await fetchJson(joinUrl(modelsUrl, `${id}.card.json`), options.signal)) as { sha256?: unknown } | null;
  if (!card || typeof card.sha256 !== 'string') throw new FerkitError('E_MODEL_MISMATCH', `model ${id}: card has no sha256`);
  const bytes = await fetchVerified(joinUrl(modelsUrl, `${id}.onnx`), card.sha256, options);
  return { bytes, card };
}

/** Fetches the BlazeFace models named in `which`, checked against the manifest. */
export async function fetchDetectorModels(
  modelsUrl: string, manifest: ModelManifest, which: readonly BlazeFaceModel[], options: FetchModelOptions = {},
): Promise<Partial<Record<BlazeFaceModel, Uint8Array>>> {
  const out: Partial<Record<BlazeFaceModel, Uint8Array>> = {};
  for (const m of which) {
    const file = DETECTOR_FILES[m];
    const entry = manifest.files[file];
    if (!entry) throw new FerkitError('E_MODEL_LOAD', `${joinUrl(modelsUrl, 'manifest.json')} has no entry for ${file}`);
    out[m] = await fetchVerified(joinUrl(modelsUrl, file), entry.sha256, options);
  }
  return out;
}
