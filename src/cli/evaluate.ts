/**
 * `ferkit evaluate <dataset>`: scores a classifier on a labelled dataset (Kaggle-layout folders, fer2013.csv, or mapped
 * folders of another dataset). The table (or `--json`) goes to stdout; progress and one line per skipped file or row
 * to stderr; `--report DIR` writes Markdown, HTML, SVG charts and metrics.json. Exit code 0 when every sample was read,
 * 1 when any was skipped (or on a fatal error), 2 for usage errors, 130 when interrupted.
 */
import { stat, mkdir } from 'node:fs/promises';
import { InvalidArgumentError } from 'commander';
import { FerkitError } from '../core/errors.js';
import type { LabelSetId } from '../core/labels.js';
import type { Analyzer, AnalyzerOptions } from '../node/index.js';
import {
  evaluateDataset, openDataset, parseLabelMap, type CsvUsage, type DatasetPreset, type LabelMapping,
} from '../node/datasets.js';
import { buildReport, formatReportTable, writeReport } from '../node/report.js';
import type { CliIo } from './analyze.js';
import { createProgress } from './progress.js';
import { reportFatal } from './fatal.js';
import { checkModelOption } from './models.js';

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
 * Runs `ferkit evaluate`.
 * @returns the exit code: 0 all samples read, 1 some skipped (or a fatal error), 2 usage error, 130 interrupted.
 */
export async function runEvaluate(datasetPath: string, opts: EvaluateCliOptions, deps: EvaluateDeps): Promise<number> {
  const { io } = deps;
  const say = (line: string): void => void io.stderr.write(`${line}\n`);
  let analyzer: Analyzer | undefined;
  const cleanups: (() => void)[] = [];
  try {
    if (opts.model !== undefined) checkModelOption(opts.model);
    const dataset = await openDataset(datasetPath, { split: opts.split, usage: opts.usage, preset: opts.preset, map: opts.map });
    for (const k of dataset.unusedMapKeys) say(`ferkit: warning: --map ${k}=… matches no class in ${dataset.source}`);
    if (opts.report) {
      const st = await stat(opts.report).catch(() => null);
      if (st && !st.isDirectory()) throw new FerkitError('E_OPTION', `--report expects a folder, and this is a file`, opts.report);
      await mkdir(opts.report, { recursive: true }).catch((err: Error) => {
        throw new FerkitError('E_OPTION', `--report: cannot create the folder: ${err.message}`, opts.report);
      });
    }

    const t0 = performance.now();
    const create = deps.createAnalyzer ?? (async (o: AnalyzerOptions) => (await import('../node/index.js')).createAnalyzer(o));
    analyzer = await create({
      cropsOnly: !opts.detect,
      ...(opts.model !== undefined ? { classifier: { model: opts.model } } : {}),
      ...(opts.maxPixels !== undefined ? { maxPixels: opts.maxPixels } : {}),
    });
    const modelLoadMs = performance.now() - t0;
    const { classifier } = analyzer.pipeline;

    const progress = createProgress({ stream: io.stderr, isTTY: io.stderrIsTTY, quiet: opts.quiet });
    cleanups.push(() => progress.stop());
    let stopRequested = false;
    if (deps.handleSignals) {
      const onSignal = (): void => {
        if (stopRequested) process.exit(130);
        stopRequested = true;
        progress.log('ferkit: interrupted; reporting the samples read so far (Ctrl-C again to quit now)');
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      cleanups.push(() => { process.off('SIGINT', onSignal); process.off('SIGTERM', onSignal); });
    }
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
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err); // EPIPE (`| head`) arrives as an 'error' event too
      io.stdout.once('error', onError);
      io.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReportTable(report)}\n`, (err) => {
        io.stdout.off('error', onError);
        if (err) reject(err); else resolve();
      });
    });
    if (opts.report && evaluation.complete) {
      await writeReport(opts.report, report);
      if (!opts.quiet) say(`ferkit: report written to ${opts.report}/ (report.html, report.md, confusion.svg, reliability.svg, metrics.json)`);
    } else if (opts.report) {
      say(`ferkit: interrupted; ${opts.report}/ was not written`);
    }
    if (evaluation.counts.skipped > 0) say(`ferkit: ${evaluation.counts.skipped} samples skipped (listed above); exit code 1`);
    if (!evaluation.complete) return 130;
    return evaluation.counts.skipped > 0 ? 1 : 0;
  } catch (err) {
    for (const c of cleanups.splice(0)) c();
    return reportFatal(err, say);
  } finally {
    for (const c of cleanups) c();
    await analyzer?.dispose();
  }
}
