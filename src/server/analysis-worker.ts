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

/**
 * Runs decode, detection and classification (of a face-shaped detection, rolled a little) on a blank JPEG, so that the
 * first real request of each thread does not pay for sharp's and ONNX Runtime's first-run set-up and V8's compilation
 * of the pixel code: without it, the first face crop alone took ~240 ms (interpreted) against ~3 ms afterwards.
 */
async function warm(analyzer: Analyzer): Promise<void> {
  try {
    const [{ default: sharp }, { classifyFaces }, { decodeImage }] = await Promise.all([
      import('sharp'), import('../core/analyzer.js'), import('../node/decode.js'),
    ]);
    const jpeg = await sharp({ create: { width: 640, height: 480, channels: 3, background: '#808080' } }).jpeg().toBuffer();
    const bytes = new Uint8Array(jpeg.buffer, jpeg.byteOffset, jpeg.length);
    if (analyzer.pipeline.detector) await analyzer.analyze(bytes);
    await analyzer.analyze(bytes, { cropped: true });
    const image = await decodeImage(bytes);
    const p = (x: number, y: number): { x: number; y: number } => ({ x, y });
    const face = {
      box: { x: 220, y: 140, width: 200, height: 200 }, score: 0.9,
      keypoints: { rightEye: p(280, 200), leftEye: p(360, 208), nose: p(320, 240), mouth: p(320, 290), rightEar: p(230, 215), leftEar: p(410, 228) },
    };
    for (let i = 0; i < 3; i++) await classifyFaces(analyzer.pipeline.classifier, image, [face]);
  } catch {
    // a warm-up failure is not a load failure; the first real request reports its own error
  }
}

if (parentPort) {
  const port = parentPort;
  const analyzers = new Map<string, Promise<Analyzer>>();
  const get = (key: string, options: AnalyzerOptions): Promise<Analyzer> => {
    let a = analyzers.get(key);
    if (!a) {
      a = import('../node/index.js').then(async ({ createAnalyzer }) => {
        const analyzer = await createAnalyzer(options);
        await warm(analyzer);
        return analyzer;
      });
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
