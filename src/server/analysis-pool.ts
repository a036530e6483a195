/**
 * A pool of worker threads that run image analyses (see `analysis-worker.ts`), as a {@link ServerAnalyzerFactory}.
 *
 * Why: onnxruntime-node runs a session synchronously on the thread that calls it, and the crop and letterbox pixel
 * work is JavaScript, so on the server's main thread every analysis ran one after another whatever `--workers` said
 * (the event loop was busy for the whole analysis). In a pool of N threads, N analyses run on N cores and the main
 * thread only handles HTTP.
 *
 * Each worker loads its own copy of the models (a few MB each) the first time an option set is used; `load` warms every
 * worker. A worker that dies (out of memory, a native crash) fails its analyses in progress with `E_INFERENCE` and
 * is replaced: the requests get 503 `E_INFERENCE` with Retry-After.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { FerkitError, type FerkitErrorCode } from '../core/errors.js';
import type { ImageAnalysis } from '../core/types.js';
import type { AnalyzerOptions } from '../node/index.js';
import { packageRoot } from '../node/models.js';
import type { WorkerError, WorkerReply, WorkerRequest } from './analysis-worker.js';
import type { ServerAnalyzer, ServerAnalyzerFactory } from './inference.js';
import { HttpProblem } from './problem.js';

/** A running pool. */
export interface AnalysisPool {
  /** Creates analyzers whose work runs in the pool's threads (warming every thread). */
  readonly factory: ServerAnalyzerFactory;
  /** Threads in the pool. */
  readonly size: number;
  /** Analyses in progress per thread. */
  busy(): number[];
  /** Threads, analyses in progress, and threads replaced so far (died, or stopped past `stopAfterMs`). */
  stats(): { threads: number; busy: number; replaced: number };
  /** The threads (for tests and diagnostics; a dead one is replaced, so call again after a failure). */
  threads(): readonly Worker[];
  /** Waits for the messages in flight (at most 10 s), then stops every thread; later calls reject with `E_INFERENCE`. */
  close(): Promise<void>;
}

/**
 * A compiled worker script of this folder (`name`, e.g. `analysis-worker.js`): beside this module when running from
 * `dist/`; from source (vitest, vite-node) the one `npm run build` wrote into `dist/src/server/`. `null` when neither
 * exists (the server then works on its main thread).
 */
export function compiledWorkerFile(name: string): string | null {
  const here = fileURLToPath(new URL(`./${name}`, import.meta.url));
  if (existsSync(here)) return here;
  try {
    const built = join(packageRoot(), 'dist', 'src', 'server', name);
    return existsSync(built) ? built : null;
  } catch {
    return null;
  }
}

/** The compiled analysis worker (see {@link compiledWorkerFile}). */
export function analysisWorkerFile(): string | null {
  return compiledWorkerFile('analysis-worker.js');
}

function fromWorkerError(e: WorkerError): Error {
  if (e.code === undefined) return new Error(e.message);
  // The message already carries the file name; keep `file` as its own field too.
  return Object.assign(new FerkitError(e.code as FerkitErrorCode, e.message), { file: e.file });
}

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;
interface Pending { resolve: (r: ImageAnalysis | undefined) => void; reject: (e: Error) => void }
interface Slot { worker: Worker; pending: Map<number, Pending>; stopReason?: string }

/** Options of {@link createAnalysisPool}. */
export interface AnalysisPoolOptions {
  /**
   * An analysis still running this long after it was handed to its thread, ms, has the thread stopped (its analyses
   * fail with 503 `E_INFERENCE`) and replaced, so that a runaway decode cannot hold an inference slot for ever (a
   * thread, unlike a promise, can be stopped). Default: none.
   */
  stopAfterMs?: number;
  /** Called when a thread is replaced, with why it ended (for the server log). */
  onReplace?: (why: string) => void;
}

/**
 * Starts `size` worker threads running `file` (see {@link analysisWorkerFile}).
 * @throws {RangeError} when `size` is not an integer ≥ 1 or `stopAfterMs` is not positive.
 */
export function createAnalysisPool(size: number, file: string, options: AnalysisPoolOptions = {}): AnalysisPool {
  if (!(Number.isInteger(size) && size >= 1)) throw new RangeError(`pool size must be an integer ≥ 1, got ${size}`);
  const stopAfterMs = options.stopAfterMs;
  if (stopAfterMs !== undefined && !(stopAfterMs > 0)) throw new RangeError(`stopAfterMs must be positive, got ${stopAfterMs}`);
  let nextId = 1;
  let closed = false;
  let replaced = 0;
  const slots: Slot[] = [];

  const spawn = (index: number): void => {
    const worker = new Worker(file);
    const slot: Slot = { worker, pending: new Map() };
    slots[index] = slot;
    worker.on('message', (m: WorkerReply) => {
      const p = slot.pending.get(m.id);
      if (!p) return;
      slot.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(fromWorkerError(m.error));
    });
    const fail = (why: string): void => {
      const detail = slot.stopReason
        ? `${slot.stopReason}: its thread was stopped and is being replaced`
        : `the analysis thread stopped (${why}); it is being replaced, retry the request`;
      for (const p of slot.pending.values()) p.reject(new HttpProblem(503, 'E_INFERENCE', detail, { 'Retry-After': '2' }));
      slot.pending.clear();
    };
    worker.on('error', (err) => fail(err.message));
    worker.on('exit', (code) => {
      fail(`exit code ${code}`);
      if (!closed && slots[index] === slot) { // replace it; models load again on first use
        replaced++;
        options.onReplace?.(slot.stopReason ?? `analysis thread ${index} exited with code ${code}`);
        spawn(index);
      }
    });
  };
  for (let i = 0; i < size; i++) spawn(i);

  const send = (slot: Slot, msg: WithoutId<WorkerRequest>, deadlineMs?: number): Promise<ImageAnalysis | undefined> => {
    if (closed) return Promise.reject(new HttpProblem(503, 'E_INFERENCE', 'the analysis pool is closed (the server is stopping)', { 'Retry-After': '2' }));
    const id = nextId++;
    return new Promise((resolve, reject) => {
      const timer = deadlineMs === undefined ? undefined : setTimeout(() => {
        if (!slot.pending.has(id) || slot.stopReason) return;
        slot.stopReason = `the analysis of ${msg.type === 'analyze' ? msg.name : 'an image'} was still running after ${deadlineMs} ms`;
        void slot.worker.terminate();
      }, deadlineMs);
      slot.pending.set(id, {
        resolve: (r) => { clearTimeout(timer); resolve(r); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      slot.worker.postMessage({ ...msg, id } as WorkerRequest);
    });
  };
  const leastBusy = (): Slot => slots.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));

  const factory: ServerAnalyzerFactory = async (options: AnalyzerOptions) => {
    const key = JSON.stringify(options);
    await Promise.all(slots.map((s) => send(s, { type: 'load', key, options })));
    const analyzer: ServerAnalyzer = {
      async analyze(input, call) {
        const r = await send(leastBusy(), { type: 'analyze', key, options, bytes: input, name: call?.name ?? '(bytes)', cropped: call?.cropped ?? false }, stopAfterMs);
        return r!;
      },
      async dispose() {
        if (closed) return;
        await Promise.all(slots.map((s) => send(s, { type: 'dispose', key }).catch(() => undefined)));
      },
    };
    return analyzer;
  };

  return {
    factory,
    size,
    busy: () => slots.map((s) => s.pending.size),
    stats: () => ({ threads: slots.length, busy: slots.reduce((n, s) => n + s.pending.size, 0), replaced }),
    threads: () => slots.map((s) => s.worker),
    async close() {
      closed = true;
      // Stopping a thread in the middle of an ONNX Runtime run can abort the whole process (a native exception during
      // teardown): wait for the messages in flight first, for at most 10 s.
      const until = Date.now() + 10_000;
      while (slots.some((s) => s.pending.size > 0) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      await Promise.all(slots.map((s) => s.worker.terminate()));
    },
  };
}
