/**
 * `ferkit video <file>`: tracks faces through a video and smooths their expressions over time. A thin adapter over
 * `analyzeVideoFile` (src/node/video.ts): per-frame JSON Lines to stdout or `--jsonl`, progress and the summary to
 * stderr. Exit code 0 when the whole video was analysed, 1 when it is corrupt or truncated (the outputs then hold
 * every frame before the error) or cannot be read, 2 for usage errors, 3 when an output was lost (stdout closed
 * early, a locked or unwritable output), 130 when interrupted (outputs kept).
 */
import { basename } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { FerkitError } from '../core/errors.js';
import { LABEL_SET_IDS, type LabelSetId } from '../core/labels.js';
import { DEFAULT_SMOOTHING } from '../core/smoothing.js';
import type { ExpressionTime, VideoSummary } from '../core/video.js';
import type { FfmpegPaths, VideoFileError, VideoFileOptions, VideoFileResult, VideoProbe } from '../node/video.js';
import { streamSink, type TextSink } from '../node/output.js';
import type { AnalyzeDeps } from './analyze.js';
import { DETECTOR_CHOICES, parseInteger, parseProbability, type DetectorChoice } from './options.js';
import { reportFatal } from './fatal.js';
import { MODEL_OPTION_HELP, checkModelOption } from './models.js';
import { inputFacts, planOutputs, type OutputPlan, type OutputSpec } from './outputs.js';
import { createProgress, formatDuration } from './progress.js';
import { EXIT } from './usage.js';
import { DEFAULT_CSV_PRECISION } from '../node/output.js';

/** Parsed options of `ferkit video`. */
export interface VideoCliOptions {
  fps?: number;
  /** A file; `'-'` or absent: stdout; `false` (`--no-jsonl`): none. */
  jsonl?: string | false;
  tracks?: string;
  annotate?: string;
  summary?: string;
  detectEvery: number;
  halfLife: number;
  /** `false` with `--no-hysteresis`. */
  hysteresis: boolean;
  margin: number;
  dwell: number;
  /** Probability floor of the displayed label (default `DEFAULT_SMOOTHING.floor`). */
  floor?: number;
  /** Per-person baseline window in seconds (absent: no baseline). */
  baselineSeconds?: number;
  maxAge: number;
  labels: LabelSetId;
  detector: DetectorChoice;
  minScore?: number;
  minFace?: number;
  model?: string;
  threads?: number;
  ffmpeg?: string;
  ffprobe?: string;
  quiet: boolean;
  /** Replace existing output files that ferkit did not write. */
  force?: boolean;
  /** Decimal places of numbers in the tracks CSV. */
  precision?: number;
}

/** Dependencies of {@link runVideo}: the CLI's streams and signal handling, and (tests) the file analyser. */
export interface VideoDeps extends Pick<AnalyzeDeps, 'io' | 'handleSignals'> {
  analyzeVideoFile?: (file: string, options: VideoFileOptions) => Promise<VideoFileResult>;
  /** Reads the video's size and rate before the outputs are planned (default `probeVideo`; tests wrap it). */
  probeVideo?: (file: string, tools: FfmpegPaths) => Promise<VideoProbe>;
}

/** A frame rate: a number in (0, 1000]. */
export function parseFps(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 1000) throw new InvalidArgumentError('expected frames per second, a number above 0 and up to 1000, e.g. 5 or 2.5.');
  return n;
}

/** A calibration window: seconds in (0, 3600]. */
export function parseBaselineSeconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 3600) throw new InvalidArgumentError('expected seconds, a number above 0 and up to 3600, e.g. 5.');
  return n;
}

const EXAMPLES = `
Examples:
  $ ferkit video clip.mp4 > frames.jsonl             # every frame: tracked faces, raw and smoothed expressions
  $ ferkit video clip.mp4 --fps 5 --jsonl frames.jsonl --tracks tracks.csv --summary report/
  $ ferkit video clip.mp4 --annotate clip.annotated.mp4 --no-jsonl
                                                     # boxes, track ids and smoothed labels drawn into a new video
  $ ferkit video clip.mp4 --detect-every 3 --half-life 600 --no-jsonl --summary report/
  $ ferkit video lesson.mp4 --baseline-seconds 5 --summary report/
                                                     # per-person baseline: a resting face that reads sad is not logged sad

Each JSONL line is one frame: {frameIndex, timestampMs, width, height, detectorRan, labelSet, faces: [{trackId, box,
boxSource, keypoints, score, probabilities, label, labelScore, valence, smoothed: {probabilities, label, labelScore,
valence, valenceScore}, displayLabel, displayScore, displayUncertain}], timingsMs}. "probabilities"/"label" are the
frame's raw output, "smoothed" the track's exponential moving average (half-life in ms, independent of the frame rate),
"displayLabel" the label after hysteresis, "displayUncertain" true when its smoothed probability "displayScore" is
below --floor; with --baseline-seconds, "relative" holds the probabilities relative to the track's baseline.
--tracks writes the same per face as CSV rows; --summary writes summary.json (per track and overall: dominant
expression, time share per expression, mean valence, duration) and chart.svg/chart.png.

Needs ffmpeg and ffprobe (Debian/Ubuntu: apt-get install ffmpeg). A corrupt or truncated video ends with exit code 1
and an error naming the file; every output then holds the frames analysed before the error. Outputs never replace
the input or a file ferkit did not write (--force for the latter). If stdout is closed early, the file outputs are
still completed and the exit code is 3. Exit codes: docs/cli-safety.md.`;

/**
 * Adds `ferkit video` to `program`. The action's exit code goes to `setExitCode`.
 * @example registerVideoCommand(program, deps, (code) => { exitCode = code; });
 */
export function registerVideoCommand(program: Command, deps: VideoDeps, setExitCode: (code: number) => void): Command {
  return program
    .command('video')
    .summary('track faces through a video file and smooth their expressions over time')
    .description('Decode a video with ffmpeg, detect and track faces (stable ids), classify each face on every analysed '
      + 'frame and smooth its probabilities over time. Per-frame results go to stdout as JSON Lines (or --jsonl).')
    .argument('<file>', 'video file (anything ffmpeg reads: mp4, mov, mkv, webm, avi, ...)')
    .addOption(new Option('--fps <n>', 'analyse this many frames per second (default: every frame)').argParser(parseFps))
    .option('--jsonl <file>', 'write per-frame JSON Lines to this file (atomically) instead of stdout')
    .option('--no-jsonl', 'no per-frame JSON Lines at all')
    .option('--tracks <file>', 'write a CSV timeline: one row per track per analysed frame')
    .option('--annotate <file.mp4>', 'write the video with boxes, track ids and smoothed labels drawn (H.264 MP4)')
    .option('--summary <dir>', 'write summary.json and a chart of valence and expression shares (chart.svg, chart.png)')
    .addOption(new Option('--detect-every <k>', 'run the face detector on every k-th frame; boxes are tracked in between')
      .argParser(parseInteger(1, 1000)).default(1))
    .addOption(new Option('--half-life <ms>', 'half-life of the probability smoothing in ms (0 = none)').argParser(parseInteger(0, 3_600_000)).default(DEFAULT_SMOOTHING.halfLifeMs))
    .option('--no-hysteresis', 'display the smoothed argmax as it is (no margin or dwell time)')
    .addOption(new Option('--margin <p>', 'hysteresis: a new label must lead the shown one by this probability').argParser(parseProbability).default(DEFAULT_SMOOTHING.margin))
    .addOption(new Option('--dwell <ms>', 'hysteresis: ...for at least this many ms').argParser(parseInteger(0, 60_000)).default(DEFAULT_SMOOTHING.minDwellMs))
    .addOption(new Option('--floor <p>', 'a shown label whose smoothed probability falls below this is replaced at once; below it, the label is marked uncertain').argParser(parseProbability).default(DEFAULT_SMOOTHING.floor))
    .addOption(new Option('--baseline-seconds <s>', 'per-person baseline: after a track\'s first s seconds, report its probabilities relative to its resting face too (docs/temporal.md)').argParser(parseBaselineSeconds))
    .addOption(new Option('--max-age <ms>', 'a face unseen for longer than this gets a new track id when it returns').argParser(parseInteger(0, 600_000)).default(1000))
    .addOption(new Option('--labels <set>', 'label set of the displayed label and the shares').choices(LABEL_SET_IDS).default('7'))
    .addOption(new Option('--detector <model>', 'BlazeFace model; auto: front up to 640 px on the longer side, else back').choices(DETECTOR_CHOICES).default('auto'))
    .addOption(new Option('--min-score <p>', 'minimum detection score, 0 to 1 (default: the detector\'s)').argParser(parseProbability))
    .addOption(new Option('--min-face <px>', 'ignore faces narrower than this many pixels').argParser(parseInteger(0, 100_000)))
    .option('--model <id|path>', MODEL_OPTION_HELP)
    .addOption(new Option('--threads <n>', 'ONNX Runtime threads per model (default: ONNX Runtime\'s choice)').argParser(parseInteger(1, 64)))
    .option('--ffmpeg <path>', 'ffmpeg to use (default: ffmpeg on the PATH)')
    .option('--ffprobe <path>', 'ffprobe to use (default: ffprobe on the PATH)')
    .addOption(new Option('--precision <digits>', 'decimal places of numbers in the tracks CSV').argParser(parseInteger(0, 17)).default(DEFAULT_CSV_PRECISION))
    .option('--force', 'replace existing output files that ferkit did not write (the input is never replaced)')
    .option('-q, --quiet', 'no progress and no summary on stderr (errors are still printed)')
    .addHelpText('after', EXAMPLES)
    .action(async (file: string, opts: Omit<VideoCliOptions, 'quiet'> & { quiet?: boolean }) => {
      setExitCode(await runVideo(file, { ...opts, quiet: opts.quiet === true, force: opts.force === true }, deps));
    });
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const signed = (x: number | null): string => (x === null ? 'n/a' : `${x >= 0 ? '+' : ''}${x.toFixed(2)}`);

/** One line of shares: the labels with time, largest first. */
function sharesLine(t: ExpressionTime): string {
  const parts = Object.entries(t.shares).filter(([, s]) => s > 0).sort((a, b) => b[1] - a[1]).map(([l, s]) => `${l} ${pct(s)}`);
  return parts.length ? parts.join(', ') : 'no face';
}

/** The end-of-run summary for stderr (several lines, no trailing newline). */
export function formatVideoSummary(r: VideoFileResult): string {
  const s: VideoSummary = r.summary;
  const lines: string[] = [];
  lines.push(`ferkit video: ${basename(r.file)} ${r.probe.width}x${r.probe.height}, ${s.frames} frames at ${+r.fps.toFixed(3)} fps `
    + `(${formatDuration(s.durationMs / 1000)} of video) in ${formatDuration(r.wallMs / 1000)}: ${r.framesPerSecond.toFixed(1)} frames/s, `
    + `${r.realTimeFactor.toFixed(2)}x real time; detector ran on ${s.detectorRuns} frames (${r.models.detector}), `
    + `${s.framesWithFaces} frames with a face`);
  const shown = s.tracks.slice(0, 20);
  for (const t of shown) {
    lines.push(`  track ${t.trackId}: ${formatDuration(t.durationMs / 1000)} from ${formatDuration(t.firstMs / 1000)}, `
      + `dominant ${t.dominant ?? 'n/a'}; ${sharesLine(t)}; mean valence ${signed(t.meanValence)}`
      + (t.baseline ? `; baseline ${Object.entries(t.baseline).sort((x, y) => y[1] - x[1]).slice(0, 3).map(([l, p]) => `${l} ${p.toFixed(2)}`).join(', ')}` : ''));
  }
  if (s.tracks.length > shown.length) lines.push(`  ... and ${s.tracks.length - shown.length} more tracks (all in the summary file)`);
  lines.push(`  overall (label set ${s.labelSet}): ${s.tracks.length} track${s.tracks.length === 1 ? '' : 's'}, `
    + `dominant ${s.overall.dominant ?? 'n/a'}; ${sharesLine(s.overall)}; mean valence ${signed(s.overall.meanValence)}`);
  const outs = Object.entries(r.outputs).filter(([k, v]) => v !== null && k !== 'chart').map(([k, v]) => `${k} ${v}`);
  if (outs.length) lines.push(`  outputs: ${outs.join(', ')}`);
  return lines.join('\n');
}

/**
 * Runs `ferkit video` with parsed options.
 * @returns the exit code: 0 done, 1 the video could not be read or ended in a decode error, 2 usage error, 3 an output
 *   lost (stdout closed early, output locked or unwritable), 130 interrupted.
 */
export async function runVideo(file: string, opts: VideoCliOptions, deps: VideoDeps): Promise<number> {
  const { io } = deps;
  const progress = createProgress({ stream: io.stderr, isTTY: io.stderrIsTTY, quiet: opts.quiet, unit: 'frames' });
  const say = (line: string): void => progress.log(line);
  const cleanups: (() => void)[] = [() => progress.stop()];
  let stopRequested = false;
  let interrupted = false;
  let stdoutLost: Error | undefined;
  let plan: OutputPlan | undefined;
  try {
    // Signals are handled from the start, so that a SIGTERM while the models load still releases the locks.
    if (deps.handleSignals) {
      const onSignal = (): void => {
        if (interrupted) process.exit(EXIT.INTERRUPTED);
        interrupted = true;
        stopRequested = true;
        progress.log('ferkit: interrupted; finishing the outputs up to this frame (Ctrl-C again to quit now)');
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      cleanups.push(() => { process.off('SIGINT', onSignal); process.off('SIGTERM', onSignal); });
    }
    if (opts.model !== undefined) checkModelOption(opts.model);
    // The input is checked (a regular, non-empty file ffprobe can read) before the outputs are planned, so a bad
    // input creates no output folder and takes no lock.
    const probe = await (deps.probeVideo ?? (await import('../node/video.js')).probeVideo)(file, {
      ...(opts.ffprobe !== undefined ? { ffprobe: opts.ffprobe } : {}),
    });
    const specs: OutputSpec[] = [];
    if (typeof opts.jsonl === 'string' && opts.jsonl !== '-') specs.push({ option: '--jsonl', path: opts.jsonl, kind: 'file' });
    if (opts.tracks) specs.push({ option: '--tracks', path: opts.tracks, kind: 'file' });
    if (opts.annotate) specs.push({ option: '--annotate', path: opts.annotate, kind: 'file' });
    if (opts.summary) specs.push({ option: '--summary', path: opts.summary, kind: 'folder', files: ['summary.json', 'chart.svg', 'chart.png'] });
    plan = await planOutputs(specs, await inputFacts([file], io.cwd), { cwd: io.cwd, force: opts.force === true });
    const real = (option: string): string => plan!.outputs.find((o) => o.option === option)!.real;
    const fileOutputs = specs.length > 0;
    let jsonl: string | TextSink | undefined;
    if (opts.jsonl === undefined || opts.jsonl === '-') {
      const inner = streamSink(io.stdout);
      const lost = (err: Error): void => {
        stdoutLost ??= err;
        // The file outputs are still finished (the whole video); with none, there is nothing left to do.
        if (!fileOutputs) stopRequested = true;
      };
      jsonl = {
        write: async (text) => { if (!stdoutLost) await inner.write(text).catch(lost); },
        commit: async () => { if (!stdoutLost) await inner.commit().catch(lost); },
        abort: () => inner.abort(),
      };
      io.stdout.on('error', lost);
      cleanups.push(() => io.stdout.off('error', lost));
    } else if (opts.jsonl !== false) {
      jsonl = real('--jsonl');
    }
    const analyze = deps.analyzeVideoFile ?? (await import('../node/video.js')).analyzeVideoFile;
    const detector: NonNullable<VideoFileOptions['detector']> = { model: opts.detector };
    if (opts.minScore !== undefined) detector.minScore = opts.minScore;
    if (opts.minFace !== undefined) detector.minFacePx = opts.minFace;
    const result = await analyze(file, {
      probe,
      ...(opts.fps !== undefined ? { fps: opts.fps } : {}),
      analysis: {
        detectEvery: opts.detectEvery,
        tracker: { maxAgeMs: opts.maxAge },
        smoothing: { halfLifeMs: opts.halfLife, hysteresis: opts.hysteresis ? { margin: opts.margin, minDwellMs: opts.dwell, floor: opts.floor ?? DEFAULT_SMOOTHING.floor } : false },
        labels: opts.labels,
        ...(opts.baselineSeconds !== undefined ? { baseline: { seconds: opts.baselineSeconds } } : {}),
      },
      detector,
      ...(opts.model !== undefined ? { classifier: { model: opts.model } } : {}),
      ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
      ...(jsonl !== undefined ? { jsonl } : {}),
      ...(opts.tracks !== undefined ? { tracks: real('--tracks') } : {}),
      ...(opts.annotate !== undefined ? { annotate: real('--annotate') } : {}),
      ...(opts.summary !== undefined ? { summaryDir: real('--summary') } : {}),
      ...(opts.precision !== undefined ? { precision: opts.precision } : {}),
      ...(opts.ffmpeg !== undefined ? { ffmpeg: opts.ffmpeg } : {}),
      ...(opts.ffprobe !== undefined ? { ffprobe: opts.ffprobe } : {}),
      onStart: (_probe, expected) => { if (expected !== null) progress.setTotal(expected); },
      onFrame: (frame) => progress.update(frame.frameIndex + 1, 0),
      shouldStop: () => stopRequested,
    });
    progress.stop();
    if (!opts.quiet) say(formatVideoSummary(result));
    for (const line of plan.cleaned) say(`ferkit: removed a stale temp file of a killed run: ${line}`);
    if (stdoutLost) {
      say(`ferkit: stdout was closed early (${(stdoutLost as NodeJS.ErrnoException).code ?? stdoutLost.message}); the per-frame lines after `
        + `that point were not delivered${fileOutputs ? `; the file outputs hold ${result.complete ? 'the whole video' : `${result.summary.frames} frames`}` : ''}`);
      return EXIT.OUTPUT_FAILED;
    }
    if (interrupted) {
      say(`ferkit: interrupted after ${result.summary.frames} frames; the outputs hold those frames`);
      return EXIT.INTERRUPTED;
    }
    return EXIT.OK;
  } catch (err) {
    progress.stop();
    const code = reportFatal(err, say);
    const partial = err instanceof FerkitError ? (err as VideoFileError).result : undefined;
    if (partial) {
      const outs = Object.entries(partial.outputs).filter(([k, v]) => v !== null && k !== 'chart').map(([, v]) => v);
      say(`ferkit: kept the ${partial.summary.frames} frame${partial.summary.frames === 1 ? '' : 's'} analysed before the error`
        + `${outs.length ? ` in ${outs.join(', ')}` : ''}`);
      if (!opts.quiet) say(formatVideoSummary(partial));
    }
    return code;
  } finally {
    for (const c of cleanups) c();
    await plan?.release();
  }
}
