/**
 * The seam between ferkit and ONNX Runtime: the only core file that sees `onnxruntime-common` types.
 * Core code receives the ORT module as a parameter (`onnxruntime-node` in Node, `onnxruntime-web` in
 * the browser), so it stays isomorphic. Sessions serialise their runs: WASM sessions reject overlapping runs.
 */
import type { InferenceSession, Tensor } from 'onnxruntime-common';
import { FerkitError } from './errors.js';

/** The part of an ONNX Runtime module ferkit uses (`import * as ort from 'onnxruntime-node'` fits). */
export interface OrtModule {
  InferenceSession: { create(bytes: Uint8Array, options?: InferenceSession.SessionOptions): Promise<InferenceSession> };
  Tensor: typeof Tensor;
}

/** A float32 tensor: row-major `data` with `dims` (e.g. NCHW `[N, 1, 48, 48]`). */
export interface FloatTensor { data: Float32Array; dims: readonly number[] }

/** A loaded model. `run` calls are queued, never overlapped. */
export interface ModelSession {
  readonly id: string;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Runs the model. @throws {FerkitError} `E_INFERENCE` naming the model when the runtime fails. */
  run(inputs: Record<string, FloatTensor>): Promise<Record<string, FloatTensor>>;
  /** Releases the native session; later `run` calls reject. */
  release(): Promise<void>;
}

/** Session options ferkit passes through (threads, execution providers). */
export type SessionOptions = InferenceSession.SessionOptions;

/**
 * Creates a {@link ModelSession} from model bytes.
 * @param id - a name for messages (e.g. `ferkit-lite`).
 * @throws {FerkitError} `E_MODEL_LOAD` if the runtime rejects the bytes.
 */
export async function createSession(ort: OrtModule, id: string, bytes: Uint8Array, options?: SessionOptions): Promise<ModelSession> {
  let session: InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, options);
  } catch (cause) {
    throw new FerkitError('E_MODEL_LOAD', `model ${id}: ONNX Runtime could not load it: ${(cause as Error).message}`, undefined, { cause });
  }
  let queue: Promise<unknown> = Promise.resolve();
  let released = false;
  const run = async (inputs: Record<string, FloatTensor>): Promise<Record<string, FloatTensor>> => {
    if (released) throw new FerkitError('E_INFERENCE', `model ${id}: session was released`);
    const feeds: Record<string, Tensor> = {};
    for (const [name, t] of Object.entries(inputs)) feeds[name] = new ort.Tensor('float32', t.data, t.dims);
    let out: InferenceSession.ReturnType;
    try {
      out = await session.run(feeds);
    } catch (cause) {
      throw new FerkitError('E_INFERENCE', `model ${id}: inference failed: ${(cause as Error).message}`, undefined, { cause });
    }
    const result: Record<string, FloatTensor> = {};
    for (const [name, t] of Object.entries(out)) result[name] = { data: t.data as Float32Array, dims: t.dims };
    return result;
  };
  return {
    id,
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    run(inputs) {
      const p = queue.then(() => run(inputs));
      queue = p.catch(() => undefined);
      return p;
    },
    async release() {
      if (released) return;
      released = true;
      await queue;
      await session.release();
    },
  };
}
