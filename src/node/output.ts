/**
 * Result output for batches: atomic files (never a half-written file at the final path) and streaming writers
 * for JSON (an array written item by item), JSON Lines and CSV (one row per face).
 */
import { mkdir, open, readdir, rename, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { constants as fsConstants, unlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
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

/** Suffix of ferkit's temp files: `.<name>.ferkit-tmp-<pid>` beside the output `<name>`. */
const TEMP_RE = /^\.(.+)\.ferkit-tmp-(\d+)$/;

/**
 * The temp file an atomic write of `path` goes through: `.<name>.ferkit-tmp-<pid>` in the same folder (hidden, so
 * folder inputs never pick it up; recognisably ferkit's, so a later run can remove it if this process dies).
 */
export function tempPathFor(path: string, pid: number = process.pid): string {
  return join(dirname(path), `.${basename(path)}.ferkit-tmp-${pid}`);
}

/** `true` when a process with this id exists on this machine (signal 0 probes without sending anything; EPERM: it runs, as another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes ferkit temp files (`.<name>.ferkit-tmp-<pid>`) left in `dir` by processes that no longer run (a SIGKILL, a
 * power cut). Files of live processes (a concurrent run) are kept. Never throws.
 * @returns the paths removed.
 */
export async function cleanStaleTempFiles(dir: string): Promise<string[]> {
  const removed: string[] = [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = TEMP_RE.exec(name);
    if (!m) continue;
    const pid = Number(m[2]);
    if (pid === process.pid || processAlive(pid)) continue;
    const path = join(dir, name);
    const st = await stat(path).catch(() => null);
    if (!st?.isFile()) continue;
    if (await unlink(path).then(() => true, () => false)) removed.push(path);
  }
  return removed;
}

/** Pseudo file systems where Node's recursive `mkdir` can loop forever (e.g. `mkdir -p /proc/nope/x`). */
const PSEUDO_FS = ['/proc', '/sys'];

/**
 * Creates `dir` and its missing parents, one level at a time from the nearest existing ancestor (never Node's
 * recursive `mkdir`, which spins forever under `/proc`). Refuses folders under `/proc` and `/sys`.
 * @throws {FerkitError} `E_OUTPUT` naming `what` (e.g. the output path) with the reason: a parent is a file,
 *   permission denied, read-only file system, a pseudo file system.
 */
export async function ensureDir(dir: string, what: string = dir): Promise<void> {
  const abs = resolve(dir);
  if (PSEUDO_FS.some((p) => abs === p || abs.startsWith(`${p}/`))) {
    throw new FerkitError('E_OUTPUT', `cannot write output under ${abs.split('/').slice(0, 2).join('/')} (a pseudo file system)`, what);
  }
  const missing: string[] = [];
  let cur = abs;
  for (;;) {
    const st = await stat(cur).catch((err: NodeJS.ErrnoException) => err);
    if (!(st instanceof Error)) {
      if (!st.isDirectory()) throw new FerkitError('E_OUTPUT', `cannot create the folder: ${cur} is a file, not a folder`, what);
      break;
    }
    if (st.code !== 'ENOENT') throw new FerkitError('E_OUTPUT', `cannot create the folder: ${cur}: ${st.code ?? st.message}`, what, { cause: st });
    missing.push(cur);
    const up = dirname(cur);
    if (up === cur) break;
    cur = up;
  }
  for (const d of missing.reverse()) {
    try {
      await mkdir(d);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && (await stat(d).catch(() => null))?.isDirectory()) continue;
      throw new FerkitError('E_OUTPUT', `cannot create the folder ${d}: ${describeFsError(err)}`, what, { cause: err });
    }
  }
}

/** One line for a file system error: `permission denied (EACCES)`, `no space left on device (ENOSPC)`. */
export function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const words: Record<string, string> = {
    EACCES: 'permission denied', EPERM: 'operation not permitted', ENOSPC: 'no space left on device', EROFS: 'read-only file system',
    EDQUOT: 'disk quota exceeded', ENOTDIR: 'a parent is a file, not a folder', EISDIR: 'is a folder', EEXIST: 'already exists',
    ENOENT: 'no such file or folder', EIO: 'input/output error', EXDEV: 'cross-device rename',
  };
  if (code && words[code]) return `${words[code]} (${code})`;
  return err instanceof Error ? err.message : String(err);
}

/**
 * Opens `.<name>.ferkit-tmp-<pid>` next to `path` for writing; {@link TextSink.commit} renames it onto `path`.
 * Until then `path` is untouched (an earlier file there stays intact). The temp file is removed on
 * {@link TextSink.abort} and, as a last resort, when the process exits without committing (an uncaught
 * exception, `process.exit`); callers handle signals (SIGINT) by calling `abort`. After a SIGKILL the temp file
 * stays; {@link cleanStaleTempFiles} removes it on the next run.
 * Missing parent folders are created ({@link ensureDir}).
 * @throws {FerkitError} `E_OUTPUT` when `path` is a folder or its folder cannot be created or written,
 *   naming the path (checked here, before any work is done); later write errors (disk full) reject `write`/`commit`
 *   with `E_OUTPUT`.
 */
export async function openAtomicFile(path: string, options: AtomicFileOptions = {}): Promise<TextSink> {
  const tmp = tempPathFor(path);
  const limit = options.bufferBytes ?? 64 * 1024;
  const existing = await stat(path).catch(() => null);
  if (existing?.isDirectory()) throw new FerkitError('E_OUTPUT', `output path is a folder, expected a file name`, path);
  let fh: FileHandle;
  await ensureDir(dirname(path), path);
  try {
    fh = await open(tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC | fsConstants.O_NOFOLLOW, 0o644);
  } catch (err) {
    throw new FerkitError('E_OUTPUT', `cannot write output: ${describeFsError(err)}`, path, { cause: err });
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
  const outputError = (err: unknown): FerkitError => (err instanceof FerkitError ? err
    : new FerkitError('E_OUTPUT', `cannot write output: ${describeFsError(err)}`, path, { cause: err }));
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const text = pending.join('');
    pending = [];
    pendingBytes = 0;
    try {
      await fh.write(text);
    } catch (err) {
      throw outputError(err);
    }
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
        throw outputError(err);
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
 * Writes bytes to `path` atomically: `.<name>.ferkit-tmp-<pid>` first, then a rename; the temp file is removed on
 * failure. Missing parent folders are created. (No exit hook: the write is one call, and many run at once.)
 * @throws {FerkitError} `E_OUTPUT` naming `path` (after removing the temp file).
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = tempPathFor(path);
  await ensureDir(dirname(path), path);
  try {
    await unlink(tmp).catch(() => undefined); // a leftover of a dead process with the same pid (or a planted link)
    await writeFile(tmp, bytes, { flag: 'wx' });
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw new FerkitError('E_OUTPUT', `cannot write output: ${describeFsError(err)}`, path, { cause: err });
  }
}

/** How an existing path relates to ferkit's outputs (see {@link outputOwner}). */
export type OutputOwner = 'absent' | 'empty' | 'ferkit' | 'foreign' | 'folder' | 'special';

/** Markers ferkit writes into its binary and SVG outputs (JPEG/PNG EXIF Software, MP4 comment, SVG comment). */
export const FERKIT_MARKER = 'ferkit';

/** Start-of-file signatures of ferkit's text outputs (results JSON/JSONL/CSV, summaries, video JSONL and tracks CSV). */
const TEXT_SIGNATURES: readonly RegExp[] = [
  /^\[\n?\]/, /^\[\n\{"file":/, /^\{"file":/, /^\{"frameIndex":/, /^file,face,x,y,/, /^track_id,frame,time_ms,/,
  /^\{\n {2}"files": /, /^\{\n {2}"file": /,
  /^# ferkit evaluation: /, /^\{\n {2}"dataset": \{\n {4}"path": /, // evaluate --report: report.md, metrics.json
];

/**
 * Whether `path` may be overwritten by a ferkit output without `--force`: `'absent'` (nothing there), `'empty'`
 * (a zero-byte regular file), `'ferkit'` (one of ferkit's own outputs: recognised by its first bytes for text
 * outputs, by the `ferkit` marker in the first 4 MiB for pictures, videos and charts); otherwise `'foreign'` (a
 * file ferkit did not write: never overwritten without `--force`), `'folder'` or `'special'` (FIFO, device: never).
 */
export async function outputOwner(path: string): Promise<OutputOwner> {
  const st = await stat(path).catch(() => null);
  if (!st) return 'absent';
  if (st.isDirectory()) return 'folder';
  if (!st.isFile()) return 'special';
  if (st.size === 0) return 'empty';
  let fh: FileHandle | undefined;
  try {
    fh = await open(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    const head = Buffer.alloc(Math.min(st.size, 4 * 1024 * 1024));
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    const text = head.subarray(0, Math.min(bytesRead, 4096)).toString('utf8');
    if (TEXT_SIGNATURES.some((re) => re.test(text))) return 'ferkit';
    const marks = ['ferkit annotate', 'ferkit video', 'ferkit chart', '<!-- ferkit report -->'];
    const body = head.subarray(0, bytesRead);
    return marks.some((m) => body.includes(m)) ? 'ferkit' : 'foreign';
  } catch {
    return 'foreign';
  } finally {
    await fh?.close().catch(() => undefined);
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

/** Default decimal places of numbers in CSV outputs (`--precision`). */
export const DEFAULT_CSV_PRECISION = 4;

/** First characters that make a spreadsheet read a cell as a formula (OWASP CSV injection), plus `'` for reversibility. */
const FORMULA_START = /^[=+\-@\t\r']/;

/**
 * Makes a text cell safe for spreadsheets (OWASP "CSV injection"): a cell starting with `=`, `+`, `-`, `@`, a tab
 * or a carriage return gets a leading `'`, so Excel/LibreOffice/Sheets show it as text instead of running it as a
 * formula. A cell that already starts with `'` gets one too, so {@link unescapeCsvCell} restores every value exactly.
 * Numbers are never escaped (`-0.5` stays a number).
 */
export function escapeCsvCell(cell: string): string {
  return FORMULA_START.test(cell) ? `'${cell}` : cell;
}

/** The inverse of {@link escapeCsvCell}: drops the leading `'` it added. */
export function unescapeCsvCell(cell: string): string {
  return cell.startsWith("'") ? cell.slice(1) : cell;
}

/**
 * CSV text for `rows` as ferkit writes every CSV: text cells escaped with {@link escapeCsvCell}, numbers rounded to
 * `precision` decimal places (trailing zeros dropped: `0.1234`, `12`; `null` = full precision), RFC 4180 quoting.
 */
export function csvText(rows: readonly (readonly (string | number | null | undefined)[])[], precision: number | null = DEFAULT_CSV_PRECISION): string {
  const cell = (v: string | number | null | undefined): string | number => {
    if (v === null || v === undefined) return '';
    if (typeof v === 'number') return precision === null || !Number.isFinite(v) ? v : roundTo(v, precision);
    return escapeCsvCell(v);
  };
  return stringify(rows.map((r) => r.map(cell)));
}

/** `x` rounded to `digits` decimal places, as a number (`-0` becomes `0`). */
export function roundTo(x: number, digits: number): number {
  const r = Number(x.toFixed(digits));
  return r === 0 ? 0 : r;
}

/** Options of {@link createResultWriter}. */
export interface ResultWriterOptions {
  /** Label set whose probabilities become CSV columns (`p_<label>`); default `'7'`. JSON/JSONL write items as they are. */
  labels?: LabelSetId;
  /** CSV only: decimal places of numbers (default {@link DEFAULT_CSV_PRECISION}; `null`: full precision). */
  precision?: number | null;
}

/**
 * Creates a streaming writer:
 * - `json`: one JSON array, one item per line, written as items arrive (memory stays flat for 100k files);
 * - `jsonl`: one JSON object per line;
 * - `csv`: one row per face with columns `file, face, x, y, width, height, detection_score, label, label_score,
 *   valence, p_<label>…, error_code, error_message` (box in pixels; numbers rounded to `precision` decimal places;
 *   `face` counts from 1, as the numbers drawn on annotated pictures; text cells escaped against spreadsheet formula
 *   injection, see {@link escapeCsvCell}). An image without a face gives one row with empty face columns; a failed
 *   file gives one row with `error_code` and `error_message`.
 */
export function createResultWriter(format: OutputFormat, sink: TextSink, options: ResultWriterOptions = {}): ResultWriter {
  const set = options.labels ?? '7';
  const precision = options.precision === undefined ? DEFAULT_CSV_PRECISION : options.precision;
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
        'file', 'face', 'x', 'y', 'width', 'height', 'detection_score', 'label', 'label_score', 'valence', 'valence_score',
        'quality', 'quality_reasons', ...labels.map((l) => `p_${l}`), 'error_code', 'error_message',
      ];
      const empty = (n: number): string[] => new Array<string>(n).fill('');
      const rowsOf = (item: BatchItem): (string | number)[][] => {
        if (!item.ok) return [[item.file, ...empty(12 + labels.length), item.error.code, item.error.message]];
        if (item.faces.length === 0) return [[item.file, ...empty(14 + labels.length)]];
        return item.faces.map((face, i) => {
          const chosen = chosenLabel(face, set);
          return [
            item.file, i + 1, face.box.x, face.box.y, face.box.width, face.box.height, face.score,
            chosen.label, chosen.score, face.valence, face.valenceScore, face.quality.status, face.quality.reasons.join(' '),
            ...labels.map((l) => chosen.probabilities[l] ?? ''), '', '',
          ];
        });
      };
      return {
        ...base,
        async write(item) {
          const rows = rowsOf(item);
          await sink.write(csvText(count++ === 0 ? [header, ...rows] : rows, precision));
        },
        async end() {
          if (count === 0) await sink.write(csvText([header], precision));
          await sink.commit();
        },
      };
    }
  }
}
