/**
 * `ferkit analyze`: runs the Node analyzer over files, folders and globs; results to stdout or `--out`, progress,
 * per-file errors and the summary to stderr. Exit code 0 when every file was analysed, 1 when any failed, 2 for usage
 * errors, 130 when interrupted.
 */
import { existsSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Writable } from 'node:stream';
import { FerkitError } from '../core/errors.js';
import type { LabelSetId } from '../core/labels.js';
import type { ImageAnalysis } from '../core/types.js';
import { annotateImage } from '../node/annotate.js';
import { countInputs, expandInputs, type InputEntry } from '../node/inputs.js';
import {
  createResultWriter, failureItem, okItem, openAtomicFile, streamSink, writeJsonFileAtomic, type BatchItem, type TextSink,
} from '../node/output.js';
import { formatFromPath, type AnalyzeCliOptions } from './options.js';
import { orderedPool } from './pool.js';
import { reportFatal } from './fatal.js';
import { createProgress } from './progress.js';
import { formatSummary, SummaryBuilder } from './summary.js';

/** Options passed to the analyzer factory (the `ferkit/node` `AnalyzerOptions` contract). */
export interface CliAnalyzerOptions {
  detector?: { model?: 'auto' | 'front' | 'back'; minScore?: number; minFacePx?: number };
  /** A bundled model id or a path to an `.onnx` file with its `.card.json` beside it. */
  classifier?: { model?: string };
  labels?: LabelSetId;
  maxPixels?: number;
  /** Skip loading the face detector (every call is `cropped: true`). */
  cropsOnly?: boolean;
}

/** The part of `ferkit/node`'s `Analyzer` the CLI uses. */
export interface CliAnalyzer {
  analyze(input: string, options?: { cropped?: boolean; name?: string }): Promise<ImageAnalysis>;
  dispose(): Promise<void>;
}

/** Creates an analyzer; the default is `createAnalyzer` from `ferkit/node`, loaded on first use. */
export type AnalyzerFactory = (options: CliAnalyzerOptions) => Promise<CliAnalyzer>;

/** Where the CLI reads and writes; tests pass their own. */
export interface CliIo {
  stdout: Writable;
  stderr: Writable;
  /** Whether stderr is a terminal (live progress bar) or not (plain progress lines). */
  stderrIsTTY: boolean;
  /** Folder that `--annotate` mirrors input paths from. */
  cwd: string;
}

/** Dependencies of {@link runAnalyze}. */
export interface AnalyzeDeps {
  io: CliIo;
  createAnalyzer: AnalyzerFactory;
  /** Install SIGINT/SIGTERM handlers (the real CLI: yes; tests: no). */
  handleSignals: boolean;
  /** Path of the photo analysed when no input is given; throws a usage error when it is not installed. */
  samplePhoto: () => string;
}

/** A bad command line: printed as one `error: …` line, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Error codes that end the whole run (configuration, models), not just one file. */
const FATAL_CODES = new Set(['E_OPTION', 'E_MODE', 'E_MODEL_CHECKSUM', 'E_MODEL_MISMATCH', 'E_MODEL_LOAD', 'E_INFERENCE']); // problems of the model or runtime, not of one file

/** The bundled sample photo of `@vladmandic/face-api` (a dev dependency), or a {@link UsageError}. */
export function bundledSamplePhoto(): string {
  let pkg: string;
  try {
    pkg = createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json');
  } catch {
    throw new UsageError('no input given, and the sample photo (@vladmandic/face-api, a dev dependency) is not installed; '
      + 'pass images, folders or globs, e.g. ferkit analyze photos/');
  }
  const photo = join(dirname(pkg), 'demo', 'sample1.jpg');
  if (!existsSync(photo)) throw new UsageError(`no input given, and the sample photo ${photo} is missing; pass images, folders or globs`);
  return photo;
}

/**
 * Where `--annotate DIR` writes the picture of `file`: its path relative to `cwd` mirrored under `dir`
 * (each `..` becomes `_up_`); .jpg/.jpeg/.png keep their name, other formats get `.jpg` appended (`x.webp` → `x.webp.jpg`).
 */
export function annotationPath(dir: string, file: string, cwd: string, flat = false): string {
  let rel = flat ? basename(file) : relative(cwd, resolve(cwd, file));
  if (isAbsolute(rel)) rel = rel.slice(rel.indexOf(sep) + 1);
  // '..' becomes '_up_' so the path stays inside DIR and photos/a.jpg and ../photos/a.jpg stay distinct
  rel = rel.split(sep).filter((part) => part !== '').map((part) => (part === '..' ? '_up_' : part)).join(sep);
  const ext = extname(rel).toLowerCase();
  return join(dir, ext === '.jpg' || ext === '.jpeg' || ext === '.png' ? rel : `${rel}.jpg`);
}

type Outcome = { item: BatchItem; warning?: string } | { fatal: unknown };

/**
 * Runs `ferkit analyze` with parsed options.
 * @returns the exit code: 0 all files analysed, 1 some failed (or a fatal error), 2 usage error, 130 interrupted.
 */
export async function runAnalyze(inputsIn: readonly string[], opts: AnalyzeCliOptions, deps: AnalyzeDeps): Promise<number> {
  const { io } = deps;
  const say = (line: string): void => void io.stderr.write(`${line}\n`);
  let inputs = [...inputsIn];
  let usingSample = false;
  let sink: TextSink | undefined;
  let analyzer: CliAnalyzer | undefined;
  const cleanups: (() => void)[] = [];
  try {
    if (inputs.length === 0) {
      const photo = deps.samplePhoto();
      inputs = [photo];
      usingSample = true;
      if (!opts.quiet) say(`ferkit: no input given; analysing the bundled sample photo ${relative(io.cwd, photo) || photo}`);
    }
    const format = opts.format ?? (opts.out ? formatFromPath(opts.out) : undefined) ?? 'json';
    if (opts.summary && (await stat(opts.summary).catch(() => null))?.isDirectory()) {
      throw new UsageError(`option '--summary <file>': ${opts.summary} is a folder, expected a file name`);
    }
    if (opts.annotate) {
      await mkdir(opts.annotate, { recursive: true }).catch((err: Error) => {
        throw new UsageError(`option '--annotate <dir>': cannot create ${opts.annotate}: ${err.message}`);
      });
    }
    sink = opts.out ? await openAtomicFile(opts.out) : streamSink(io.stdout);

    // Only options the user gave are passed on, so the analyzer's own defaults apply to the rest.
    const detector: NonNullable<CliAnalyzerOptions['detector']> = { model: opts.detector };
    if (opts.minScore !== undefined) detector.minScore = opts.minScore;
    if (opts.minFace !== undefined) detector.minFacePx = opts.minFace;
    analyzer = await deps.createAnalyzer({
      detector,
      ...(opts.model !== undefined ? { classifier: { model: opts.model } } : {}),
      labels: opts.labels,
      ...(opts.maxPixels !== undefined ? { maxPixels: opts.maxPixels } : {}),
      cropsOnly: opts.cropped,
    });

    let stopRequested = false;
    let outputError: Error | undefined;
    if (!opts.out) {
      const onError = (err: Error): void => { outputError = err; stopRequested = true; };
      io.stdout.on('error', onError);
      cleanups.push(() => io.stdout.off('error', onError));
    }
    const progress = createProgress({ stream: io.stderr, isTTY: io.stderrIsTTY, quiet: opts.quiet });
    cleanups.push(() => progress.stop());
    if (deps.handleSignals) {
      const onSignal = (): void => {
        if (stopRequested) process.exit(130); // second Ctrl-C: the atomic file's exit hook removes its temp file
        stopRequested = true;
        progress.log('ferkit: interrupted; finishing the images in progress (Ctrl-C again to quit now)');
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      cleanups.push(() => { process.off('SIGINT', onSignal); process.off('SIGTERM', onSignal); });
    }
    if (!opts.quiet) countInputs(inputs).then((n) => progress.setTotal(n), () => undefined);

    const writer = createResultWriter(format, sink, { labels: opts.labels });
    const summary = new SummaryBuilder(opts.labels);
    const started = performance.now();
    let done = 0;
    let failed = 0;
    let annotateFailed = 0;
    const active = analyzer;

    const work = async (entry: InputEntry): Promise<Outcome> => {
      if (entry.error) return { item: failureItem(entry.path, entry.error) };
      try {
        const analysis = await active.analyze(entry.path, { cropped: opts.cropped, name: entry.path });
        if (opts.annotate) {
          const out = annotationPath(opts.annotate, entry.path, io.cwd, usingSample);
          try {
            await annotateImage(entry.path, analysis, out, { labels: opts.labels, maxPixels: opts.maxPixels });
          } catch (err) {
            // The analysis is kept; the missing picture is reported and makes the exit code 1.
            return { item: okItem(entry.path, analysis), warning: `could not write the annotated picture ${out}: ${(err as Error).message}` };
          }
        }
        return { item: okItem(entry.path, analysis) };
      } catch (err) {
        if (err instanceof FerkitError && !FATAL_CODES.has(err.code)) return { item: failureItem(entry.path, err) };
        return { fatal: err };
      }
    };
    const emit = async (outcome: Outcome): Promise<void> => {
      if ('fatal' in outcome) throw outcome.fatal;
      if (outputError) throw outputError;
      const { item, warning } = outcome;
      if (warning) {
        annotateFailed++;
        progress.log(`error ${item.file}: ${warning}`);
      }
      await writer.write(item);
      summary.add(item);
      done++;
      if (!item.ok) {
        failed++;
        progress.log(`error ${item.error.code} ${item.file}: ${item.error.message}`);
      }
      progress.update(done, failed);
    };
    await orderedPool(expandInputs(inputs), work, emit, { concurrency: opts.concurrency, shouldStop: () => stopRequested });

    if (outputError) throw outputError;
    if (stopRequested && opts.out) {
      await writer.abort();
      progress.stop();
      say(`ferkit: interrupted after ${done} files; ${opts.out} was not written`);
      return 130;
    }
    await writer.end();
    progress.stop();
    const result = summary.finish(performance.now() - started);
    if (!opts.quiet) say(formatSummary(result) + (opts.out ? `\n  output: ${opts.out} (${format})` : ''));
    if (opts.summary) {
      await writeJsonFileAtomic(opts.summary, { ...result, output: opts.out ?? null, format, inputs: usingSample ? inputs : inputsIn });
    }
    if (stopRequested) return 130;
    return failed > 0 || annotateFailed > 0 ? 1 : 0;
  } catch (err) {
    await sink?.abort();
    for (const c of cleanups.splice(0)) c();
    if (err instanceof UsageError) {
      say(`error: ${err.message}`);
      return 2;
    }
    return reportFatal(err, say);
  } finally {
    for (const c of cleanups) c();
    await analyzer?.dispose();
  }
}
