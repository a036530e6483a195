/**
 * Labelled face datasets on disk, and evaluating a classifier on them.
 *
 * Layouts read:
 * - **Folders** (Kaggle FER2013 layout): `<root>/<class>/*.jpg`, class folders named like the FER2013 expressions
 *   (`angry/`, `happy/`, …), or any other names with a label mapping (`--map anger=angry,contempt=drop`, presets `ck+` and
 *   `jaffe`). A root holding split folders (`Training/`, `PublicTest/`, …) needs `split`. With the `jaffe` preset, a flat
 *   folder of JAFFE files (`KA.AN1.39.tiff`) takes each label from the code in the file name.
 * - **CSV** (the original `fer2013.csv`): columns `emotion,pixels[,Usage]`; `emotion` is the FER2013 class index 0–6,
 *   `pixels` the 2304 space-separated 0–255 values of a 48×48 grayscale image (any square count is accepted). The file is
 *   streamed row by row; `usage` picks the rows of one split.
 *
 * A bad image or row is an item with an error (the evaluation goes on); a bad layout or option is a
 * {@link FerkitError} `E_OPTION` thrown before any work.
 */
import { createReadStream } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { parse as parseSync } from 'csv-parse/sync';
import type { ExpressionClassifier } from '../core/classifier/expression.js';
import type { FaceDetector } from '../core/detector/index.js';
import { FerkitError, oneOf } from '../core/errors.js';
import { faceCropWindow, sampleGray, wholeImageWindow } from '../core/image.js';
import { EXPRESSIONS, LABEL_SETS, projectProbabilities, toExpressionRecord, type Expression, type LabelSetId } from '../core/labels.js';
import { softmaxWithTemperature } from '../core/calibration.js';
import {
  CalibrationAccumulator, EvaluationAccumulator, CALIBRATION_BINS, expectedCalibrationError, type CalibrationBin, type EvaluationMetrics,
} from '../core/metrics.js';
import type { RawImage } from '../core/types.js';
import { decodeImage, IMAGE_EXTENSIONS } from './decode.js';
import { countInputs, expandInputs } from './inputs.js';

/** Where a source label (folder name, JAFFE code, CSV class name) goes: an expression, or `null` = dropped. */
export type LabelMapping = Readonly<Record<string, Expression | null>>;

/** Built-in label mappings for datasets that do not use FER2013's names. Keys are matched case-insensitively. */
export const DATASET_PRESETS = {
  /** CK+ (Extended Cohn-Kanade), Kaggle "CK+48" folders; contempt has no FER2013 class and is dropped. */
  'ck+': {
    anger: 'angry', contempt: null, disgust: 'disgust', fear: 'fear', happy: 'happy', happiness: 'happy',
    sadness: 'sad', surprise: 'surprise', neutral: 'neutral',
  },
  /** JAFFE: the expression codes of its file names (`KA.AN1.39.tiff`), or folders named by code. */
  jaffe: { an: 'angry', di: 'disgust', fe: 'fear', ha: 'happy', ne: 'neutral', sa: 'sad', su: 'surprise' },
} as const satisfies Record<string, LabelMapping>;
export type DatasetPreset = keyof typeof DATASET_PRESETS;
export const DATASET_PRESET_IDS = Object.keys(DATASET_PRESETS) as DatasetPreset[];

/** Values of the FER2013 CSV `Usage` column, plus `all`. */
export const CSV_USAGES = ['Training', 'PublicTest', 'PrivateTest', 'all'] as const;
export type CsvUsage = (typeof CSV_USAGES)[number];

/** Folder names that mark a split rather than a class (compared case-insensitively). */
const SPLIT_NAMES = new Set(['training', 'train', 'publictest', 'privatetest', 'test', 'val', 'valid', 'validation']);

/** JAFFE file names: `<subject>.<code><n>.<id>.<ext>`, e.g. `KA.AN1.39.tiff`. */
const JAFFE_FILE = /^[A-Za-z]{2}\.([A-Za-z]{2})\d*\.\d+\.[A-Za-z]+$/;

/**
 * Parses a `--map` value: comma-separated `source=target` pairs, `target` an expression name or `drop`
 * (e.g. `anger=angry,sadness=sad,contempt=drop`). Keys are lower-cased.
 * @throws {FerkitError} `E_OPTION` naming the bad pair.
 */
export function parseLabelMap(text: string): Record<string, Expression | null> {
  const out: Record<string, Expression | null> = {};
  for (const part of text.split(',').map((p) => p.trim()).filter((p) => p.length > 0)) {
    const m = /^([^=]+)=([^=]+)$/.exec(part);
    if (!m) throw new FerkitError('E_OPTION', `--map: expected source=target pairs separated by commas, e.g. anger=angry,contempt=drop; got "${part}"`);
    const source = m[1]!.trim().toLowerCase();
    const target = m[2]!.trim().toLowerCase();
    if (target !== 'drop' && !(EXPRESSIONS as readonly string[]).includes(target)) {
      throw new FerkitError('E_OPTION', `--map ${part}: the target must be one of ${EXPRESSIONS.join(', ')} or drop, got "${m[2]!.trim()}"`);
    }
    out[source] = target === 'drop' ? null : (target as Expression);
  }
  if (Object.keys(out).length === 0) throw new FerkitError('E_OPTION', '--map: no source=target pairs given');
  return out;
}

/** Options of {@link openDataset}. */
export interface DatasetOptions {
  /** Split folder under a root that holds `Training/`, `PublicTest/`, … (folder datasets). */
  split?: string;
  /** Rows to keep by the `Usage` column (CSV datasets); `all` keeps every row. */
  usage?: CsvUsage;
  /** A built-in mapping of source labels. */
  preset?: DatasetPreset;
  /** Explicit mapping of source labels (applied over the preset). */
  map?: LabelMapping;
}

/** One labelled sample; its pixels are read by `load` only when it is scored. */
export interface DatasetSample {
  /** File path, or `<csv> line <n>` for a CSV row. */
  name: string;
  /** Label as the dataset spells it (folder name, JAFFE code, FER2013 class name for CSV rows). */
  sourceLabel: string;
  /** The FER2013 expression it maps to, or `null` when the mapping drops it. */
  label: Expression | null;
  /**
   * Reads the pixels.
   * @throws {FerkitError} the decode errors of {@link decodeImage} (`E_DECODE`, …), or `E_DECODE` for a bad CSV pixel field.
   */
  load(maxPixels?: number): Promise<RawImage>;
  error?: undefined;
}

/** An item that could not be read as a sample (an unreadable folder, a malformed CSV row). */
export interface DatasetFailure { name: string; error: FerkitError }

export type DatasetItem = DatasetSample | DatasetFailure;

/** An opened dataset. */
export interface Dataset {
  kind: 'folder' | 'csv';
  /** The path given. */
  path: string;
  /** The folder or file the samples come from (`<path>/<split>` when a split was chosen). */
  source: string;
  split: string | null;
  usage: CsvUsage | null;
  preset: DatasetPreset | null;
  /** Where each source label seen in the layout goes (for CSV: the 7 class names). */
  mapping: Record<string, Expression | null>;
  /** Keys of an explicit `map` that match no class folder (probably a typo). */
  unusedMapKeys: string[];
  /** Streams the samples in a stable order (folders sorted by name; CSV in file order). */
  samples(): AsyncGenerator<DatasetItem>;
  /** Counts the items {@link Dataset.samples} yields (for progress), reading the layout or the file once more. */
  count(): Promise<number>;
}

const usageError = (message: string, file?: string): FerkitError => new FerkitError('E_OPTION', message, file);

/** The effective mapping: FER2013 names, then the preset, then `map` (all keys lower case). */
function effectiveMapping(options: DatasetOptions): Record<string, Expression | null> {
  const m: Record<string, Expression | null> = Object.fromEntries(EXPRESSIONS.map((e) => [e, e]));
  if (options.preset) Object.assign(m, DATASET_PRESETS[options.preset]);
  if (options.map) for (const [k, v] of Object.entries(options.map)) m[k.toLowerCase()] = v;
  return m;
}

/**
 * Opens a dataset: a folder in the Kaggle layout (or mapped class folders), or a FER2013-style CSV file.
 * Checks the layout and options before anything is decoded.
 * @throws {FerkitError} `E_OPTION` with what was expected: a missing path; a split root without `split` (the message
 *   lists the splits) or a `split` that does not exist; class folders the mapping does not cover (listed, with a
 *   `--map` hint); a CSV without `emotion`/`pixels` columns; a CSV with a `Usage` column and no `usage`; `split` given
 *   for a CSV or `usage` for a folder.
 */
export async function openDataset(path: string, options: DatasetOptions = {}): Promise<Dataset> {
  if (options.preset !== undefined) oneOf('preset', options.preset, DATASET_PRESET_IDS);
  if (options.usage !== undefined) oneOf('usage', options.usage, CSV_USAGES);
  const st = await stat(path).catch(() => null);
  if (!st) throw usageError('no such file or folder; expected a dataset folder (<root>/<class>/*.jpg) or a fer2013.csv file', path);
  if (st.isDirectory()) {
    if (options.usage !== undefined) throw usageError('--usage is for fer2013.csv files; for a folder with Training/, PublicTest/… subfolders use --split', path);
    return openFolderDataset(path, options);
  }
  if (options.split !== undefined) throw usageError('--split is for dataset folders; for a fer2013.csv file use --usage PublicTest|PrivateTest|Training', path);
  return openCsvDataset(path, options);
}

async function listDir(path: string): Promise<{ dirs: string[]; images: string[] }> {
  let entries;
  try {
    entries = await readdir(path, { withFileTypes: true });
  } catch (err) {
    throw usageError(`cannot read the dataset folder: ${(err as Error).message}`, path);
  }
  const dirs: string[] = [];
  const images: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    let isDir = e.isDirectory();
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      const s = await stat(join(path, e.name)).catch(() => null);
      isDir = s?.isDirectory() ?? false;
      isFile = s?.isFile() ?? false;
    }
    if (isDir) dirs.push(e.name);
    else if (isFile && IMAGE_EXTENSIONS.has(e.name.slice(e.name.lastIndexOf('.')).toLowerCase())) images.push(e.name);
  }
  const byCodePoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  return { dirs: dirs.sort(byCodePoint), images: images.sort(byCodePoint) };
}

async function openFolderDataset(path: string, options: DatasetOptions): Promise<Dataset> {
  let root = path;
  let { dirs, images } = await listDir(root);
  const splits = dirs.filter((d) => SPLIT_NAMES.has(d.toLowerCase()));
  if (options.split !== undefined) {
    const match = dirs.find((d) => d === options.split) ?? dirs.find((d) => d.toLowerCase() === options.split!.toLowerCase());
    if (!match) {
      throw usageError(`--split ${options.split}: no such subfolder${dirs.length ? `; subfolders are ${dirs.join(', ')}` : ''}`, path);
    }
    root = join(path, match);
    ({ dirs, images } = await listDir(root));
  } else if (splits.length > 0) {
    throw usageError(`this folder holds splits (${splits.join(', ')}); choose one with --split, e.g. --split ${splits.find((s) => /test/i.test(s)) ?? splits[0]}`, path);
  }
  const mapping = effectiveMapping(options);
  const explicit = Object.keys(options.map ?? {}).map((k) => k.toLowerCase());
  const base = { kind: 'folder' as const, path, source: root, split: options.split ?? null, usage: null, preset: options.preset ?? null };

  if (dirs.length === 0) {
    // Flat JAFFE folder: the label is the code in each file name.
    if (options.preset === 'jaffe' && images.length > 0) {
      const seen = new Set<string>();
      for (const f of images) { const code = JAFFE_FILE.exec(f)?.[1]?.toLowerCase(); if (code !== undefined) seen.add(code); }
      const unknown = [...seen].filter((c) => !(c in mapping));
      if (unknown.length) throw usageError(`JAFFE codes ${unknown.join(', ')} have no mapping; add --map ${unknown[0]}=<expression|drop>`, root);
      const used = Object.fromEntries([...seen].sort().map((c) => [c, mapping[c]!]));
      return {
        ...base, mapping: used, unusedMapKeys: explicit.filter((k) => !seen.has(k)),
        samples: () => jaffeSamples(root, images, mapping),
        count: async () => images.length,
      };
    }
    throw usageError(images.length
      ? `expected class folders (<root>/<class>/*.jpg, e.g. angry/, happy/), found ${images.length} images and no subfolders`
        + '; for flat JAFFE files use --preset jaffe'
      : 'expected class folders (<root>/<class>/*.jpg, e.g. angry/, happy/), found none', root);
  }
  const unknown = dirs.filter((d) => !(d.toLowerCase() in mapping));
  if (unknown.length) {
    throw usageError(`class folders ${unknown.map((d) => `'${d}'`).join(', ')} are not FER2013 expressions (${EXPRESSIONS.join(', ')}); `
      + `map them with --map, e.g. --map ${unknown[0]!.toLowerCase()}=<expression|drop>${options.preset ? '' : ', or use --preset ck+ / jaffe'}`, root);
  }
  const used = Object.fromEntries(dirs.map((d) => [d, mapping[d.toLowerCase()]!]));
  const classDirs = dirs.map((d) => join(root, d));
  return {
    ...base, mapping: used, unusedMapKeys: explicit.filter((k) => !dirs.some((d) => d.toLowerCase() === k)),
    samples: () => folderSamples(classDirs, mapping),
    count: () => countInputs(classDirs),
  };
}

async function* folderSamples(classDirs: readonly string[], mapping: LabelMapping): AsyncGenerator<DatasetItem> {
  for (const dir of classDirs) {
    const sourceLabel = basename(dir);
    const label = mapping[sourceLabel.toLowerCase()] ?? null;
    for await (const entry of expandInputs([dir])) {
      if (entry.error) { yield { name: entry.path, error: entry.error }; continue; }
      const file = entry.path;
      yield { name: file, sourceLabel, label, load: (maxPixels) => decodeImage(file, { maxPixels, name: file }) };
    }
  }
}

async function* jaffeSamples(root: string, files: readonly string[], mapping: LabelMapping): AsyncGenerator<DatasetItem> {
  for (const f of files) {
    const file = join(root, f);
    const code = JAFFE_FILE.exec(f)?.[1];
    if (code === undefined) {
      yield { name: file, error: new FerkitError('E_INPUT_READ', 'file name has no JAFFE expression code (expected e.g. KA.AN1.39.tiff)', file) };
      continue;
    }
    yield { name: file, sourceLabel: code.toUpperCase(), label: mapping[code.toLowerCase()] ?? null, load: (maxPixels) => decodeImage(file, { maxPixels, name: file }) };
  }
}

/** Reads the first line of a text file (at most 64 KiB). */
async function firstLine(path: string): Promise<string> {
  const fh = await open(path, 'r').catch((err: Error) => { throw usageError(`cannot read: ${err.message}`, path); });
  try {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const text = buf.subarray(0, bytesRead).toString('utf8').replace(/^\uFEFF/, '');
    const nl = text.search(/\r?\n/);
    return nl < 0 ? text : text.slice(0, nl);
  } finally {
    await fh.close();
  }
}

interface CsvColumns { emotion: number; pixels: number; usage: number | null; count: number }

async function openCsvDataset(path: string, options: DatasetOptions): Promise<Dataset> {
  const header = await firstLine(path);
  let fields: string[] = [];
  try {
    fields = (parseSync(header) as string[][])[0] ?? [];
  } catch {
    // reported below as a missing header
  }
  const lower = fields.map((f) => f.trim().toLowerCase());
  const emotion = lower.indexOf('emotion');
  const pixels = lower.indexOf('pixels');
  if (emotion < 0 || pixels < 0) {
    throw usageError(`expected a CSV file with a header row naming the columns emotion,pixels[,Usage] (as fer2013.csv), got "${header.slice(0, 60)}${header.length > 60 ? '…' : ''}"`, path);
  }
  const usageCol = lower.indexOf('usage');
  const cols: CsvColumns = { emotion, pixels, usage: usageCol < 0 ? null : usageCol, count: fields.length };
  if (cols.usage !== null && options.usage === undefined) {
    throw usageError('this CSV mixes splits (its Usage column); choose one with --usage PublicTest|PrivateTest|Training (or --usage all)', path);
  }
  if (cols.usage === null && options.usage !== undefined && options.usage !== 'all') {
    throw usageError(`--usage ${options.usage}: this CSV has no Usage column (its columns are ${fields.join(', ')})`, path);
  }
  const usage = options.usage ?? null;
  const mapping = effectiveMapping(options);
  const explicit = Object.keys(options.map ?? {}).map((k) => k.toLowerCase());
  return {
    kind: 'csv', path, source: path, split: null, usage, preset: options.preset ?? null,
    mapping: Object.fromEntries(EXPRESSIONS.map((e) => [e, mapping[e]!])),
    unusedMapKeys: explicit.filter((k) => !(EXPRESSIONS as readonly string[]).includes(k)),
    samples: () => csvSamples(path, cols, usage, mapping),
    count: () => countCsvRows(path, cols, usage),
  };
}

/**
 * Parses a CSV `pixels` field (whole numbers 0–255 separated by whitespace) into a square 8-bit grayscale image.
 * @param name - sample name for error messages (`fer2013.csv line 12`).
 * @throws {FerkitError} `E_DECODE` naming the first bad value, or the count when it is not a square (48×48 = 2304).
 */
export function parsePixels(text: string, name: string): RawImage {
  const buf = new Uint8Array((text.length >> 1) + 1);
  let n = 0;
  let value = -1; // -1: between numbers
  let start = 0;
  const bad = (end: number): FerkitError => {
    let stop = end;
    while (stop < text.length && !/\s/.test(text[stop]!)) stop++;
    return new FerkitError('E_DECODE', `pixel ${n + 1} is "${text.slice(start, Math.min(stop, start + 12))}", expected a whole number from 0 to 255`, name);
  };
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 32;
    if (c >= 48 && c <= 57) {
      if (value < 0) { value = 0; start = i; }
      value = value * 10 + (c - 48);
      if (value > 255) throw bad(i);
    } else if (c === 32 || c === 9 || c === 10 || c === 13) {
      if (value >= 0) { buf[n++] = value; value = -1; }
    } else {
      if (value < 0) start = i;
      throw bad(i);
    }
  }
  const side = Math.round(Math.sqrt(n));
  if (n === 0 || side * side !== n) throw new FerkitError('E_DECODE', `pixels has ${n} values, expected 2304 (48x48) or another square count`, name);
  return { data: buf.slice(0, n), width: side, height: side, channels: 1 };
}

/** A line whose fields are bare (no quotes) or wholly quoted without inner quotes: the common case, split by a regex. */
const SIMPLE_CSV_LINE = /^(?:"[^"]*"|[^",]*)(?:,(?:"[^"]*"|[^",]*))*$/;
const SIMPLE_CSV_FIELD = /(?:^|,)(?:"([^"]*)"|([^",]*))/g;

/**
 * Splits one CSV line into fields (RFC 4180 quoting). Simple lines (fer2013.csv's) are split by a regular expression;
 * anything else (escaped `""` quotes, stray quotes) goes to csv-parse, 100× slower on a 9 kB row but exact.
 * @throws the csv-parse error for a malformed line.
 */
export function csvFields(line: string): string[] {
  if (!line.includes('"')) return line.split(',');
  if (SIMPLE_CSV_LINE.test(line)) return Array.from(line.matchAll(SIMPLE_CSV_FIELD), (m) => m[1] ?? m[2] ?? '');
  return (parseSync(line, { relax_column_count: true }) as string[][])[0] ?? [];
}

/**
 * Streams the rows of a FER2013-style CSV, one line at a time (a row is one line: fer2013.csv has no line breaks inside
 * fields). Reading line by line keeps a malformed row from spilling into the next one: each bad row becomes one
 * failure item naming its line number, and the next line is read as usual.
 */
async function* csvSamples(path: string, cols: CsvColumns, usage: CsvUsage | null, mapping: LabelMapping): AsyncGenerator<DatasetItem> {
  const want = usage === null || usage === 'all' ? null : usage.toLowerCase();
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  let lineNo = 0;
  for await (const line of lines) {
    lineNo++;
    if (lineNo === 1 || line.trim() === '') continue;
    const name = `${path} line ${lineNo}`;
    let record: string[];
    try {
      record = csvFields(line);
    } catch (err) {
      yield { name, error: new FerkitError('E_DECODE', `malformed CSV row: ${(err as Error).message.replace(/ at line \d+/, '')}`, name, { cause: err }) };
      continue;
    }
    if (record.length !== cols.count) {
      yield { name, error: new FerkitError('E_DECODE', `row has ${record.length} fields, expected ${cols.count} (emotion,pixels${cols.usage !== null ? ',Usage' : ''})`, name) };
      continue;
    }
    if (want !== null && record[cols.usage!]!.trim().toLowerCase() !== want) continue;
    const e = record[cols.emotion]!.trim();
    if (!/^[0-6]$/.test(e)) {
      yield { name, error: new FerkitError('E_DECODE', `emotion is "${e.slice(0, 12)}", expected a FER2013 class index 0–6 (${EXPRESSIONS.map((x, i) => `${i} ${x}`).join(', ')})`, name) };
      continue;
    }
    const sourceLabel = EXPRESSIONS[Number(e)]!;
    const pixels = record[cols.pixels]!;
    yield { name, sourceLabel, label: mapping[sourceLabel] ?? null, load: async () => parsePixels(pixels, name) };
  }
}

/** Counts data rows (all, or those whose last field is `usage`) by scanning lines, without parsing pixels. */
async function countCsvRows(path: string, cols: CsvColumns, usage: CsvUsage | null): Promise<number> {
  const want = usage === null || usage === 'all' || cols.usage === null ? null : usage.toLowerCase();
  let n = 0;
  let first = true;
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  for await (const line of lines) {
    if (first) { first = false; continue; }
    if (line.trim() === '') continue;
    if (want === null) { n++; continue; }
    const fields = line.split(',');
    if ((fields[cols.usage!] ?? fields[fields.length - 1] ?? '').trim().replace(/^"|"$/g, '').toLowerCase() === want) n++;
  }
  return n;
}

// ---------------------------------------------------------------------------------------------------------------
// Evaluation

/** A sample that was not scored because it could not be read, with ferkit's error code. */
export interface SkippedSample { name: string; code: FerkitError['code']; message: string }

/** Options of {@link evaluateDataset}. */
export interface EvaluateOptions {
  /** Label set both truth and predictions are projected to (default '7'). */
  labels?: LabelSetId;
  /** Run face detection and classify the largest face (default false: each image is one cropped face). */
  detect?: boolean;
  /** Images read and prepared at once (default 8). */
  concurrency?: number;
  /** Crops per classifier run (default 64). */
  batchSize?: number;
  /** Decompression-bomb guard for image files, in pixels (default: {@link decodeImage}'s 100 MP). */
  maxPixels?: number;
  /** Calibration bins (default 15). */
  bins?: number;
  /** Called after each item with running counts. */
  onProgress?: (done: number, skipped: number) => void;
  /** Called for each sample that could not be read (it is skipped and counted). */
  onSkip?: (sample: SkippedSample) => void;
  /** Polled before each new item; `true` stops taking items (the evaluation then covers the items taken so far). */
  shouldStop?: () => boolean;
}

/** Counts of one evaluation. */
export interface EvaluationCounts {
  /** Items the dataset yielded (every row of the chosen usage, every image file). */
  items: number;
  /** Samples scored (`metrics.n`): classified, plus `noFace` with `detect`. */
  scored: number;
  /** Samples whose face the detector missed (`detect` only); each counts as a wrong prediction. */
  noFace: number;
  /** Unreadable or corrupt images and malformed rows, not scored. */
  skipped: number;
  /** Samples dropped by the dataset's label mapping, by source label (e.g. `{ contempt: 18 }`). */
  droppedByMapping: Record<string, number>;
  /** Samples whose expression the label set drops (e.g. surprise for '5'), by expression. */
  excludedByLabelSet: Record<string, number>;
}

/** The result of {@link evaluateDataset}. */
export interface DatasetEvaluation {
  labelSet: LabelSetId;
  labels: readonly string[];
  metrics: EvaluationMetrics;
  counts: EvaluationCounts;
  /** Every skipped sample. */
  skipped: SkippedSample[];
  /** `interrupted`: `shouldStop` ended the run early. */
  complete: boolean;
  /**
   * Calibration of the raw softmax (temperature 1), beside `metrics.ece` of the calibrated probabilities, when the
   * classifier applies a temperature from its card; `null` when it does not (then the two are the same).
   */
  rawCalibration: { temperature: number; ece: number; calibration: CalibrationBin[] } | null;
  /** Wall time in ms, and scored images per second of wall time. */
  timing: { totalMs: number; imagesPerSecond: number };
}

const rawCalibrationOf = (temperature: number, calibration: CalibrationBin[]): DatasetEvaluation['rawCalibration'] =>
  ({ temperature, ece: expectedCalibrationError(calibration), calibration });

/** Error codes that end an evaluation (configuration, models, runtime) rather than skip one sample. */
const FATAL_CODES = new Set<string>(['E_OPTION', 'E_MODE', 'E_MODEL_CHECKSUM', 'E_MODEL_MISMATCH', 'E_MODEL_LOAD', 'E_INFERENCE']);

/**
 * Evaluates a classifier on a dataset. Images are read `concurrency` at a time, each becomes one classifier crop
 * (the whole image, as `analyze(…, { cropped: true })` does: `sampleGray(image, wholeImageWindow(image), size)`; or with
 * `detect`, the largest face's aligned crop as in `classifyFaces`), and crops are classified `batchSize` per run.
 * True labels and probabilities are both projected to `labels` (`projectProbabilities`); a sample whose true label
 * the label set drops is not decoded and is counted in `excludedByLabelSet`.
 * @param models - the classifier, and the detector when `detect` is set (an analyzer's `pipeline` fits).
 * @returns metrics over the scored samples, counts, skipped samples and timing.
 * @throws {FerkitError} `E_MODE` for `detect` without a detector; `E_INFERENCE` / model errors from the runtime.
 *   Unreadable samples are skipped and reported, never thrown.
 */
export async function evaluateDataset(
  models: { classifier: ExpressionClassifier; detector: FaceDetector | null },
  dataset: Pick<Dataset, 'samples'>,
  options: EvaluateOptions = {},
): Promise<DatasetEvaluation> {
  const labelSet = oneOf('labels', options.labels ?? '7', Object.keys(LABEL_SETS) as LabelSetId[]);
  const set = LABEL_SETS[labelSet];
  const labels = set.labels;
  const { classifier } = models;
  const detector = options.detect ? models.detector : null;
  if (options.detect && !detector) throw new FerkitError('E_MODE', 'detect: true needs a face detector (create the analyzer without cropsOnly)');
  const concurrency = options.concurrency ?? 8;
  const batchSize = options.batchSize ?? 64;
  const acc = new EvaluationAccumulator(labels, options.bins ?? CALIBRATION_BINS);
  const temperature = classifier.temperature ?? 1;
  const rawAcc = temperature !== 1 ? new CalibrationAccumulator(options.bins ?? CALIBRATION_BINS) : null;
  const project = (p: Float64Array): number[] => {
    const r = toExpressionRecord(p);
    const q = labelSet === '7' ? r : projectProbabilities(r, labelSet);
    return labels.map((l) => q[l as Expression] ?? 0);
  };
  const counts: EvaluationCounts = { items: 0, scored: 0, noFace: 0, skipped: 0, droppedByMapping: {}, excludedByLabelSet: {} };
  const skipped: SkippedSample[] = [];
  const size = classifier.inputSize;
  const started = performance.now();

  let pending: { t: number; crop: Float32Array }[] = [];
  let chain: Promise<void> = Promise.resolve();
  let stopped = false;
  let failure: unknown;
  const classify = (batch: { t: number; crop: Float32Array }[]): Promise<void> => {
    chain = chain.then(async () => {
      const rows = await classifier.logits(batch.map((b) => b.crop));
      rows.forEach((z, i) => {
        const t = batch[i]!.t;
        acc.add(t, project(softmaxWithTemperature(z, temperature)));
        if (rawAcc) {
          const q = project(softmaxWithTemperature(z, 1));
          let pred = 0;
          for (let j = 1; j < q.length; j++) if (q[j]! > q[pred]!) pred = j;
          rawAcc.add(Math.min(1, q[pred]!), pred === t);
        }
      });
    });
    return chain;
  };
  const skip = (name: string, err: FerkitError): void => {
    const prefix = err.file ? `${err.file}: ` : '';
    const s = { name, code: err.code, message: prefix && err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message };
    skipped.push(s);
    counts.skipped++;
    options.onSkip?.(s);
  };

  const handle = async (item: DatasetItem): Promise<void> => {
    counts.items++;
    if (item.error) { skip(item.name, item.error); return; }
    if (item.label === null) {
      counts.droppedByMapping[item.sourceLabel] = (counts.droppedByMapping[item.sourceLabel] ?? 0) + 1;
      return;
    }
    const mapped = set.map[item.label];
    if (mapped === null) {
      counts.excludedByLabelSet[item.label] = (counts.excludedByLabelSet[item.label] ?? 0) + 1;
      return;
    }
    const t = labels.indexOf(mapped);
    let image: RawImage;
    try {
      image = await item.load(options.maxPixels);
    } catch (err) {
      if (err instanceof FerkitError && !FATAL_CODES.has(err.code)) { skip(item.name, err); return; }
      throw err;
    }
    let crop: Float32Array;
    if (detector) {
      const faces = await detector.detect(image);
      const main = faces.reduce<(typeof faces)[number] | undefined>(
        (best, f) => (!best || f.box.width * f.box.height > best.box.width * best.box.height ? f : best), undefined);
      counts.scored++;
      if (!main) { counts.noFace++; acc.add(t, null); return; }
      crop = sampleGray(image, faceCropWindow(main), size);
    } else {
      counts.scored++;
      crop = sampleGray(image, wholeImageWindow(image), size);
    }
    pending.push({ t, crop });
    if (pending.length >= batchSize) {
      const batch = pending;
      pending = [];
      await classify(batch);
    }
  };

  const iterator = dataset.samples();
  const worker = async (): Promise<void> => {
    while (!stopped && failure === undefined) {
      if (options.shouldStop?.()) { stopped = true; return; }
      const next = await iterator.next();
      if (next.done) return;
      try {
        await handle(next.value);
      } catch (err) {
        failure ??= err;
        return;
      }
      options.onProgress?.(counts.items, counts.skipped);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  if (failure === undefined && pending.length) await classify(pending).catch((err: unknown) => { failure = err; });
  await chain.catch((err: unknown) => { failure ??= err; });
  if (failure !== undefined) {
    await iterator.return(undefined).catch(() => undefined);
    throw failure;
  }
  const totalMs = performance.now() - started;
  return {
    labelSet, labels, metrics: acc.result(), counts, skipped, complete: !stopped,
    rawCalibration: rawAcc ? rawCalibrationOf(temperature, rawAcc.result()) : null,
    timing: { totalMs, imagesPerSecond: totalMs > 0 ? counts.scored / (totalMs / 1000) : 0 },
  };
}
