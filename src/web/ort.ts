/**
 * onnxruntime-web setup: WASM (SIMD, multi-threaded when the page is cross-origin isolated) and WebGPU where the
 * browser has an adapter. The runtime files are always loaded from the page's own origin (`wasmPaths`), never a CDN.
 */
import type { Env } from 'onnxruntime-common';
import { FerkitError, numberIn, oneOf } from '../core/errors.js';
import type { OrtModule, SessionOptions } from '../core/runtime.js';

/** The part of `onnxruntime-web` ferkit uses: the core {@link OrtModule} plus its `env` flags. */
export interface OrtWebModule extends OrtModule {
  env: Env;
}

/** Backends the web glue can ask ONNX Runtime for. */
export const WEB_BACKENDS = ['auto', 'wasm', 'webgpu'] as const;
export type WebBackend = (typeof WEB_BACKENDS)[number];

/** Options of {@link configureOrtWeb}. */
export interface OrtWebOptions {
  /**
   * URL prefix (ending in `/`) of the folder holding onnxruntime-web's `ort-wasm-simd-threaded*.{mjs,wasm}` files,
   * on the page's own origin (e.g. `/ort/`). Required: ferkit never falls back to a CDN.
   */
  wasmPaths: string;
  /**
   * WASM threads per session. Default: `min(4, hardwareConcurrency - 1)`, at least 1. More than 1 needs
   * `crossOriginIsolated` (COOP `same-origin` + COEP `require-corp` headers); without it ferkit uses 1.
   */
  threads?: number;
  /** `'auto'` (default): WebGPU when `navigator.gpu` yields an adapter, else WASM. `'webgpu'` fails if there is none. */
  backend?: WebBackend;
}

/** What {@link configureOrtWeb} chose; shown by the app and written into benchmarks. */
export interface OrtWebInfo {
  backend: 'wasm' | 'webgpu';
  /** WASM threads actually configured. */
  threads: number;
  crossOriginIsolated: boolean;
  /** Why threads or WebGPU were not used, if they were not (for the status line). */
  notes: string[];
  /** Session options to pass to every model: execution providers and log level. */
  sessionOptions: SessionOptions;
}

/** True when the browser has WebGPU and hands out an adapter (never throws). */
export async function hasWebGpuAdapter(): Promise<boolean> {
  const nav = (globalThis as { navigator?: NavigatorWithGpu }).navigator;
  try {
    return nav?.gpu ? (await nav.gpu.requestAdapter()) !== null : false;
  } catch {
    return false;
  }
}

interface NavigatorWithGpu { gpu?: { requestAdapter(): Promise<unknown> }; hardwareConcurrency?: number }

/**
 * Configures `ort.env` once per realm (page or worker) and picks the execution providers.
 * @throws {FerkitError} `E_OPTION` for a bad option, or `backend: 'webgpu'` without a WebGPU adapter.
 */
export async function configureOrtWeb(ort: OrtWebModule, options: OrtWebOptions): Promise<OrtWebInfo> {
  if (typeof options.wasmPaths !== 'string' || !options.wasmPaths.endsWith('/')) {
    throw new FerkitError('E_OPTION', `wasmPaths must be a same-origin URL prefix ending in '/', got ${JSON.stringify(options.wasmPaths)}`);
  }
  if (/^[a-z]+:\/\//i.test(options.wasmPaths) && typeof location !== 'undefined' && !options.wasmPaths.startsWith(location.origin)) {
    throw new FerkitError('E_OPTION', `wasmPaths must be on this page's origin (${location.origin}), got ${options.wasmPaths}`);
  }
  const backend = oneOf('backend', options.backend ?? 'auto', WEB_BACKENDS);
  const nav = (globalThis as { navigator?: NavigatorWithGpu }).navigator;
  const cores = nav?.hardwareConcurrency ?? 1;
  const wanted = numberIn('threads', options.threads ?? Math.min(4, Math.max(1, cores - 1)), 1, 64);
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  const notes: string[] = [];
  const threads = isolated ? Math.floor(wanted) : 1;
  if (!isolated && wanted > 1) notes.push('page is not cross-origin isolated (COOP/COEP headers missing): WASM runs on 1 thread');

  ort.env.wasm.wasmPaths = options.wasmPaths;
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = 'error';

  let useGpu = false;
  if (backend !== 'wasm') {
    if (await hasWebGpuAdapter()) useGpu = true;
    else if (backend === 'webgpu') throw new FerkitError('E_OPTION', 'backend webgpu was asked for, but this browser has no WebGPU adapter');
    else notes.push('no WebGPU adapter: using WASM');
  }
  return {
    backend: useGpu ? 'webgpu' : 'wasm',
    threads,
    crossOriginIsolated: isolated,
    notes,
    // WebGPU first, WASM for any operator the WebGPU provider lacks.
    // On WASM, ONNX Runtime's graph optimisations cost more at start-up than they give back: with them off, creating the
    // BlazeFace session and its first run took ~150 ms less on a warm reload, and the per-frame times stayed the same
    // (BlazeFace 6–8 ms, ferkit-resnet-s 8–9 ms, 1 thread; docs/web.md). WebGPU keeps them (its layout passes need them).
    sessionOptions: useGpu
      ? { executionProviders: ['webgpu', 'wasm'], logSeverityLevel: 3 }
      : { executionProviders: ['wasm'], logSeverityLevel: 3, graphOptimizationLevel: 'disabled' },
  };
}

/**
 * The smallest valid ONNX model: one `Identity` node, float32 input `x` `[1]` → output `y` `[1]` (opset 13, 70 bytes;
 * made with `onnx.helper.make_graph([make_node("Identity", ["x"], ["y"])], "init", …)`).
 */
const INIT_MODEL_BASE64 = 'CAgSADo6ChAKAXgSAXkiCElkZW50aXR5EgRpbml0Wg8KAXgSCgoICAESBAoCCAFiDwoBeRIKCggIARIECgIIAUIECgAQDQ==';

/**
 * Makes ONNX Runtime fetch, compile and initialise its WebAssembly runtime now, by creating (and releasing) a session of
 * a 70-byte model. ONNX Runtime otherwise does this inside the first real `InferenceSession.create`, i.e. only after
 * that model's bytes have arrived; started first, the 14 MB runtime streams and compiles while the models download.
 * Call after {@link configureOrtWeb}.
 * @throws {FerkitError} `E_MODEL_LOAD` when the runtime cannot be loaded (e.g. its `.wasm` is missing under `wasmPaths`).
 */
export async function startOrtRuntime(ort: OrtWebModule, sessionOptions: SessionOptions): Promise<void> {
  const bytes = Uint8Array.from(atob(INIT_MODEL_BASE64), (c) => c.charCodeAt(0));
  let session: Awaited<ReturnType<OrtWebModule['InferenceSession']['create']>>;
  try {
    session = await ort.InferenceSession.create(bytes, sessionOptions);
  } catch (cause) {
    const from = ort.env.wasm.wasmPaths ? ` (runtime files from ${String(ort.env.wasm.wasmPaths)})` : '';
    throw new FerkitError('E_MODEL_LOAD', `ONNX Runtime could not start${from}: ${(cause as Error).message}`, undefined, { cause });
  }
  await session.release().catch(() => undefined); // the runtime is up; a failed release of a 70-byte session costs nothing
}
