/**
 * `ferkit evaluate <dataset>`: scores a classifier on a labelled dataset (Kaggle-layout folders, fer2013.csv, or mapped
 * folders of another dataset). The table (or `--json`) goes to stdout; progress and one line per skipped file or row
 * to stderr; `--report DIR` writes Markdown, HTML, SVG charts and metrics.json. Exit code 0 when every sample was read,
 * 1 when any was skipped (or on a fatal error), 2 for usage errors, 130 when interrupted.
 */
import { resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { FerkitError } from '../core/errors.js';
import type { LabelSetId } from '../core/labels.js';
import type { Analyzer, AnalyzerOptions } from '../node/index.js';
import {
  evaluateDataset, openDataset, parseLabelMap, type CsvUsage, type DatasetPreset, type LabelMapping,
} from '../node/datasets.js';
import { REPORT_FILES, buildReport, formatReportTable, writeReport } from '../node/report.js';
import type { CliIo } from './analyze.js';
import { inputFacts, isInside, planOutputs, resolveRealPath, type OutputPlan } from './outputs.js';
import { EXIT, UsageError } from './usage.js';
import { createProgress } from './progress.js';
import { reportFatal } from './fatal.js';
import { checkModelOption } from './models.js';
import { createNodeAnalyzer } from './node-analyzer.js';

/** Parsed options of `ferkit evaluate`. */
export interface EvaluateCliOptions {
  split?: string;
  usage?: CsvUsage;
  preset?: DatasetPreset;
  map?: LabelMapping;
  model?: string;
  labels: LabelSetId;
  detect: boolean;
  json: boolean;
  report?: string;
  concurrency: number;
  batchSize: number;
  maxPixels?: number;
  quiet: boolean;
  /** Replace existing report files that ferkit did not write. */
  force?: boolean;
}

/** Dependencies of {@link runEvaluate}. */
export interface EvaluateDeps {
  io: CliIo;
  /** Install SIGINT/SIGTERM handlers (the real CLI: yes; tests: no). */
  handleSignals: boolean;
  /** Loads the models; default `createAnalyzer` from `ferkit/node`. */
  createAnalyzer?: (options: AnalyzerOptions) => Promise<Analyzer>;
}

/** `--map` parser for commander: a usage error (exit 2) with the reason. */
export function parseMapOption(value: string): LabelMapping {
  try {
    return parseLabelMap(value);
  } catch (err) {
    throw new InvalidArgumentError(err instanceof FerkitError ? err.message.replace(/^--map:?\s*/, '') : String(err));
  }
}

/**
 * Runs `ferkit evaluate`. `--report DIR` follows the output rules of `analyze` (docs/cli-safety.md): refused (exit 2)
 * when it is the dataset folder or lies inside it, or when a report file there was not written by ferkit (unless
 * `force`); locked for the run; each file written atomically; written even when stdout is closed early (then exit 3).
 * @returns the exit code: 0 all samples read, 1 some skipped (or a fatal error), 2 usage error, 3 an output lost
 *   (the report, or stdout closed early), 130 interrupted.
 */
export async function runEvaluate(datasetPath: string, opts: EvaluateCliOptions, deps: EvaluateDeps): Promise<number> {
  const { io } = deps;
  const say = (line: string): void => void io.stderr.write(`${line}\n`);
  let analyzer: Analyzer | undefined;
  let plan: OutputPlan | undefined;
  const cleanups: (() => void)[] = [];
  let stopRequested = false;
  let notice = say;
  try {
    if (deps.handleSignals) {
      const onSignal = (): void => {
        if (stopRequested) process.exit(EXIT.INTERRUPTED);
        stopRequested = true;
        notice('ferkit: interrupted; reporting the samples read so far (Ctrl-C again to quit now)');
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      cleanups.push(() => { process.off('SIGINT', onSignal); process.off('SIGTERM', onSignal); });
    }
    if (opts.model !== undefined) checkModelOption(opts.model);
    // Relative to the CLI's working folder (tests run the CLI in-process in another folder); as typed otherwise.
    const dataset = await openDataset(io.cwd === process.cwd() ? datasetPath : resolve(io.cwd, datasetPath), { split: opts.split, usage: opts.usage, preset: opts.preset, map: opts.map });
    for (const k of dataset.unusedMapKeys) say(`ferkit: warning: --map ${k}=… matches no class in ${dataset.source}`);
    if (opts.report) {
      const facts = await inputFacts([datasetPath], io.cwd);
      const report = await resolveRealPath(opts.report, io.cwd);
      for (const [input, isDir] of facts.reals) {
        if (isDir && isInside(report, input)) {
          throw new UsageError(`option '--report': ${opts.report} is ${report === input ? '' : 'inside '}the dataset folder ${input}; `
            + 'the report would mix with the images. Choose a folder outside the dataset');
        }
      }
      plan = await planOutputs([{ option: '--report', path: opts.report, kind: 'folder', files: REPORT_FILES }], facts,
        { cwd: io.cwd, force: opts.force === true });
    }

    const t0 = performance.now();
    const create = deps.createAnalyzer ?? ((o: AnalyzerOptions) => createNodeAnalyzer(o));
    analyzer = await create({
      cropsOnly: !opts.detect,
      ...(opts.model !== undefined ? { classifier: { model: opts.model } } : {}),
      ...(opts.maxPixels !== undefined ? { maxPixels: opts.maxPixels } : {}),
    });
    const modelLoadMs = performance.now() - t0;
    const { classifier } = analyzer.pipeline;

    const progress = createProgress({ stream: io.stderr, isTTY: io.stderrIsTTY, quiet: opts.quiet });
    cleanups.push(() => progress.stop());
    notice = (line) => progress.log(line);
    if (!opts.quiet) dataset.count().then((n) => progress.setTotal(n), () => undefined);

    const evaluation = await evaluateDataset(analyzer.pipeline, dataset, {
      labels: opts.labels,
      detect: opts.detect,
      concurrency: opts.concurrency,
      batchSize: opts.batchSize,
      maxPixels: opts.maxPixels,
      onProgress: (done, skipped) => progress.update(done, skipped),
      onSkip: (s) => progress.log(`error ${s.code} ${s.name}: ${s.message}`),
      shouldStop: () => stopRequested,
    });
    progress.stop();

    const card = classifier.card;
    const report = buildReport(evaluation, {
      dataset: {
        path: dataset.path, kind: dataset.kind, source: dataset.source, split: dataset.split, usage: dataset.usage,
        preset: dataset.preset, mapping: dataset.mapping,
      },
      model: { id: card.id, sha256: card.sha256, source: opts.model ?? 'bundled', trainedOn: card.trainedOn, selectedOn: card.selectedOn },
      detect: opts.detect,
      modelLoadMs,
    });
    // A closed stdout (`| head`) loses the table, never the report: it is noted and the run goes on.
    let stdoutLost: Error | undefined;
    await new Promise<void>((done) => {
      const onError = (err: Error): void => { stdoutLost ??= err; done(); }; // EPIPE arrives as an 'error' event too
      io.stdout.once('error', onError);
      io.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReportTable(report)}\n`, (err) => {
        io.stdout.off('error', onError);
        if (err) stdoutLost ??= err;
        done();
      });
    });
    let reportLost = false;
    if (plan && evaluation.complete) {
      const dir = plan.outputs[0]!.real;
      try {
        await writeReport(dir, report);
        if (!opts.quiet) say(`ferkit: report written to ${opts.report}/ (report.html, report.md, confusion.svg, reliability.svg, metrics.json)`);
      } catch (err) {
        reportLost = true;
        say(`error: E_OUTPUT ${opts.report}: the report could not be written: ${(err as Error).message}`);
      }
    } else if (opts.report) {
      say(`ferkit: interrupted; ${opts.report}/ was not written (earlier report files there are untouched)`);
    }
    for (const line of plan?.cleaned ?? []) say(`ferkit: removed a stale temp file of a killed run: ${line}`);
    if (evaluation.counts.skipped > 0) say(`ferkit: ${evaluation.counts.skipped} samples skipped (listed above)`);
    if (stdoutLost) {
      say(`ferkit: stdout was closed early (${(stdoutLost as NodeJS.ErrnoException).code ?? stdoutLost.message}); the ${opts.json ? 'JSON' : 'table'} `
        + `was not delivered${plan && !reportLost && evaluation.complete ? ` (the report in ${opts.report}/ is complete)` : ''}`);
    }
    if (!evaluation.complete) return EXIT.INTERRUPTED;
    if (stdoutLost || reportLost) return EXIT.OUTPUT_FAILED;
    return evaluation.counts.skipped > 0 ? EXIT.INPUT_FAILED : EXIT.OK;
  } catch (err) {
    for (const c of cleanups.splice(0)) c();
    return reportFatal(err, say);
  } finally {
    for (const c of cleanups) c();
    await plan?.release();
    await analyzer?.dispose();
  }
}
