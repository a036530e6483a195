/**
 * The worker-thread side of {@link createAnalysisPool}: loads analyzers with `createAnalyzer` of `ferkit/node` (one per
 * option set the main thread names by a key) and answers `analyze` messages. Decoding (sharp), the pixel work of
 * cropping and letterboxing, and the ONNX Runtime runs (which onnxruntime-node executes synchronously on the calling
 * thread) all happen here, so that several analyses use several cores and the server's event loop stays free.
 *
 * Messages in: `{ type: 'load', id, key, options }`, `{ type: 'analyze', id, key, options, bytes, name, cropped }`,
 * `{ type: 'dispose', id, key }`. Out: `{ id, ok: true, result? }` or `{ id, ok: false, error: { code?, message, file? } }`.
 */
import { parentPort } from 'node:worker_threads';
import { FerkitError } from '../core/errors.js';
import type { ImageAnalysis } from '../core/types.js';
import type { Analyzer, AnalyzerOptions } from '../node/index.js';

/** A message to the worker. */
export type WorkerRequest =
  | { type: 'load'; id: number; key: string; options: AnalyzerOptions }
  | { type: 'analyze'; id: number; key: string; options: AnalyzerOptions; bytes: Uint8Array; name: string; cropped: boolean }
  | { type: 'dispose'; id: number; key: string };

/** An error as it crosses the thread boundary (a FerkitError keeps its code and file). */
export interface WorkerError { code?: string; message: string; file?: string }

/** A message from the worker. */
export type WorkerReply = { id: number; ok: true; result?: ImageAnalysis } | { id: number; ok: false; error: WorkerError };

function toWorkerError(err: unknown): WorkerError {
  if (err instanceof FerkitError) return { code: err.code, message: err.message, ...(err.file !== undefined ? { file: err.file } : {}) };
  return { message: err instanceof Error ? err.message : String(err) };
}

if (parentPort) {
  const port = parentPort;
  const analyzers = new Map<string, Promise<Analyzer>>();
  const get = (key: string, options: AnalyzerOptions): Promise<Analyzer> => {
    let a = analyzers.get(key);
    if (!a) {
      a = import('../node/index.js').then(({ createAnalyzer }) => createAnalyzer(options));
      analyzers.set(key, a);
      a.catch(() => analyzers.delete(key));
    }
    return a;
  };
  port.on('message', (msg: WorkerRequest) => {
    const reply = (r: WorkerReply): void => port.postMessage(r);
    const work = async (): Promise<ImageAnalysis | undefined> => {
      if (msg.type === 'load') {
        await get(msg.key, msg.options);
        return undefined;
      }
      if (msg.type === 'dispose') {
        const a = analyzers.get(msg.key);
        analyzers.delete(msg.key);
        if (a) await a.then((x) => x.dispose(), () => undefined);
        return undefined;
      }
      const analyzer = await get(msg.key, msg.options);
      return analyzer.analyze(msg.bytes, { cropped: msg.cropped, name: msg.name });
    };
    work().then(
      (result) => reply(result === undefined ? { id: msg.id, ok: true } : { id: msg.id, ok: true, result }),
      (err: unknown) => reply({ id: msg.id, ok: false, error: toWorkerError(err) }),
    );
  });
}
