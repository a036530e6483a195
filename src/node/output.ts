/**
 * Result output for batches: atomic files (never a half-written file at the final path) and streaming writers
 * for JSON (an array written item by item), JSON Lines and CSV (one row per face).
 */
import { mkdir, open, rename, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import { stringify } from 'csv-stringify/sync';
import { FerkitError, type FerkitErrorCode } from '../core/errors.js';
import { LABEL_SETS, argmax, projectProbabilities, type LabelSetId } from '../core/labels.js';
import type { FaceAnalysis, ImageAnalysis } from '../core/types.js';

/** One item of a batch: the analysis of one file, or why that file failed. */
export type BatchItem = BatchOk | BatchFailure;
/** A file that was analysed: its path plus the {@link ImageAnalysis} fields (`source` is dropped: it is `file`). */
export type BatchOk = { file: string; ok: true } & Omit<ImageAnalysis, 'source'>;
/** A file that failed, with ferkit's stable error code and a one-line message (without the file name). */
export interface BatchFailure { file: string; ok: false; error: { code: FerkitErrorCode; message: string } }

/** Output formats of {@link createResultWriter}. */
export const OUTPUT_FORMATS = ['json', 'jsonl', 'csv'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Makes a {@link BatchOk} from an analysis. */
export function okItem(file: string, analysis: ImageAnalysis): BatchOk {
  const { source: _source, ...rest } = analysis;
  return { file, ok: true, ...rest };
}

/** Makes a {@link BatchFailure} from a FerkitError; the message loses its `file: ` prefix (the file is in `file`). */
export function failureItem(file: string, err: FerkitError): BatchFailure {
  const prefix = err.file ? `${err.file}: ` : '';
  const message = prefix && err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
  return { file, ok: false, error: { code: err.code, message } };
}

/** A face's label in a chosen label set: its probabilities over `LABEL_SETS[set].labels`, the argmax and its probability. */
export interface ChosenLabel { label: string; score: number; probabilities: Record<string, number> }

/**
 * The label to show for a face in label set `set`: `face.projected` when it is for that set, the 7-class fields for
 * `'7'`, otherwise the projection computed from `face.probabilities` (summing merged classes, renormalising after drops).
 */
export function chosenLabel(face: FaceAnalysis, set: LabelSetId): ChosenLabel {
  if (face.projected && face.projected.labelSet === set) {
    return { label: face.projected.label, score: face.projected.score, probabilities: face.projected.probabilities };
  }
  if (set === '7') return { label: face.label, score: face.labelScore, probabilities: { ...face.probabilities } };
  const probabilities = projectProbabilities(face.probabilities, set);
  return { ...argmax(probabilities), probabilities };
}

/** A place text goes to: committed at the end, or aborted (an atomic file then leaves nothing behind). */
export interface TextSink {
  /** Appends text (UTF-8). Resolves once it is buffered or written; rejects on a write error. */
  write(text: string): Promise<void>;
  /** Finishes the output: flushes, and for a file, syncs and renames the temp file onto the final path. */
  commit(): Promise<void>;
  /** Gives up: for a file, closes and removes the temp file. Safe to call twice or after commit (then a no-op). */
  abort(): Promise<void>;
}

/** Options of {@link openAtomicFile}. */
export interface AtomicFileOptions {
  /** Bytes buffered in memory before a write to disk; default 64 KiB. */
  bufferBytes?: number;
}

/**
 * Opens `FILE.tmp-<pid>` next to `path` for writing; {@link TextSink.commit} renames it onto `path`.
 * Until then `path` is untouched (an earlier file there stays intact). The temp file is removed on
 * {@link TextSink.abort} and, as a last resort, when the process exits without committing (an uncaught
 * exception, `process.exit`); callers handle signals (SIGINT) by calling `abort`.
 * Missing parent folders are created.
 * @throws {FerkitError} `E_OPTION` when `path` is a folder or its folder cannot be created or written,
 *   naming the path (checked here, before any work is done).
 */
export async function openAtomicFile(path: string, options: AtomicFileOptions = {}): Promise<TextSink> {
  const tmp = `${path}.tmp-${process.pid}`;
  const limit = options.bufferBytes ?? 64 * 1024;
  const existing = await stat(path).catch(() => null);
  if (existing?.isDirectory()) throw new FerkitError('E_OPTION', `output path is a folder, expected a file name`, path);
  let fh: FileHandle;
  try {
    await mkdir(dirname(path), { recursive: true });
    fh = await open(tmp, 'w');
  } catch (err) {
    throw new FerkitError('E_OPTION', `cannot write output: ${(err as Error).message}`, path, { cause: err });
  }
  let state: 'open' | 'committed' | 'aborted' = 'open';
  let pending: string[] = [];
  let pendingBytes = 0;
  const onExit = (): void => {
    if (state === 'open') {
      try { unlinkSync(tmp); } catch { /* already gone */ }
    }
  };
  process.on('exit', onExit);
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const text = pending.join('');
    pending = [];
    pendingBytes = 0;
    await fh.write(text);
  };
  return {
    async write(text) {
      if (state !== 'open') throw new Error(`write after ${state}: ${path}`);
      pending.push(text);
      pendingBytes += text.length;
      if (pendingBytes >= limit) await flush();
    },
    async commit() {
      if (state !== 'open') throw new Error(`commit after ${state}: ${path}`);
      try {
        await flush();
        await fh.sync();
        await fh.close();
        await rename(tmp, path);
        state = 'committed';
      } catch (err) {
        state = 'aborted';
        await fh.close().catch(() => undefined);
        await unlink(tmp).catch(() => undefined);
        throw err;
      } finally {
        process.off('exit', onExit);
      }
    },
    async abort() {
      if (state !== 'open') return;
      state = 'aborted';
      process.off('exit', onExit);
      await fh.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
    },
  };
}

/**
 * A sink over a stream such as `process.stdout`, honouring backpressure. `commit` waits until written data is
 * flushed; the stream itself is not closed. `abort` stops writing (what was written stays written).
 */
export function streamSink(stream: Writable): TextSink {
  let done = false;
  return {
    async write(text) {
      if (done) throw new Error('write after commit/abort');
      if (!stream.write(text)) {
        await new Promise<void>((resolve, reject) => {
          const cleanup = (): void => { stream.off('drain', onDrain); stream.off('error', onError); };
          const onDrain = (): void => { cleanup(); resolve(); };
          const onError = (err: Error): void => { cleanup(); reject(err); };
          stream.on('drain', onDrain);
          stream.on('error', onError);
        });
      }
    },
    async commit() {
      done = true;
      await new Promise<void>((resolve, reject) => stream.write('', (err) => (err ? reject(err) : resolve())));
    },
    async abort() {
      done = true;
    },
  };
}

/**
 * Writes bytes to `path` atomically: `FILE.tmp-<pid>` first, then a rename; the temp file is removed on failure.
 * Missing parent folders are created. (No exit hook: the write is one call, and many run at once.)
 * @throws the file system error (after removing the temp file).
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** Writes `value` as pretty JSON to `path` atomically (temp file + rename). */
export async function writeJsonFileAtomic(path: string, value: unknown): Promise<void> {
  const sink = await openAtomicFile(path);
  try {
    await sink.write(`${JSON.stringify(value, null, 2)}\n`);
    await sink.commit();
  } catch (err) {
    await sink.abort();
    throw err;
  }
}

/** Streams batch items to a sink in one format. */
export interface ResultWriter {
  /** Appends one item. Items are written in call order. */
  write(item: BatchItem): Promise<void>;
  /** Writes the closing text (`]` for JSON; the CSV header if nothing was written) and commits the sink. */
  end(): Promise<void>;
  /** Aborts the sink (an atomic file leaves nothing behind). */
  abort(): Promise<void>;
}

/** Options of {@link createResultWriter}. */
export interface ResultWriterOptions {
  /** Label set whose probabilities become CSV columns (`p_<label>`); default `'7'`. JSON/JSONL write items as they are. */
  labels?: LabelSetId;
}

/**
 * Creates a streaming writer:
 * - `json`: one JSON array, one item per line, written as items arrive (memory stays flat for 100k files);
 * - `jsonl`: one JSON object per line;
 * - `csv`: one row per face with columns `file, face, x, y, width, height, detection_score, label, label_score,
 *   valence, p_<label>…, error_code, error_message` (box in pixels; scores and probabilities at full precision;
 *   `face` counts from 0). An image without a face gives one row with empty face columns; a failed file gives one row
 *   with `error_code` and `error_message`.
 */
export function createResultWriter(format: OutputFormat, sink: TextSink, options: ResultWriterOptions = {}): ResultWriter {
  const set = options.labels ?? '7';
  let count = 0;
  const base = { abort: () => sink.abort() };
  switch (format) {
    case 'json':
      return {
        ...base,
        async write(item) {
          await sink.write(`${count++ === 0 ? '[\n' : ',\n'}${JSON.stringify(item)}`);
        },
        async end() {
          await sink.write(count === 0 ? '[]\n' : '\n]\n');
          await sink.commit();
        },
      };
    case 'jsonl':
      return {
        ...base,
        async write(item) {
          count++;
          await sink.write(`${JSON.stringify(item)}\n`);
        },
        async end() {
          await sink.commit();
        },
      };
    case 'csv': {
      const labels = LABEL_SETS[set].labels;
      const header = [
        'file', 'face', 'x', 'y', 'width', 'height', 'detection_score', 'label', 'label_score', 'valence',
        ...labels.map((l) => `p_${l}`), 'error_code', 'error_message',
      ];
      const empty = (n: number): string[] => new Array<string>(n).fill('');
      const rowsOf = (item: BatchItem): (string | number)[][] => {
        if (!item.ok) return [[item.file, ...empty(9 + labels.length), item.error.code, item.error.message]];
        if (item.faces.length === 0) return [[item.file, ...empty(11 + labels.length)]];
        return item.faces.map((face, i) => {
          const chosen = chosenLabel(face, set);
          return [
            item.file, i, face.box.x, face.box.y, face.box.width, face.box.height, face.score,
            chosen.label, chosen.score, face.valence, ...labels.map((l) => chosen.probabilities[l] ?? ''), '', '',
          ];
        });
      };
      return {
        ...base,
        async write(item) {
          const rows = rowsOf(item);
          await sink.write(stringify(count++ === 0 ? [header, ...rows] : rows));
        },
        async end() {
          if (count === 0) await sink.write(stringify([header]));
          await sink.commit();
        },
      };
    }
  }
}
