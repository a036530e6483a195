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
import { bundledSamplePhoto, runAnalyze, type AnalyzeDeps, type AnalyzerFactory } from './analyze.js';
import {
  DETECTOR_CHOICES, defaultConcurrency, parseInteger, parsePixels, parseProbability, type AnalyzeCliOptions,
} from './options.js';

const EXAMPLES = `
Examples:
  $ ferkit analyze                                  # the bundled sample photo, JSON to stdout
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

Exit codes: 0 every file analysed, 1 at least one file failed, 2 bad command line, 130 interrupted.
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

const defaultAnalyzerFactory: AnalyzerFactory = async (options) => {
  const node = await import('../node/index.js');
  return node.createAnalyzer(options);
};

/**
 * Runs the CLI.
 * @param argv - `process.argv`-style: `[node, script, command, ...args]`.
 * @returns the exit code (the caller sets `process.exitCode`).
 */
export async function run(argv: readonly string[], deps: Partial<CliDeps> = {}): Promise<number> {
  const full: CliDeps = {
    io: deps.io ?? {
      stdout: process.stdout, stderr: process.stderr, stderrIsTTY: process.stderr.isTTY === true, cwd: process.cwd(),
    },
    createAnalyzer: deps.createAnalyzer ?? defaultAnalyzerFactory,
    handleSignals: deps.handleSignals ?? true,
    samplePhoto: deps.samplePhoto ?? bundledSamplePhoto,
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
      + 'JPEG, PNG, WebP, GIF, TIFF and AVIF files) and quoted globs. With no input, the bundled sample photo is used.')
    .argument('[inputs...]', 'image files, folders or globs')
    .addOption(new Option('-f, --format <format>', 'output format (default: from the --out extension, else json)').choices(OUTPUT_FORMATS))
    .option('-o, --out <file>', 'write results to this file (atomically) instead of stdout')
    .option('--annotate <dir>', 'also write each image with boxes, keypoints and labels drawn into this folder')
    .option('--summary <file>', 'write the summary (counts, speed, failures, accuracy) as JSON')
    .addOption(new Option('--labels <set>', 'label set reported and counted').choices(LABEL_SET_IDS).default('7'))
    .option('--cropped', 'inputs are already-cropped faces (e.g. 48x48 FER2013): no detection, the whole image is one face')
    .addOption(new Option('--detector <model>', 'BlazeFace model: front (selfie range, <2 m), back (group photos), auto').choices(DETECTOR_CHOICES).default('auto'))
    .addOption(new Option('--min-score <p>', 'minimum detection score, 0 to 1 (default: the detector\'s)').argParser(parseProbability))
    .addOption(new Option('--min-face <px>', 'ignore faces narrower than this many pixels (default: the detector\'s)').argParser(parseInteger(0, 100_000)))
    .addOption(new Option('--max-pixels <n>', 'refuse images larger than this, e.g. 100M (decompression-bomb guard)')
      .argParser(parsePixels).default(DEFAULT_MAX_PIXELS, '100M'))
    .option('--model <path>', 'expression classifier .onnx (its .card.json beside it; default: the bundled model)')
    .addOption(new Option('-j, --concurrency <n>', 'images analysed at once').argParser(parseInteger(1, 64)).default(defaultConcurrency()))
    .option('-q, --quiet', 'no progress and no summary (failed files are still listed on stderr)')
    .addHelpText('after', EXAMPLES)
    .action(async (inputs: string[], opts: Omit<AnalyzeCliOptions, 'cropped' | 'quiet'> & { cropped?: boolean; quiet?: boolean }) => {
      exitCode = await runAnalyze(inputs, { ...opts, cropped: opts.cropped === true, quiet: opts.quiet === true }, full);
    });

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
