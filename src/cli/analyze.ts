/**
 * `ferkit analyze`: runs the Node analyzer over files, folders and globs; results to stdout or `--out`, progress,
 * per-file errors and the summary to stderr. Exit codes (docs/cli-safety.md): 0 every file analysed and every output
 * written, 1 some inputs failed, 2 usage error, 3 an output failed or was lost, 130 interrupted.
 */
import { realpath } from 'node:fs/promises';
import { basename, dirname, extname, join, relative, resolve, sep } from 'node:path';
import type { Writable } from 'node:stream';
import { FerkitError } from '../core/errors.js';
import type { LabelSetId } from '../core/labels.js';
import type { ExpressionClassifier } from '../core/classifier/expression.js';
import type { QualityThresholds } from '../core/quality.js';
import type { ImageAnalysis } from '../core/types.js';
import { annotateImage } from '../node/annotate.js';
import { explainImage, explanationPath } from '../node/explain.js';
import { DEFAULT_MAX_PIXELS, PixelBudget } from '../node/decode.js';
import { countInputs, expandInputs, type InputEntry } from '../node/inputs.js';
import {
  createResultWriter, describeFsError, failureItem, okItem, openAtomicFile, outputOwner, streamSink, writeJsonFileAtomic,
  type BatchItem, type TextSink,
} from '../node/output.js';
import { checkModelOption } from './models.js';
import { formatFromPath, type AnalyzeCliOptions } from './options.js';
import { orderedPool } from './pool.js';
import { reportFatal } from './fatal.js';
import { inputFacts, planOutputs, type OutputPlan, type OutputSpec } from './outputs.js';
import { createProgress } from './progress.js';
import { formatSummary, SummaryBuilder } from './summary.js';
import { EXIT, UsageError } from './usage.js';

export { UsageError } from './usage.js';

/** Options passed to the analyzer factory (the `ferkit/node` `AnalyzerOptions` contract). */
export interface CliAnalyzerOptions {
  detector?: { model?: 'auto' | 'front' | 'back'; minScore?: number; minFacePx?: number };
  /** A bundled model id or a path to an `.onnx` file with its `.card.json` beside it. */
  classifier?: { model?: string };
  labels?: LabelSetId;
  maxPixels?: number;
  /** Size cap of input files in bytes. */
  maxBytes?: number;
  /** Decoded pixels in flight across workers, shared with annotation. */
  pixelBudget?: PixelBudget;
  /** Skip loading the face detector (every call is `cropped: true`). */
  cropsOnly?: boolean;
  /** Overrides of the quality gate's thresholds. */
  quality?: Partial<QualityThresholds>;
}

/** The part of `ferkit/node`'s `Analyzer` the CLI uses. */
export interface CliAnalyzer {
  analyze(input: string, options?: { cropped?: boolean; name?: string }): Promise<ImageAnalysis>;
  /** The loaded classifier, for `--explain` (the real analyzer has it; a fake without it cannot explain). */
  readonly pipeline?: { readonly classifier: ExpressionClassifier };
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
  /** Whether stdout is a terminal: then a result line is ended before an error line is printed. Default false. */
  stdoutIsTTY?: boolean;
  /** Working folder relative paths are resolved against. */
  cwd: string;
}

/** Dependencies of {@link runAnalyze}. */
export interface AnalyzeDeps {
  io: CliIo;
  createAnalyzer: AnalyzerFactory;
  /** Install SIGINT/SIGTERM handlers (the real CLI: yes; tests: no). */
  handleSignals: boolean;
}

/** Error codes that end the whole run (configuration, models), not just one file. */
const FATAL_CODES = new Set(['E_OPTION', 'E_MODE', 'E_MODEL_CHECKSUM', 'E_MODEL_MISMATCH', 'E_MODEL_LOAD', 'E_INFERENCE']);

/** What `ferkit analyze` with no input prints (to stderr, exit 2). */
export const NO_INPUT_USAGE = `usage: ferkit analyze [options] <images, folders or globs...>
example: ferkit analyze photo.jpg --annotate out/    # JSON on stdout, the annotated picture in out/photo.jpg
(ferkit analyze --help lists every option)`;

/**
 * Names annotated pictures under `--annotate DIR`: each input's path relative to `base` (the common folder of the
 * inputs) is mirrored under DIR. `.jpg`/`.jpeg`/`.png` keep their name, other formats keep theirs plus `.jpg`
 * (`x.webp` → `x.webp.jpg`). Names are unique within a run (compared case-insensitively): a clash gets `-2`, `-3`…
 * before the extension (`x.webp.jpg` and `x.webp` → `x.webp.jpg` and `x.webp-2.jpg`).
 */
export class AnnotationNamer {
  private readonly used = new Set<string>();
  constructor(readonly dir: string, readonly base: string, readonly cwd: string) {}

  /** The picture path for input `file` (relative paths resolve against `cwd`). */
  name(file: string): string {
    const wanted = annotationPath(this.dir, file, this.base, this.cwd);
    const ext = extname(wanted);
    const stem = wanted.slice(0, wanted.length - ext.length);
    let candidate = wanted;
    for (let n = 2; this.used.has(candidate.toLowerCase()); n++) candidate = `${stem}-${n}${ext}`;
    this.used.add(candidate.toLowerCase());
    return candidate;
  }
}

/**
 * Where `--annotate DIR` puts the picture of `file` (before clash suffixes): its path relative to `base` under `dir`.
 * A file outside `base` (cannot happen for inputs, whose base contains them) keeps its name only.
 */
export function annotationPath(dir: string, file: string, base: string, cwd: string): string {
  let rel = relative(base, resolve(cwd, file));
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || resolve(rel) === rel) rel = file.split(/[\\/]/).pop() ?? 'image';
  const ext = extname(rel).toLowerCase();
  return join(dir, ext === '.jpg' || ext === '.jpeg' || ext === '.png' ? rel : `${rel}.jpg`);
}

type Outcome = { item: BatchItem; picture?: string; outputError?: string } | { fatal: unknown };

/**
 * Runs `ferkit analyze` with parsed options.
 * @returns the exit code (see {@link EXIT}).
 */
export async function runAnalyze(inputs: readonly string[], opts: AnalyzeCliOptions, deps: AnalyzeDeps): Promise<number> {
  const { io } = deps;
  let stdoutOpenLine = false;
  const endStdoutLine = (): void => {
    if (io.stdoutIsTTY && stdoutOpenLine) { io.stdout.write('\n'); stdoutOpenLine = false; }
  };
  const say = (line: string): void => { endStdoutLine(); io.stderr.write(`${line}\n`); };
  if (inputs.length === 0) {
    io.stderr.write(`${NO_INPUT_USAGE}\n`);
    return EXIT.USAGE;
  }
  let sink: TextSink | undefined;
  let analyzer: CliAnalyzer | undefined;
  let plan: OutputPlan | undefined;
  const cleanups: (() => void)[] = [];
  let stopRequested = false;
  let interrupted = false;
  let notice = say; // the progress display's log once it exists
  try {
    // Signals are handled from the start: a SIGTERM while the models load must still remove the --out temp file
    // and the locks (the default action would kill the process without running any exit hook).
    if (deps.handleSignals) {
      const onSignal = (): void => {
        if (interrupted) process.exit(EXIT.INTERRUPTED); // second Ctrl-C: the atomic file's exit hook removes its temp file
        interrupted = true;
        stopRequested = true;
        notice('ferkit: interrupted; finishing the images in progress (Ctrl-C again to quit now)');
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      cleanups.push(() => { process.off('SIGINT', onSignal); process.off('SIGTERM', onSignal); });
    }
    const format = opts.format ?? (opts.out ? formatFromPath(opts.out) : undefined) ?? 'json';
    if (opts.model !== undefined) checkModelOption(opts.model);
    const facts = await inputFacts(inputs, io.cwd);
    const specs: OutputSpec[] = [];
    if (opts.out) specs.push({ option: '--out', path: opts.out, kind: 'file' });
    if (opts.summary) specs.push({ option: '--summary', path: opts.summary, kind: 'file' });
    if (opts.annotate) specs.push({ option: '--annotate', path: opts.annotate, kind: 'folder' });
    if (opts.explain) specs.push({ option: '--explain', path: opts.explain, kind: 'folder' });
    plan = await planOutputs(specs, facts, { cwd: io.cwd, force: opts.force });
    const real = (option: string): string => plan!.outputs.find((o) => o.option === option)!.real;
    sink = opts.out ? await openAtomicFile(real('--out')) : streamSink(io.stdout);

    const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
    const budget = new PixelBudget(opts.pixelBudget ?? Math.max(maxPixels, DEFAULT_MAX_PIXELS));
    // Only options the user gave are passed on, so the analyzer's own defaults apply to the rest.
    const detector: NonNullable<CliAnalyzerOptions['detector']> = { model: opts.detector };
    if (opts.minScore !== undefined) detector.minScore = opts.minScore;
    if (opts.minFace !== undefined) detector.minFacePx = opts.minFace;
    analyzer = await deps.createAnalyzer({
      detector,
      ...(opts.model !== undefined ? { classifier: { model: opts.model } } : {}),
      labels: opts.labels,
      ...(opts.maxPixels !== undefined ? { maxPixels: opts.maxPixels } : {}),
      ...(opts.maxBytes !== undefined ? { maxBytes: opts.maxBytes } : {}),
      pixelBudget: budget,
      cropsOnly: opts.cropped,
      ...(opts.quality !== undefined ? { quality: opts.quality } : {}),
    });

    /** stdout closed under us (EPIPE): results to stdout are lost from here on. */
    let stdoutLost: Error | undefined;
    const fileOutputs = Boolean(opts.summary || opts.annotate || opts.explain);
    if (!opts.out) {
      const onError = (err: Error): void => {
        stdoutLost ??= err;
        // With file outputs the run goes on for them; with only stdout there is nothing left to do.
        if (!fileOutputs) stopRequested = true;
      };
      io.stdout.on('error', onError);
      cleanups.push(() => io.stdout.off('error', onError));
    }
    const progress = createProgress({ stream: io.stderr, isTTY: io.stderrIsTTY, quiet: opts.quiet, beforeLog: endStdoutLine });
    cleanups.push(() => progress.stop());
    notice = (line) => progress.log(line);
    const expandOptions = { exclude: plan.exclude };
    if (!opts.quiet) countInputs(inputs, expandOptions).then((n) => progress.setTotal(n), () => undefined);

    // Results to stdout: once stdout is gone, further results are dropped (and the run reports the loss).
    const resultSink: TextSink = opts.out ? sink : {
      write: async (text) => {
        if (stdoutLost) return;
        try {
          await sink!.write(text);
          stdoutOpenLine = !text.endsWith('\n');
        } catch (err) {
          stdoutLost ??= err as Error;
          if (!fileOutputs) stopRequested = true;
        }
      },
      commit: async () => { if (!stdoutLost) await sink!.commit().catch((err: Error) => { stdoutLost ??= err; }); },
      abort: () => sink!.abort(),
    };
    const writer = createResultWriter(format, resultSink, { labels: opts.labels, precision: opts.precision });
    const summary = new SummaryBuilder(opts.labels);
    const started = performance.now();
    let done = 0;
    let failed = 0;
    let outputFailed = 0;
    let skipped = 0;
    const active = analyzer;
    const namer = opts.annotate ? new AnnotationNamer(real('--annotate'), facts.base, io.cwd) : undefined;
    const explainNamer = opts.explain ? new AnnotationNamer(real('--explain'), facts.base, io.cwd) : undefined;
    const classifier = active.pipeline?.classifier;
    if (opts.explain && !classifier) throw new UsageError('--explain needs the analyzer\'s classifier, which this analyzer does not expose');

    /** One occlusion heatmap per face (docs/explanations.md); `undefined` when all were written, else the problem. */
    const writeExplanations = async (file: string, analysis: ImageAnalysis, picture: string): Promise<string | undefined> => {
      const dir = dirname(picture);
      const stem = basename(picture, extname(picture));
      try {
        await explainImage(classifier!, file, analysis, (i) => explanationPath(dir, stem, i), {
          cropped: opts.cropped, force: opts.force, maxPixels: opts.maxPixels, budget, ...(opts.maxBytes !== undefined ? { maxBytes: opts.maxBytes } : {}),
        });
      } catch (err) {
        return `could not write the explanations of ${file} into ${dir}: ${err instanceof FerkitError ? err.message : describeFsError(err)}`;
      }
      return undefined;
    };

    const writePicture = async (file: string, analysis: ImageAnalysis, out: string): Promise<string | undefined> => {
      const [inputReal, owner] = await Promise.all([realpath(resolve(io.cwd, file)).catch(() => null), outputOwner(out)]);
      const outReal = owner === 'absent' ? out : await realpath(out).catch(() => out);
      if (inputReal !== null && outReal === inputReal) return `${out} is the input itself; not overwritten`;
      if (owner === 'folder' || owner === 'special') return `${out} exists and is not a regular file; not overwritten`;
      if (owner === 'foreign' && !opts.force) return `${out} exists and was not written by ferkit; not overwritten (pass --force to replace it)`;
      try {
        await annotateImage(file, analysis, out, {
          labels: opts.labels, maxPixels: opts.maxPixels, budget, ...(opts.maxBytes !== undefined ? { maxBytes: opts.maxBytes } : {}),
        });
      } catch (err) {
        return `could not write the annotated picture ${out}: ${err instanceof FerkitError ? err.message : describeFsError(err)}`;
      }
      return undefined;
    };

    const work = async (entry: InputEntry): Promise<Outcome | null> => {
      if (entry.skipped !== undefined) return null;
      if (entry.error) return { item: failureItem(entry.path, entry.error) };
      const picture = namer?.name(entry.path); // named in input order, before any await
      const explained = explainNamer?.name(entry.path);
      try {
        const analysed = await active.analyze(entry.path, { cropped: opts.cropped, name: entry.path });
        // --min-quality ok: uncertain faces leave every output (JSON, CSV, pictures, summary); the summary counts them
        const kept = opts.minQuality === 'ok' ? analysed.faces.filter((f) => f.quality?.status !== 'uncertain') : analysed.faces;
        if (kept.length !== analysed.faces.length) summary.dropUncertain(entry.path, analysed.faces.length - kept.length);
        const analysis = kept === analysed.faces ? analysed : { ...analysed, faces: kept };
        const explainProblem = explained ? await writeExplanations(entry.path, analysis, explained) : undefined;
        if (picture) {
          const problem = [explainProblem, await writePicture(entry.path, analysis, picture)].filter(Boolean).join('; ');
          // The analysis is kept; a missing picture is reported and makes the exit code 3.
          if (problem) return { item: okItem(entry.path, analysis), outputError: problem };
          return { item: okItem(entry.path, analysis), picture };
        }
        return explainProblem ? { item: okItem(entry.path, analysis), outputError: explainProblem } : { item: okItem(entry.path, analysis) };
      } catch (err) {
        if (err instanceof FerkitError && !FATAL_CODES.has(err.code)) return { item: failureItem(entry.path, err) };
        return { fatal: err };
      }
    };
    const emit = async (outcome: Outcome | null, entry: InputEntry): Promise<void> => {
      if (outcome === null) {
        skipped++;
        summary.skip(entry.path, entry.skipped ?? '');
        progress.log(`skipped ${entry.path}: ${entry.skipped}`);
        return;
      }
      if ('fatal' in outcome) throw outcome.fatal;
      const { item, outputError, picture } = outcome;
      if (outputError) {
        outputFailed++;
        summary.outputFailure(item.file, outputError);
        progress.log(`error E_OUTPUT ${item.file}: ${outputError}`);
      }
      if (picture) summary.picture(item.file, relative(io.cwd, picture) || picture);
      await writer.write(item);
      summary.add(item);
      done++;
      if (!item.ok) {
        failed++;
        progress.log(`error ${item.error.code} ${item.file}: ${item.error.message}`);
      }
      progress.update(done, failed);
    };
    await orderedPool(expandInputs(inputs, expandOptions), work, emit, { concurrency: opts.concurrency, shouldStop: () => stopRequested });

    if (interrupted && opts.out) {
      await writer.abort();
      progress.stop();
      say(`ferkit: interrupted after ${done} files; ${opts.out} was not written (an earlier file there is untouched)`);
      return EXIT.INTERRUPTED;
    }
    await writer.end();
    progress.stop();
    const result = summary.finish(performance.now() - started);
    const completeRun = !interrupted && !(stdoutLost && !fileOutputs);
    if (!opts.quiet) {
      const where = [opts.out ? `  output: ${opts.out} (${format})` : '',
        opts.annotate ? `  pictures: ${result.pictures.length} in ${opts.annotate}` : '',
        opts.explain ? `  explanations (one heatmap per face): ${opts.explain}` : ''].filter(Boolean).join('\n');
      say(formatSummary(result) + (where ? `\n${where}` : ''));
    }
    if (opts.summary) {
      if (completeRun) {
        await writeJsonFileAtomic(real('--summary'), { ...result, output: opts.out ?? null, format, inputs });
      } else {
        say(`ferkit: ${opts.summary} was not written (the run did not finish)`);
      }
    }
    for (const line of plan.cleaned) say(`ferkit: removed a stale temp file of a killed run: ${line}`);
    if (stdoutLost) {
      say(`ferkit: stdout was closed early (${(stdoutLost as NodeJS.ErrnoException).code ?? stdoutLost.message}); `
        + `results after that point were not delivered${fileOutputs ? ' (the file outputs are complete)' : ''}`);
      return EXIT.OUTPUT_FAILED;
    }
    if (interrupted) return EXIT.INTERRUPTED;
    if (outputFailed > 0) return EXIT.OUTPUT_FAILED;
    return failed > 0 ? EXIT.INPUT_FAILED : EXIT.OK;
  } catch (err) {
    await sink?.abort();
    for (const c of cleanups.splice(0)) c();
    return reportFatal(err, say);
  } finally {
    for (const c of cleanups) c();
    await plan?.release();
    await analyzer?.dispose();
  }
}
