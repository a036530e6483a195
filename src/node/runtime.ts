/**
 * Which ONNX Runtime ferkit uses in Node: the native `onnxruntime-node` when it is installed and loads, otherwise
 * `onnxruntime-web`'s WebAssembly backend (slower, but always installed).
 *
 * `onnxruntime-node` is an optional dependency of ferkit: on Linux x64 its install script downloads CUDA files from
 * api.nuget.org, and where that host cannot be reached the script fails and npm drops the package (instead of failing
 * `npm install ferkit`). ferkit then still works, on WASM, and says so once (see {@link NodeRuntime.note}).
 *
 * The environment variable `FERKIT_RUNTIME` forces one: `node` (fail if onnxruntime-node cannot be loaded), `web`
 * (always WASM) or `auto` / unset (native first).
 */
import { FerkitError } from '../core/errors.js';
import type { OrtModule } from '../core/runtime.js';

/** npm names of the two runtimes ferkit can use in Node. */
export type NodeRuntimeName = 'onnxruntime-node' | 'onnxruntime-web';

/** Values of `FERKIT_RUNTIME` (and of {@link selectNodeRuntime}'s `choice`). */
export type NodeRuntimeChoice = 'auto' | 'node' | 'web';

/** The runtime {@link loadNodeRuntime} picked. */
export interface NodeRuntime {
  /** The module to pass to `createFaceDetector` / `createExpressionClassifier`. */
  readonly ort: OrtModule;
  /** Which package it is. */
  readonly name: NodeRuntimeName;
  /**
   * Set when ferkit fell back to `onnxruntime-web` although the native runtime was wanted (`auto`): one line, for
   * stderr, saying why, how much slower WASM is, and the command that installs the native runtime. Absent when the
   * native runtime is used or WASM was asked for (`FERKIT_RUNTIME=web`).
   */
  readonly note?: string;
  /** WASM threads per session (onnxruntime-web only; `env.wasm.numThreads`). */
  readonly wasmThreads?: number;
}

/** How the two runtime packages are imported; {@link selectNodeRuntime} takes others in tests. */
export interface RuntimeImporters {
  /** Resolves to the `onnxruntime-node` module; rejects when it is missing or its native binary fails to load. */
  node: () => Promise<unknown>;
  /** Resolves to the `onnxruntime-web` module (its Node build). */
  web: () => Promise<unknown>;
}

/** The part of `onnxruntime-web` that {@link selectNodeRuntime} touches besides {@link OrtModule}. */
interface WebOrt extends OrtModule {
  env: { wasm: { numThreads?: number } };
}

/** The command that installs the native runtime without its CUDA download (shown in {@link NodeRuntime.note}). */
export const NATIVE_RUNTIME_INSTALL = 'ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node';

/**
 * How much slower the WASM fallback is than onnxruntime-node per photo (ferkit-resnet-s, the float classifier, plus BlazeFace on a
 * 1920×1280 photo with 3 faces, both runtimes in the same run on Node 20, Linux x64; see docs/install.md).
 */
export const WASM_SLOWDOWN = '2–3× slower per photo';

/**
 * WASM threads per session in Node. onnxruntime-web's own Node default is `min(4, ceil(cores / 2))`; ferkit keeps
 * that: on a 2-core machine 1 and 2 threads measured the same (see docs/install.md), more cores help batches.
 * Override with `FERKIT_WASM_THREADS` (an integer 1–64).
 */
function wasmThreads(env: Readonly<Record<string, string | undefined>>, cores: number): number {
  const raw = env['FERKIT_WASM_THREADS'];
  if (raw !== undefined && raw !== '') {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new FerkitError('E_OPTION', `FERKIT_WASM_THREADS must be an integer 1–64, got ${JSON.stringify(raw)}`);
    return n;
  }
  return Math.min(4, Math.max(1, Math.ceil(cores / 2)));
}

/** The first line of an import error, shortened (module-not-found errors list every searched path otherwise). */
function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  const line = msg.split('\n')[0] ?? '';
  return line.length > 160 ? `${line.slice(0, 157)}…` : line;
}

/** True when the import failed because the package itself is not installed (not because its binary failed). */
function isNotInstalled(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | null;
  return (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') && /onnxruntime-node/.test(e.message ?? '')
    && !/onnxruntime_binding\.node/.test(e.message ?? '');
}

/** ESM namespace or CommonJS default: the object holding `InferenceSession` and `Tensor`. */
function ortOf(mod: unknown, name: NodeRuntimeName): OrtModule {
  const m = mod as Partial<OrtModule> & { default?: Partial<OrtModule> };
  const o = m?.InferenceSession ? m : m?.default;
  if (!o?.InferenceSession || !o.Tensor) throw new FerkitError('E_MODEL_LOAD', `${name} does not export InferenceSession and Tensor`);
  return o as OrtModule;
}

/**
 * Wraps onnxruntime-web so that every session runs on its `wasm` backend. Both packages register with the shared
 * `onnxruntime-common`, and without an explicit provider a session would go to the highest-priority backend
 * (onnxruntime-node's `cpu`) whenever both are loaded in one process.
 */
function webOrt(web: WebOrt): OrtModule {
  return {
    InferenceSession: {
      create: (bytes, options) => web.InferenceSession.create(bytes, { ...options, executionProviders: ['wasm'] }),
    },
    Tensor: web.Tensor,
  };
}

/**
 * Picks and loads a runtime, without memoising (see {@link loadNodeRuntime} for the cached, environment-driven entry).
 * @param choice - `auto` (onnxruntime-node, else onnxruntime-web with a {@link NodeRuntime.note}), `node` or `web`.
 * @param importers - how to import each package (default: dynamic `import()`); tests pass failing ones.
 * @param env - where `FERKIT_WASM_THREADS` is read (default `process.env`).
 * @param cores - CPU cores for the WASM thread default (default `os.availableParallelism()`).
 * @throws {FerkitError} `E_OPTION` for an unknown choice or a bad `FERKIT_WASM_THREADS`; `E_MODEL_LOAD` when the
 *   forced runtime (or, for `auto`, both) cannot be loaded, with the import error as `cause`.
 */
export async function selectNodeRuntime(
  choice: NodeRuntimeChoice,
  importers: RuntimeImporters = DEFAULT_IMPORTERS,
  env: Readonly<Record<string, string | undefined>> = process.env,
  cores?: number,
): Promise<NodeRuntime> {
  if (!['auto', 'node', 'web'].includes(choice)) {
    throw new FerkitError('E_OPTION', `FERKIT_RUNTIME must be 'node', 'web' or 'auto', got ${JSON.stringify(choice)}`);
  }
  let nodeError: unknown;
  if (choice !== 'web') {
    try {
      return { ort: ortOf(await importers.node(), 'onnxruntime-node'), name: 'onnxruntime-node' };
    } catch (cause) {
      if (choice === 'node') {
        throw new FerkitError('E_MODEL_LOAD', `FERKIT_RUNTIME=node, but onnxruntime-node cannot be loaded: ${firstLine(cause)}. Install it with: ${NATIVE_RUNTIME_INSTALL}`, undefined, { cause });
      }
      nodeError = cause;
    }
  }
  let web: WebOrt;
  try {
    web = ortOf(await importers.web(), 'onnxruntime-web') as WebOrt;
  } catch (cause) {
    const also = nodeError === undefined ? '' : ` (and onnxruntime-node: ${firstLine(nodeError)})`;
    throw new FerkitError('E_MODEL_LOAD', `onnxruntime-web cannot be loaded: ${firstLine(cause)}${also}. Reinstall ferkit`, undefined, { cause });
  }
  const threads = wasmThreads(env, cores ?? (await import('node:os')).availableParallelism());
  web.env.wasm.numThreads = threads; // read once, when the first session initialises the WASM backend
  const runtime = { ort: webOrt(web), name: 'onnxruntime-web' as const, wasmThreads: threads };
  if (nodeError === undefined) return runtime;
  const why = isNotInstalled(nodeError)
    ? 'onnxruntime-node is not installed (npm drops it when its install script cannot download its CUDA files from api.nuget.org)'
    : `onnxruntime-node failed to load (${firstLine(nodeError)})`;
  return { ...runtime, note: `ferkit: running on onnxruntime-web (WASM, ${WASM_SLOWDOWN}) because ${why}; for the native runtime: ${NATIVE_RUNTIME_INSTALL}` };
}

/** Dynamic imports of the real packages. */
const DEFAULT_IMPORTERS: RuntimeImporters = {
  node: () => import('onnxruntime-node'),
  web: () => import('onnxruntime-web'),
};

/**
 * The one piece of module state: one memoised promise per `FERKIT_RUNTIME` value, so that every analyzer in a process
 * shares one runtime (onnxruntime-web's WASM backend can be initialised only once per process, with one thread count).
 * A rejected promise is dropped, so a later call tries again.
 */
const loaded = new Map<NodeRuntimeChoice, Promise<NodeRuntime>>();

/**
 * Loads the ONNX Runtime ferkit uses in Node, once per process: `onnxruntime-node` if it is installed and its native
 * binary loads, otherwise `onnxruntime-web` (WASM) with a one-line {@link NodeRuntime.note} to show the user.
 * `FERKIT_RUNTIME=node|web` (read at each call; each value is cached separately) forces one.
 * @example
 * const { ort, name, note } = await loadNodeRuntime();
 * if (note) process.stderr.write(`${note}\n`);
 * @throws {FerkitError} `E_OPTION` for a bad `FERKIT_RUNTIME` / `FERKIT_WASM_THREADS`; `E_MODEL_LOAD` when no usable
 *   runtime can be loaded (or the forced one cannot).
 */
export function loadNodeRuntime(): Promise<NodeRuntime> {
  const raw = (process.env['FERKIT_RUNTIME'] ?? '').trim().toLowerCase();
  const choice = (raw === '' ? 'auto' : raw) as NodeRuntimeChoice;
  let p = loaded.get(choice);
  if (!p) {
    p = selectNodeRuntime(choice);
    loaded.set(choice, p);
    p.catch(() => loaded.delete(choice));
  }
  return p;
}
