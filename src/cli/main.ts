/**
 * The `ferkit` command line. `bin/ferkit.js` calls {@link run}; tests call it with their own streams and analyzer.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { LABEL_SET_IDS } from '../core/labels.js';
import { DEFAULT_MAX_PIXELS } from '../node/decode.js';
import { OUTPUT_FORMATS } from '../node/output.js';
import { runAnalyze, type AnalyzeDeps, type AnalyzerFactory } from './analyze.js';
import { createNodeAnalyzer } from './node-analyzer.js';
import { MODEL_OPTION_HELP, registerModelsCommand } from './models.js';
import { DEFAULT_CSV_PRECISION } from '../node/output.js';
import { CSV_USAGES, DATASET_PRESET_IDS } from '../node/datasets.js';
import { parseMapOption, runEvaluate, type EvaluateCliOptions } from './evaluate.js';
import { registerServeCommand } from './serve.js';
import { registerVideoCommand } from './video.js';
import {
  DETECTOR_CHOICES, defaultConcurrency, parseBytes, parseInteger, parsePixels, parseProbability, parseQualityThresholds, type AnalyzeCliOptions,
} from './options.js';

const EXAMPLES = `
Examples:
  $ ferkit analyze photo.jpg                        # JSON to stdout
  $ ferkit analyze photo.jpg --annotate out/        # also draw boxes and labels into out/photo.jpg
  $ ferkit analyze photos/ --format csv --out faces.csv
                                                    # every image under photos/ (recursive), one CSV row per face
  $ ferkit analyze 'shots/**/*.png' --labels valence --format jsonl > faces.jsonl
  $ ferkit analyze fer2013/test/ --cropped --summary summary.json
                                                    # 48x48 face crops, no detection; folders named angry/, happy/, ...
                                                    # give accuracy and a confusion matrix in the summary

Output: results go to stdout (or --out, written atomically); progress, one line per failed file and the
summary go to stderr. Each result is {file, ok: true, width, height, faces: [{box, keypoints, score,
probabilities, label, labelScore, valence, projected?}], timingsMs, models} or {file, ok: false,
error: {code, message}}. Boxes and keypoints are in pixels of the image after EXIF orientation.

Label sets: 7 = angry disgust fear happy sad surprise neutral (FER2013); 6 = disgust merged into angry;
5 = angry fear happy sad neutral; 5b = angry happy sad surprise neutral; valence = positive neutral negative.

Outputs never replace inputs; an existing file that ferkit did not write is not overwritten without --force;
a second run writing the same output fails at once (lock). --annotate DIR mirrors the inputs' layout below
their common folder; clashing names get -2, -3 (listed in --summary).

Exit codes: 0 every file analysed, 1 at least one file failed, 2 bad command line, 3 an output could not be
written or was lost (e.g. stdout closed early), 130 interrupted. See docs/cli-safety.md.
Expressions are facial displays, not felt emotions; ferkit does no identity recognition.`;

/** Reads ferkit's version from the nearest package.json named "ferkit" above this file. */
function ferkitVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'ferkit' && pkg.version) return pkg.version;
    } catch {
      // not here; go up
    }
    dir = dirname(dir);
  }
  return 'unknown';
}

/** Dependencies of {@link run}; every field has a real default. */
export type CliDeps = AnalyzeDeps;

const defaultAnalyzerFactory: AnalyzerFactory = (options) => createNodeAnalyzer(options);

/**
 * Runs the CLI.
 * @param argv - `process.argv`-style: `[node, script, command, ...args]`.
 * @returns the exit code (the caller sets `process.exitCode`).
 */
export async function run(argv: readonly string[], deps: Partial<CliDeps> = {}): Promise<number> {
  const full: CliDeps = {
    io: deps.io ?? {
      stdout: process.stdout, stderr: process.stderr, stderrIsTTY: process.stderr.isTTY === true,
      stdoutIsTTY: process.stdout.isTTY === true, cwd: process.cwd(),
    },
    createAnalyzer: deps.createAnalyzer ?? defaultAnalyzerFactory,
    handleSignals: deps.handleSignals ?? true,
  };
  const { io } = full;
  let exitCode = 0;

  const program = new Command('ferkit')
    .description('Facial expression recognition on your own machine: BlazeFace detection + a FER2013-trained classifier.')
    .version(ferkitVersion(), '-V, --version')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
    });

  program
    .command('analyze')
    .summary('find faces and classify their expressions in images, folders or globs')
    .description('Find faces and classify their expressions. Inputs are image files, folders (searched recursively for '
      + 'JPEG, PNG, WebP, GIF, TIFF and AVIF files) and quoted globs.')
    .argument('[inputs...]', 'image files, folders or globs')
    .addOption(new Option('-f, --format <format>', 'output format (default: from the --out extension, else json)').choices(OUTPUT_FORMATS))
    .option('-o, --out <file>', 'write results to this file (atomically) instead of stdout')
    .option('--annotate <dir>', 'also write each image with boxes, keypoints and labels drawn into this folder')
    .option('--explain <dir>', 'also write, per face, an occlusion heatmap of what drove its label (<image>.face<N>.explain.png; about 0.1-1 s per face; docs/explanations.md)')
    .option('--summary <file>', 'write the summary (counts, speed, failures, accuracy) as JSON')
    .addOption(new Option('--labels <set>', 'label set reported and counted').choices(LABEL_SET_IDS).default('7'))
    .option('--cropped', 'inputs are already-cropped faces (e.g. 48x48 FER2013): no detection, the whole image is one face')
    .addOption(new Option('--detector <model>', 'BlazeFace model: front (selfie range, <2 m), back (group photos), auto').choices(DETECTOR_CHOICES).default('auto'))
    .addOption(new Option('--min-score <p>', 'minimum detection score, 0 to 1 (default: the detector\'s)').argParser(parseProbability))
    .addOption(new Option('--min-face <px>', 'ignore faces narrower than this many pixels (default: the detector\'s)').argParser(parseInteger(0, 100_000)))
    .addOption(new Option('--max-pixels <n>', 'refuse images larger than this, e.g. 100M (decompression-bomb guard)')
      .argParser(parsePixels).default(DEFAULT_MAX_PIXELS, '100M'))
    .addOption(new Option('--max-bytes <size>', 'refuse input files larger than this, e.g. 512M, checked before reading')
      .argParser(parseBytes).default(undefined, '1G'))
    .addOption(new Option('--pixel-budget <n>', 'decoded pixels held at once across workers and annotation, e.g. 200M (memory bound for large images)')
      .argParser(parsePixels).default(undefined, 'max(--max-pixels, 100M)'))
    .option('--model <id|path>', MODEL_OPTION_HELP)
    .addOption(new Option('--min-quality <level>', 'ok: leave out faces the quality gate marks uncertain (too small, blurred, turned away, low confidence; see docs/quality.md)').choices(['ok', 'uncertain']).default('uncertain'))
    .addOption(new Option('--quality <thresholds>', 'quality gate thresholds, e.g. min-face-px=32,min-top-1=0.5 (keys: min-face-px, min-sharpness, max-yaw-deg, max-roll-deg, min-detection-score, min-top-1, min-margin)').argParser(parseQualityThresholds))
    .addOption(new Option('-j, --concurrency <n>', 'images analysed at once').argParser(parseInteger(1, 64)).default(defaultConcurrency()))
    .addOption(new Option('--precision <digits>', 'decimal places of numbers in CSV output').argParser(parseInteger(0, 17)).default(DEFAULT_CSV_PRECISION))
    .option('--force', 'replace existing output files that ferkit did not write (inputs are never replaced)')
    .option('-q, --quiet', 'no progress and no summary (failed files are still listed on stderr)')
    .addHelpText('after', EXAMPLES)
    .action(async (inputs: string[], opts: Omit<AnalyzeCliOptions, 'cropped' | 'quiet' | 'force'> & { cropped?: boolean; quiet?: boolean; force?: boolean }) => {
      exitCode = await runAnalyze(inputs, { ...opts, cropped: opts.cropped === true, quiet: opts.quiet === true, force: opts.force === true }, full);
    });

  program
    .command('evaluate')
    .summary('measure a classifier on a labelled dataset: accuracy, F1, confusion matrix, calibration')
    .description('Score an expression classifier on a labelled dataset: a folder in the Kaggle layout (<root>/<class>/*.jpg, '
      + 'class folders named like the FER2013 expressions), the original fer2013.csv (emotion,pixels,Usage), or another '
      + 'dataset\'s class folders with a label mapping. Images are face crops unless --detect is given.')
    .argument('<dataset>', 'dataset folder or fer2013.csv file')
    .option('--split <name>', 'split folder to evaluate when <dataset> holds Training/, PublicTest/, ...')
    .addOption(new Option('--usage <usage>', 'rows of fer2013.csv to evaluate (its Usage column)').choices(CSV_USAGES))
    .addOption(new Option('--preset <name>', 'built-in label mapping: ck+ (anger, contempt→drop, sadness, ...) or jaffe (AN, DI, FE, HA, NE, SA, SU)').choices(DATASET_PRESET_IDS))
    .addOption(new Option('--map <pairs>', 'label mapping, e.g. anger=angry,sadness=sad,contempt=drop (over --preset)').argParser(parseMapOption))
    .option('--model <id|path>', MODEL_OPTION_HELP)
    .addOption(new Option('--labels <set>', 'label set that truth and predictions are projected to').choices(LABEL_SET_IDS).default('7'))
    .option('--detect', 'detect faces first and classify the largest one (for uncropped photos); no face counts as a miss')
    .option('--json', 'print the report as JSON on stdout instead of the table')
    .option('--report <dir>', 'write report.md, report.html, confusion.svg, reliability.svg and metrics.json into this folder')
    .option('--force', 'replace existing report files that ferkit did not write (the dataset is never touched)')
    .addOption(new Option('-j, --concurrency <n>', 'images read at once').argParser(parseInteger(1, 256)).default(8))
    .addOption(new Option('--batch-size <n>', 'crops per classifier run').argParser(parseInteger(1, 4096)).default(64))
    .addOption(new Option('--max-pixels <n>', 'refuse images larger than this, e.g. 100M').argParser(parsePixels).default(DEFAULT_MAX_PIXELS, '100M'))
    .option('-q, --quiet', 'no progress (skipped files are still listed on stderr)')
    .addHelpText('after', `
Examples:
  $ ferkit evaluate fer2013/PublicTest                      # Kaggle layout: PublicTest/angry/*.jpg, ...
  $ ferkit evaluate fer2013 --split PublicTest --report out/eval
  $ ferkit evaluate fer2013.csv --usage PrivateTest --json > metrics.json
  $ ferkit evaluate CK+48 --preset ck+ --labels 6           # anger→angry, sadness→sad, contempt dropped
  $ ferkit evaluate photos/ --map joy=happy,other=drop --detect

Reports accuracy, top-2 accuracy, per-class precision/recall/F1, macro-F1, Hamming loss, the confusion matrix and the
expected calibration error (15 bins of the max probability). --report follows the output rules of analyze: never
inside the dataset, never over a file ferkit did not write (--force), locked against a second run, written even if
stdout is closed early. Exit codes: 0 every sample read, 1 some were skipped (each listed on stderr), 2 bad command
line, dataset layout or --report path, 3 the report or stdout was lost, 130 interrupted (docs/cli-safety.md).`)
    .action(async (dataset: string, opts: Omit<EvaluateCliOptions, 'detect' | 'json' | 'quiet' | 'force'> & { detect?: boolean; json?: boolean; quiet?: boolean; force?: boolean }) => {
      exitCode = await runEvaluate(dataset, { ...opts, detect: opts.detect === true, json: opts.json === true, quiet: opts.quiet === true, force: opts.force === true },
        { io: full.io, handleSignals: full.handleSignals });
    });

  registerVideoCommand(program, full, (code) => { exitCode = code; });
  registerModelsCommand(program, io, (code) => { exitCode = code; });
  registerServeCommand(program, { setExitCode: (code) => { exitCode = code; } });

  try {
    await program.parseAsync([...argv]);
    if (argv.length <= 2) {
      program.outputHelp({ error: true });
      return 2;
    }
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
      return 2;
    }
    throw err;
  }
}
