/**
 * Video files for Node: ffprobe/ffmpeg as child processes (raw RGB frames over a pipe, one frame in memory at a
 * time), the core video analyzer over them, and the outputs: per-frame JSON Lines, a per-track CSV timeline, an
 * annotated MP4 (encoded by ffmpeg through a pipe), and a summary folder (`summary.json`, `chart.svg`, `chart.png`).
 *
 * Every output is written to a temp file next to its final path and renamed when the video ends — also when it ends
 * in a decode error (a truncated or corrupt file), so the outputs hold every frame analysed up to that point.
 * Needs `ffmpeg` and `ffprobe` on the PATH (Debian: `apt-get install ffmpeg`), or their paths in the options.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { unlinkSync } from 'node:fs';
import { rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import sharp from 'sharp';
import type { Pipeline } from '../core/analyzer.js';
import { FerkitError, numberIn } from '../core/errors.js';
import { EXPRESSIONS, LABEL_SETS, projectProbabilities, type LabelSetId } from '../core/labels.js';
import type { RawImage } from '../core/types.js';
import {
  ExpressionTally, createVideoAnalyzer, videoDetectorOptions,
  type VideoAnalyzerOptions, type VideoFrameAnalysis, type VideoSummary,
} from '../core/video.js';
import { COLOURS, FONT, f1, textOn, xml } from './annotate.js';
import { createAnalyzer, type Analyzer } from './analyzer.js';
import {
  DEFAULT_CSV_PRECISION, csvText, ensureDir, openAtomicFile, tempPathFor, writeFileAtomic, writeJsonFileAtomic, type TextSink,
} from './output.js';
import { notRegularError, specialFileKind } from './inputs.js';

// ---------------------------------------------------------------------------------------------------------------
// Probing and decoding

/** What ffprobe says about a file's first video stream. */
export interface VideoProbe {
  width: number;
  height: number;
  /**
   * Frame rate of the stream, frames/s: ffprobe's `r_frame_rate` for constant-frame-rate video; for a
   * variable-frame-rate (phone) clip, where `r_frame_rate` is the fastest rate seen and `avg_frame_rate` (frames ÷
   * duration) differs from it by more than 5%, the average.
   */
  fps: number;
  /** Duration in ms, or `null` when the container does not say. */
  durationMs: number | null;
  /** Frame count stated by the container, or `null`. */
  frames: number | null;
  codec: string;
}

/** Tools used to read and write video. */
export interface FfmpegPaths {
  /** Path or name of ffmpeg; default `ffmpeg` (from the PATH). */
  ffmpeg?: string;
  /** Path or name of ffprobe; default `ffprobe`. */
  ffprobe?: string;
}

const MISSING_TOOL = (tool: string): string =>
  `reading video needs ${tool} (part of ffmpeg), which was not found on the PATH; install ffmpeg (Debian/Ubuntu: apt-get install ffmpeg) or pass its path`;

/** Cleans ffmpeg's stderr into short lines: drops `[demuxer @ 0x…] ` prefixes and the file name. */
function ffmpegLines(stderr: string, file: string): string[] {
  const lines: string[] = [];
  for (let line of stderr.split(/\r?\n/)) {
    line = line.replace(/^\[[^\]]*@ 0x[0-9a-f]+\]\s*/i, '').trim();
    for (const name of [ffmpegFileArg(file), file]) if (line.startsWith(`${name}: `)) line = line.slice(name.length + 2);
    if (line && !lines.includes(line)) lines.push(line);
  }
  return lines;
}

/** Throws `E_INPUT_READ` / `E_UNSUPPORTED_INPUT` / `E_INPUT_EMPTY` unless `file` is a non-empty regular file. */
async function checkInputFile(file: string): Promise<void> {
  const st = await stat(file).catch((err: NodeJS.ErrnoException) => {
    throw new FerkitError('E_INPUT_READ', `cannot read the video: ${err.code === 'ENOENT' ? 'no such file' : err.message}`, file, { cause: err });
  });
  if (st.isDirectory()) throw new FerkitError('E_INPUT_READ', 'is a folder, expected a video file', file);
  const special = specialFileKind(st);
  if (special) throw notRegularError(file, special);
  if (st.size === 0) throw new FerkitError('E_INPUT_EMPTY', 'the file is empty (0 bytes), expected a video', file);
}

/**
 * How a path is given to ffmpeg/ffprobe: `file:` + the absolute path, so no name is ever read as a protocol or an
 * option (`concat:a.mp4|b.mp4`, `http://…`, `-i`, `pipe:0` are all plain file names here).
 */
export function ffmpegFileArg(path: string): string {
  return `file:${resolve(path)}`;
}

/** Runs a command to completion, collecting stdout and stderr (for ffprobe's small JSON). */
function runTool(cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

const parseRate = (text: string | undefined): number => {
  const m = /^(\d+(?:\.\d+)?)(?:\/(\d+(?:\.\d+)?))?$/.exec(text ?? '');
  if (!m) return NaN;
  return Number(m[1]) / (m[2] ? Number(m[2]) : 1);
};

/**
 * Reads the size, frame rate, duration and frame count of the first video stream with ffprobe.
 * @throws {FerkitError} `E_INPUT_READ` (missing file, a folder), `E_INPUT_EMPTY` (0 bytes), `E_DECODE` (ffprobe cannot
 *   read it: corrupt, truncated before the index, not a media file), `E_UNSUPPORTED_FORMAT` (no video stream, or
 *   ffprobe is not installed); each names the file.
 */
export async function probeVideo(file: string, tools: FfmpegPaths = {}): Promise<VideoProbe> {
  await checkInputFile(file);
  const ffprobe = tools.ffprobe ?? 'ffprobe';
  let res: Awaited<ReturnType<typeof runTool>>;
  try {
    res = await runTool(ffprobe, [
      '-v', 'error', '-select_streams', 'v:0', '-of', 'json',
      '-show_entries',
      'stream=codec_name,width,height,r_frame_rate,avg_frame_rate,nb_frames,duration:stream_tags=rotate:stream_side_data=rotation:format=duration',
      ffmpegFileArg(file),
    ]);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new FerkitError('E_UNSUPPORTED_FORMAT', MISSING_TOOL(ffprobe), file, { cause: err });
    throw err;
  }
  if (res.code !== 0) {
    const lines = ffmpegLines(res.stderr, file);
    throw new FerkitError('E_DECODE', `cannot read the video (corrupt, truncated or not a video): ${lines.slice(-2).join('; ') || `ffprobe exited with ${res.code}`}`, file);
  }
  let json: {
    streams?: {
      codec_name?: string; width?: number; height?: number; r_frame_rate?: string; avg_frame_rate?: string; nb_frames?: string;
      duration?: string; tags?: { rotate?: string }; side_data_list?: { rotation?: number }[];
    }[];
    format?: { duration?: string };
  };
  try {
    json = JSON.parse(res.stdout) as typeof json;
  } catch (cause) {
    throw new FerkitError('E_DECODE', `ffprobe's description of the video is not JSON: ${(cause as Error).message}`, file, { cause });
  }
  const s = json.streams?.[0];
  if (!s || !s.width || !s.height) throw new FerkitError('E_UNSUPPORTED_FORMAT', 'the file has no video stream', file);
  // Phone videos store frames sideways plus a rotation; ffmpeg outputs them upright (autorotate), so ±90° swaps the size.
  const rotation = Number(s.side_data_list?.find((d) => d.rotation !== undefined)?.rotation ?? s.tags?.rotate ?? 0);
  const quarterTurn = Math.abs(Math.round(rotation / 90)) % 2 === 1;
  const [width, height] = quarterTurn ? [s.height, s.width] : [s.width, s.height];
  const usable = (r: number) => r > 0 && r <= 1000;
  const [rFps, avgFps] = [parseRate(s.r_frame_rate ?? ''), parseRate(s.avg_frame_rate ?? '')];
  const variable = usable(rFps) && usable(avgFps) && Math.abs(avgFps - rFps) > 0.05 * rFps;
  const fps = usable(rFps) && !variable ? rFps : avgFps;
  if (!(fps > 0 && fps <= 1000)) throw new FerkitError('E_UNSUPPORTED_FORMAT', `the video stream states no usable frame rate (r_frame_rate ${s.r_frame_rate}, avg_frame_rate ${s.avg_frame_rate})`, file);
  const duration = Number(s.duration ?? json.format?.duration);
  const frames = Number(s.nb_frames);
  return {
    width,
    height,
    fps,
    durationMs: Number.isFinite(duration) && duration > 0 ? duration * 1000 : null,
    frames: Number.isInteger(frames) && frames > 0 ? frames : null,
    codec: s.codec_name ?? 'unknown',
  };
}

/** Frames a decode at `fps` (or the stream's own rate) is expected to give, or `null` when unknown. */
export function expectedFrames(probe: VideoProbe, fps?: number): number | null {
  if (fps === undefined && probe.frames !== null) return probe.frames;
  if (probe.durationMs === null) return null;
  return Math.max(1, Math.round((probe.durationMs / 1000) * (fps ?? probe.fps)));
}

/** One decoded frame. */
export interface DecodedFrame {
  /** 0, 1, 2, … of the decoded (or sampled) frames. */
  index: number;
  /** `index × 1000 / rate`, ms from the start of the video. */
  timestampMs: number;
  /** RGB, 3 channels, a fresh buffer per frame. */
  image: RawImage;
}

/**
 * Decodes `file` with ffmpeg into RGB frames, one at a time: every frame of the stream, once (timestamps
 * `index / probe.fps`, exact for constant-frame-rate video, spread evenly at the mean rate for variable-frame-rate
 * clips), or frames sampled at a constant `fps` by ffmpeg's `fps` filter. Reading stops when the
 * consumer stops (ffmpeg is then killed). After the last frame, a decode problem throws.
 * @throws {FerkitError} `E_DECODE` naming the file when ffmpeg fails or reports an error (corrupt or truncated
 *   data), after every frame it produced has been yielded; `E_INPUT_READ` when the file is gone before ffmpeg opened
 *   it (deleted after the probe); `E_UNSUPPORTED_FORMAT` when ffmpeg is missing.
 */
export async function* decodeVideoFrames(file: string, probe: VideoProbe, options: FfmpegPaths & { fps?: number } = {}): AsyncGenerator<DecodedFrame> {
  const ffmpeg = options.ffmpeg ?? 'ffmpeg';
  const rate = options.fps ?? probe.fps;
  const timing = options.fps !== undefined ? ['-vf', `fps=${options.fps}`] : ['-fps_mode', 'passthrough'];
  const { width, height } = probe;
  const frameBytes = width * height * 3;
  const child = spawn(ffmpeg, [
    '-v', 'error', '-nostdin', '-i', ffmpegFileArg(file), '-map', '0:v:0', '-an', '-sn', '-dn',
    ...timing, '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => { if (stderr.length < 16_384) stderr += c; });
  const exited = new Promise<{ code: number | null; error?: NodeJS.ErrnoException }>((resolve) => {
    child.on('error', (error: NodeJS.ErrnoException) => resolve({ code: null, error }));
    child.on('close', (code) => resolve({ code }));
  });
  let index = 0;
  let frame = Buffer.allocUnsafe(frameBytes);
  let filled = 0;
  let finished = false;
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      let off = 0;
      while (off < chunk.length) {
        const n = Math.min(frameBytes - filled, chunk.length - off);
        chunk.copy(frame, filled, off, off + n);
        filled += n;
        off += n;
        if (filled === frameBytes) {
          const image: RawImage = { data: frame, width, height, channels: 3 };
          yield { index, timestampMs: (index * 1000) / rate, image };
          index++;
          frame = Buffer.allocUnsafe(frameBytes);
          filled = 0;
        }
      }
    }
    const { code, error } = await exited;
    finished = true;
    if (error) {
      if (error.code === 'ENOENT') throw new FerkitError('E_UNSUPPORTED_FORMAT', MISSING_TOOL(ffmpeg), file, { cause: error });
      throw new FerkitError('E_DECODE', `cannot run ${ffmpeg}: ${error.message}`, file, { cause: error });
    }
    const lines = ffmpegLines(stderr, file);
    if (code !== 0 && index === 0 && (await stat(file).catch((err: NodeJS.ErrnoException) => err.code)) === 'ENOENT') {
      throw new FerkitError('E_INPUT_READ', 'the video disappeared during the run (deleted or moved after it was probed); no frame was read', file);
    }
    if (code !== 0 || lines.length > 0 || filled > 0) {
      const expected = expectedFrames(probe, options.fps);
      const detail = lines.slice(-3).join('; ') || (filled > 0 ? 'the last frame is incomplete' : `ffmpeg exited with code ${code}`);
      throw new FerkitError('E_DECODE',
        `the video is corrupt or truncated: decoding stopped with an error after ${index} frame${index === 1 ? '' : 's'}`
        + `${expected !== null ? ` (about ${expected} expected)` : ''}: ${detail}`, file);
    }
  } finally {
    if (!finished) {
      child.kill('SIGKILL');
      await exited;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Encoding

/** An ffmpeg process encoding raw RGB frames into an MP4 (H.264) written to a temp file. */
export interface VideoEncoder {
  /** Appends one `width × height` RGB frame; resolves when ffmpeg has taken it (backpressure). */
  write(rgb: Uint8Array): Promise<void>;
  /** Ends the stream, waits for ffmpeg and renames the temp file onto the output path. */
  commit(): Promise<void>;
  /** Kills ffmpeg and removes the temp file. Safe after commit (no-op). */
  abort(): Promise<void>;
}

/**
 * Starts ffmpeg encoding `width × height` RGB frames at `fps` frames/s into `outPath` (.mp4; H.264 with libx264,
 * yuv420p, odd sizes padded by one pixel). Until {@link VideoEncoder.commit}, the video goes to `.<name>.ferkit-tmp-<pid>` beside it.
 * @throws {FerkitError} `E_OPTION` when `outPath` does not end in .mp4 or its folder cannot be created.
 */
export async function openVideoEncoder(
  outPath: string, video: { width: number; height: number; fps: number }, tools: FfmpegPaths = {},
): Promise<VideoEncoder> {
  if (extname(outPath).toLowerCase() !== '.mp4') {
    throw new FerkitError('E_OPTION', `the annotated video must end in .mp4, got "${extname(outPath) || '(no extension)'}"`, outPath);
  }
  if ((await stat(outPath).catch(() => null))?.isDirectory()) throw new FerkitError('E_OUTPUT', 'output path is a folder, expected a .mp4 file name', outPath);
  await ensureDir(dirname(outPath), outPath);
  const tmp = tempPathFor(outPath);
  await unlink(tmp).catch(() => undefined);
  const ffmpeg = tools.ffmpeg ?? 'ffmpeg';
  const child: ChildProcessByStdio<Writable, null, Readable> = spawn(ffmpeg, [
    '-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${video.width}x${video.height}`, '-framerate', String(video.fps),
    '-i', 'pipe:0', '-an', '-vf', 'pad=ceil(iw/2)*2:ceil(ih/2)*2', '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '20',
    '-pix_fmt', 'yuv420p', '-metadata', 'comment=ferkit video', '-movflags', '+faststart', '-f', 'mp4', ffmpegFileArg(tmp),
  ], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => { if (stderr.length < 16_384) stderr += c; });
  let failure: Error | undefined;
  const exited = new Promise<number | null>((resolve) => {
    child.on('error', (err: NodeJS.ErrnoException) => {
      failure = err.code === 'ENOENT' ? new FerkitError('E_UNSUPPORTED_FORMAT', MISSING_TOOL(ffmpeg).replace('reading', 'writing'), outPath, { cause: err }) : err;
      resolve(null);
    });
    child.on('close', (code) => resolve(code));
  });
  child.stdin.on('error', (err) => { failure ??= err; });
  let state: 'open' | 'committed' | 'aborted' = 'open';
  const onExit = (): void => {
    if (state !== 'committed') {
      try { child.kill('SIGKILL'); unlinkSync(tmp); } catch { /* gone */ }
    }
  };
  process.on('exit', onExit);
  const encoderError = (): Error => failure instanceof FerkitError ? failure
    : new FerkitError('E_UNSUPPORTED_FORMAT', `ffmpeg could not encode the annotated video: ${ffmpegLines(stderr, tmp).slice(-2).join('; ') || failure?.message || 'it exited early'}`, outPath);
  return {
    async write(rgb) {
      if (state !== 'open') throw new Error(`write after ${state}: ${outPath}`);
      if (failure || child.exitCode !== null) throw encoderError();
      if (!child.stdin.write(rgb)) {
        await new Promise<void>((resolve, reject) => {
          const done = (): void => { child.stdin.off('drain', done); child.off('close', closed); resolve(); };
          const closed = (): void => { child.stdin.off('drain', done); reject(encoderError()); };
          child.stdin.on('drain', done);
          child.once('close', closed);
        });
      }
    },
    async commit() {
      if (state !== 'open') throw new Error(`commit after ${state}: ${outPath}`);
      child.stdin.end();
      const code = await exited;
      try {
        if (code !== 0) throw encoderError();
        await rename(tmp, outPath);
        state = 'committed';
      } catch (err) {
        state = 'aborted';
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
      child.kill('SIGKILL');
      await exited;
      await unlink(tmp).catch(() => undefined);
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Drawing

/** Colours of track lines in the chart (by track id). */
const TRACK_COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];

/** Part of a frame overlay: SVG elements in frame pixels, and the integer rectangle they cover (clipped to the frame). */
interface OverlayPiece { elements: string[]; left: number; top: number; width: number; height: number }

/** The overlay of one frame, in pieces: one per face (box and its two tags) and one for the clock. */
function overlayPieces(frame: VideoFrameAnalysis, width: number, height: number): OverlayPiece[] {
  const base = Math.max(width, height) / 100;
  const font = Math.max(12, base * 2.4);
  const stroke = Math.max(2, base * 0.4);
  const pieces: OverlayPiece[] = [];
  const piece = (elements: string[], x0: number, y0: number, x1: number, y1: number): void => {
    const left = Math.max(0, Math.floor(x0));
    const top = Math.max(0, Math.floor(y0));
    const right = Math.min(width, Math.ceil(x1));
    const bottom = Math.min(height, Math.ceil(y1));
    if (right > left && bottom > top) pieces.push({ elements, left, top, width: right - left, height: bottom - top });
  };
  for (const face of frame.faces) {
    const el: string[] = [];
    const colour = COLOURS[face.displayLabel] ?? '#ffffff';
    const { x, y, width: w, height: h } = face.box;
    const dash = face.boxSource === 'predicted' ? ` stroke-dasharray="${f1(stroke * 3)} ${f1(stroke * 2)}"` : '';
    el.push(`<rect x="${f1(x)}" y="${f1(y)}" width="${f1(w)}" height="${f1(h)}" fill="none" stroke="${colour}" stroke-width="${f1(stroke)}"${dash}/>`);
    const probs: Record<string, number> = frame.labelSet === '7' ? face.smoothed.probabilities : projectProbabilities(face.smoothed.probabilities, frame.labelSet);
    const p = probs[face.displayLabel];
    // "?" when the shown label is below the smoothing floor or this frame's face failed the quality gate
    const unsure = face.displayUncertain || face.quality.status === 'uncertain';
    const tag = `#${face.trackId} ${face.displayLabel}${p !== undefined ? ` ${p.toFixed(2)}` : ''}${unsure ? ' ?' : ''}`;
    const pad = font * 0.3;
    const tagW = tag.length * font * 0.62 + 2 * pad;
    const tagH = font + 2 * pad;
    const tx = Math.min(Math.max(0, x - stroke / 2), Math.max(0, width - tagW));
    const ty = y - stroke / 2 - tagH >= 0 ? y - stroke / 2 - tagH : y + stroke / 2;
    el.push(`<rect x="${f1(tx)}" y="${f1(ty)}" width="${f1(tagW)}" height="${f1(tagH)}" fill="${colour}"/>`);
    el.push(`<text x="${f1(tx + pad)}" y="${f1(ty + pad + font * 0.82)}" font-size="${f1(font)}" font-weight="bold" fill="${textOn(colour)}">${xml(tag)}</text>`);
    const small = font * 0.75;
    const raw = `raw ${face.label} ${face.labelScore.toFixed(2)}  valence ${face.smoothed.valenceScore >= 0 ? '+' : ''}${face.smoothed.valenceScore.toFixed(2)}`
      + (face.quality.status === 'uncertain' ? `  (${face.quality.reasons.join(', ')})` : '');
    const rw = raw.length * small * 0.62 + 2 * pad;
    const rh = small * 1.5;
    const rx = Math.min(Math.max(0, x - stroke / 2), Math.max(0, width - rw));
    const ry = y + h + stroke / 2 + rh <= height ? y + h + stroke / 2 : Math.max(0, y + h - rh);
    el.push(`<rect x="${f1(rx)}" y="${f1(ry)}" width="${f1(rw)}" height="${f1(rh)}" fill="#000" fill-opacity="0.6"/>`);
    el.push(`<text x="${f1(rx + pad)}" y="${f1(ry + small * 1.1)}" font-size="${f1(small)}" fill="#fff">${xml(raw)}</text>`);
    piece(el, Math.min(x, tx, rx) - stroke, Math.min(y, ty) - stroke, Math.max(x + w, tx + tagW, rx + rw) + stroke, Math.max(y + h, ty + tagH, ry + rh) + stroke);
  }
  const clock = `${(frame.timestampMs / 1000).toFixed(2)} s  #${frame.frameIndex}${frame.detectorRan ? '' : '  (tracked)'}`;
  const small = Math.max(10, base * 1.6);
  const cw = clock.length * small * 0.62 + small * 0.6;
  piece([
    `<rect x="0" y="0" width="${f1(cw)}" height="${f1(small * 1.5)}" fill="#000" fill-opacity="0.6"/>`,
    `<text x="${f1(small * 0.3)}" y="${f1(small * 1.1)}" font-size="${f1(small)}" fill="#fff">${xml(clock)}</text>`,
  ], 0, 0, cw, small * 1.5);
  return pieces;
}

/**
 * The overlay for one analysed frame, as SVG on a `width × height` canvas (frame pixels): per face a box in the
 * displayed label's colour (dashed when the box is a motion-model prediction), a tag `#<trackId> <label> <p>` with
 * the displayed label and its smoothed probability, and a smaller `raw <label> <p>  valence <v>` line; the time in the corner.
 */
export function frameOverlaySvg(frame: VideoFrameAnalysis, width: number, height: number): string {
  const body = overlayPieces(frame, width, height).flatMap((p) => p.elements);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="${FONT}">\n${body.join('\n')}\n</svg>`;
}

/**
 * Draws {@link frameOverlaySvg} onto an RGB frame with sharp; returns RGB bytes of the same size. Each face's part is
 * rendered on its own small canvas (a crop of the overlay, via `viewBox`), which costs a fraction of a full-frame SVG.
 */
export async function drawFrame(image: RawImage, frame: VideoFrameAnalysis): Promise<Buffer> {
  const layers = overlayPieces(frame, image.width, image.height).map((p) => ({
    input: Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${p.width}" height="${p.height}" viewBox="${p.left} ${p.top} ${p.width} ${p.height}" font-family="${FONT}">${p.elements.join('')}</svg>`),
    left: p.left,
    top: p.top,
  }));
  const { data, info } = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: image.channels } })
    .composite(layers)
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`drawFrame: expected 3 channels back from sharp, got ${info.channels}`);
  return data;
}

/** Time bins for the chart: per bin, valence per track and label time over all tracks. */
export class TimelineBins {
  readonly bins: { valence: Map<number, { sum: number; ms: number }>; tally: ExpressionTally }[] = [];
  constructor(readonly binMs: number, readonly labelSet: LabelSetId) {}

  /** Adds the faces of one frame, each covering `durationMs`. */
  add(frame: VideoFrameAnalysis, durationMs: number): void {
    const i = Math.max(0, Math.floor(frame.timestampMs / this.binMs));
    while (this.bins.length <= i) this.bins.push({ valence: new Map(), tally: new ExpressionTally(this.labelSet) });
    const bin = this.bins[i]!;
    for (const f of frame.faces) {
      const v = bin.valence.get(f.trackId) ?? { sum: 0, ms: 0 };
      v.sum += f.smoothed.valenceScore * durationMs;
      v.ms += durationMs;
      bin.valence.set(f.trackId, v);
      bin.tally.add(f.displayLabel, durationMs, f.smoothed.probabilities, f.smoothed.valenceScore);
    }
  }
}

/**
 * The summary chart as SVG (960 × 560): valence over time per track (top; smoothed P(positive) − P(negative), −1 to
 * 1) and the share of each displayed label per time bin over all faces (bottom, stacked; empty where no face was seen).
 */
export function summaryChartSvg(bins: TimelineBins, summary: VideoSummary, title: string): string {
  const W = 960, H = 560, L = 64, R = 150, T = 48;
  const plotW = W - L - R;
  const vTop = T, vH = 200, sTop = T + vH + 56, sH = 200;
  const n = Math.max(1, bins.bins.length);
  const totalS = (n * bins.binMs) / 1000;
  const xOf = (i: number): number => L + (i / n) * plotW;
  const yV = (v: number): number => vTop + ((1 - v) / 2) * vH;
  const parts: string[] = [];
  parts.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(`<text x="${L}" y="28" font-size="16" font-weight="bold">${xml(title)}</text>`);
  // Axes and grid.
  for (const v of [-1, -0.5, 0, 0.5, 1]) {
    parts.push(`<line x1="${L}" x2="${L + plotW}" y1="${f1(yV(v))}" y2="${f1(yV(v))}" stroke="${v === 0 ? '#888' : '#e5e5e5'}"/>`);
    parts.push(`<text x="${L - 8}" y="${f1(yV(v) + 4)}" font-size="11" text-anchor="end">${v > 0 ? '+' : ''}${v}</text>`);
  }
  parts.push(`<text x="16" y="${vTop + vH / 2}" font-size="12" transform="rotate(-90 16 ${vTop + vH / 2})" text-anchor="middle">valence</text>`);
  for (const p of [0, 0.5, 1]) {
    const y = sTop + (1 - p) * sH;
    parts.push(`<line x1="${L}" x2="${L + plotW}" y1="${f1(y)}" y2="${f1(y)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${L - 8}" y="${f1(y + 4)}" font-size="11" text-anchor="end">${p * 100}%</text>`);
  }
  parts.push(`<text x="16" y="${sTop + sH / 2}" font-size="12" transform="rotate(-90 16 ${sTop + sH / 2})" text-anchor="middle">label share</text>`);
  const step = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600].find((s) => totalS / s <= 10) ?? 7200;
  for (let s = 0; s <= totalS + 1e-9; s += step) {
    const x = L + (s / totalS) * plotW;
    parts.push(`<line x1="${f1(x)}" x2="${f1(x)}" y1="${sTop + sH}" y2="${sTop + sH + 5}" stroke="#333"/>`);
    parts.push(`<text x="${f1(x)}" y="${sTop + sH + 18}" font-size="11" text-anchor="middle">${+s.toFixed(1)}</text>`);
    parts.push(`<line x1="${f1(x)}" x2="${f1(x)}" y1="${vTop + vH}" y2="${vTop + vH + 5}" stroke="#333"/>`);
  }
  parts.push(`<text x="${L + plotW / 2}" y="${sTop + sH + 36}" font-size="12" text-anchor="middle">time (s)</text>`);
  // Valence lines, one per track (broken where the track is absent).
  const trackIds = summary.tracks.map((t) => t.trackId);
  trackIds.forEach((id, k) => {
    const colour = TRACK_COLOURS[k % TRACK_COLOURS.length]!;
    let d = '';
    let pen = false;
    bins.bins.forEach((b, i) => {
      const v = b.valence.get(id);
      if (!v || v.ms <= 0) { pen = false; return; }
      d += `${pen ? 'L' : 'M'}${f1((xOf(i) + xOf(i + 1)) / 2)} ${f1(yV(v.sum / v.ms))} `;
      pen = true;
    });
    if (d) parts.push(`<path d="${d.trim()}" fill="none" stroke="${colour}" stroke-width="2"/>`);
  });
  // Stacked label shares.
  const labels = LABEL_SETS[bins.labelSet].labels;
  bins.bins.forEach((b, i) => {
    const r = b.tally.result();
    if (r.frames === 0) return;
    let acc = 0;
    for (const l of labels) {
      const s = r.shares[l] ?? 0;
      if (s <= 0) continue;
      const y = sTop + (1 - acc - s) * sH;
      parts.push(`<rect x="${f1(xOf(i))}" y="${f1(y)}" width="${f1(Math.max(0.5, xOf(i + 1) - xOf(i)))}" height="${f1(s * sH)}" fill="${COLOURS[l] ?? '#999'}" shape-rendering="crispEdges"/>`);
      acc += s;
    }
  });
  parts.push(`<rect x="${L}" y="${vTop}" width="${plotW}" height="${vH}" fill="none" stroke="#333"/>`);
  parts.push(`<rect x="${L}" y="${sTop}" width="${plotW}" height="${sH}" fill="none" stroke="#333"/>`);
  // Legends.
  const lx = L + plotW + 16;
  trackIds.slice(0, 12).forEach((id, k) => {
    const t = summary.tracks[k]!;
    const y = vTop + 10 + k * 18;
    parts.push(`<line x1="${lx}" x2="${lx + 18}" y1="${y}" y2="${y}" stroke="${TRACK_COLOURS[k % TRACK_COLOURS.length]}" stroke-width="3"/>`);
    parts.push(`<text x="${lx + 24}" y="${y + 4}" font-size="11">track ${id} (${(t.durationMs / 1000).toFixed(1)} s)</text>`);
  });
  if (trackIds.length > 12) parts.push(`<text x="${lx}" y="${vTop + 10 + 12 * 18 + 4}" font-size="11">+${trackIds.length - 12} more</text>`);
  labels.forEach((l, k) => {
    const y = sTop + 6 + k * 18;
    parts.push(`<rect x="${lx}" y="${y}" width="14" height="12" fill="${COLOURS[l] ?? '#999'}"/>`);
    const share = summary.overall.shares[l] ?? 0;
    parts.push(`<text x="${lx + 20}" y="${y + 10}" font-size="11">${xml(l)} ${(share * 100).toFixed(1)}%</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="${FONT}">\n<!-- ferkit chart -->\n${parts.join('\n')}\n</svg>`;
}

// ---------------------------------------------------------------------------------------------------------------
// Per-track CSV

/** CSV columns of the `--tracks` timeline (`p_*`: raw probabilities, `s_*`: smoothed). */
export const TRACK_CSV_HEADER: readonly string[] = [
  'track_id', 'frame', 'time_ms', 'box_source', 'x', 'y', 'width', 'height', 'detection_score',
  'raw_label', 'raw_score', 'smoothed_label', 'smoothed_score', 'display_label', 'valence', 'valence_score',
  'display_uncertain', 'quality', 'quality_reasons', ...EXPRESSIONS.map((e) => `p_${e}`), ...EXPRESSIONS.map((e) => `s_${e}`),
];

/** The `--tracks` rows of one frame: one per face, in track-id order. */
export function trackCsvRows(frame: VideoFrameAnalysis): (string | number)[][] {
  return frame.faces.map((f) => [
    f.trackId, frame.frameIndex, frame.timestampMs, f.boxSource, f.box.x, f.box.y, f.box.width, f.box.height, f.score,
    f.label, f.labelScore, f.smoothed.label, f.smoothed.labelScore, f.displayLabel, f.smoothed.valence, f.smoothed.valenceScore,
    f.displayUncertain ? 1 : 0, f.quality.status, f.quality.reasons.join(' '), ...EXPRESSIONS.map((e) => f.probabilities[e]), ...EXPRESSIONS.map((e) => f.smoothed.probabilities[e]),
  ]);
}

// ---------------------------------------------------------------------------------------------------------------
// The whole file

/** Options of {@link analyzeVideoFile}. */
export interface VideoFileOptions extends FfmpegPaths {
  /** The file's {@link probeVideo} result when the caller already has it (the file is then not probed again). */
  probe?: VideoProbe;
  /** Sample this many frames per second (in (0, 1000]); default: every frame at the stream's rate. */
  fps?: number;
  /** Tracking, detection schedule, smoothing, label set. */
  analysis?: VideoAnalyzerOptions;
  /**
   * Detector options; `model` defaults to the frame size's ({@link videoDetectorOptions}: front up to 640 px, else
   * back), tiling is always off. Ignored when `pipeline` is given.
   */
  detector?: { model?: 'auto' | 'front' | 'back'; minScore?: number; minFacePx?: number; maxFaces?: number };
  /** Classifier model id or .onnx path (default: the bundled one). Ignored when `pipeline` is given. */
  classifier?: { model?: string };
  /** ONNX Runtime intra-op threads per session. Ignored when `pipeline` is given. */
  threads?: number;
  /** Use these loaded models instead of loading them (they are not disposed). */
  pipeline?: Pick<Pipeline, 'detector' | 'classifier'>;
  /** Per-frame JSON Lines: a file path (written atomically) or a sink (e.g. `streamSink(process.stdout)`). */
  jsonl?: string | TextSink;
  /** Per-track CSV timeline, one row per face per analysed frame. */
  tracks?: string;
  /** Decimal places of numbers in the tracks CSV (default 4; `null`: full precision). */
  precision?: number | null;
  /** Annotated video (.mp4). */
  annotate?: string;
  /** Folder for `summary.json`, `chart.svg` and `chart.png`. */
  summaryDir?: string;
  /** Called once the video is probed, with the number of frames expected (or `null`). */
  onStart?: (probe: VideoProbe, expectedFrames: number | null) => void;
  /** Called after each frame is analysed and written. */
  onFrame?: (frame: VideoFrameAnalysis) => void;
  /** Checked before each frame; returning `true` stops (outputs are kept up to the last frame). */
  shouldStop?: () => boolean;
}

/** The outcome of {@link analyzeVideoFile}. */
export interface VideoFileResult {
  file: string;
  probe: VideoProbe;
  /** Sampling rate used, frames/s. */
  fps: number;
  summary: VideoSummary;
  /** `false` when stopped by `shouldStop` or a decode error. */
  complete: boolean;
  /** The decode error that ended the video early (then also thrown), or `null`. */
  error: { code: string; message: string } | null;
  models: { detector: string; classifier: string };
  /**
   * Wall time from the start of decoding to the end of the last frame's outputs (model loading excluded), and the speed:
   * analysed frames per second, and video time analysed per wall-clock time (≥ 1: faster than real time).
   */
  wallMs: number;
  framesPerSecond: number;
  realTimeFactor: number;
  /** Output paths written (null: not asked for). */
  outputs: { jsonl: string | null; tracks: string | null; annotate: string | null; summary: string | null; chart: string | null };
}

/** A thrown error of {@link analyzeVideoFile} after partial outputs were written carries the partial result. */
export interface VideoFileError extends FerkitError { result?: VideoFileResult }

/**
 * Analyses a video file frame by frame and writes the asked-for outputs. Frames are streamed: memory holds one
 * decoded frame (plus ffmpeg's pipe buffers) whatever the video's length.
 *
 * JSON Lines (`jsonl`): one {@link VideoFrameAnalysis} per line: `frameIndex`, `timestampMs`, `detectorRan`, and per
 * face `trackId`, `box`, `boxSource`, `keypoints`, `score` (detection), raw `probabilities`/`label`/`labelScore`/
 * `valence`, `smoothed` {probabilities, label, labelScore, valence, valenceScore} and `displayLabel`.
 *
 * @throws {FerkitError} input errors of {@link probeVideo}; `E_OPTION` for bad options or unwritable outputs (before any
 *   work); `E_DECODE` for a corrupt or truncated video — thrown after the outputs were committed with every frame
 *   analysed before the error (the error's `result` holds the partial {@link VideoFileResult}); `E_INPUT_READ` when
 *   the file disappears before decoding starts (then nothing is written).
 */
export async function analyzeVideoFile(file: string, options: VideoFileOptions = {}): Promise<VideoFileResult> {
  const fps = options.fps === undefined ? undefined : numberIn('fps', options.fps, 1e-3, 1000);
  const precision = options.precision === undefined ? DEFAULT_CSV_PRECISION : options.precision === null ? null : numberIn('precision', options.precision, 0, 17);
  const probe = options.probe ?? await probeVideo(file, options);
  const rate = fps ?? probe.fps;
  const frameMs = 1000 / rate;
  const expected = expectedFrames(probe, fps);
  if (options.summaryDir && (await stat(options.summaryDir).catch(() => null))?.isFile()) {
    throw new FerkitError('E_OPTION', 'the summary folder is a file, expected a folder name', options.summaryDir);
  }

  let analyzer: Analyzer | undefined;
  let pipeline = options.pipeline;
  const sinks: { jsonl?: TextSink; tracks?: TextSink } = {};
  let encoder: VideoEncoder | undefined;
  const abortAll = async (): Promise<void> => {
    await Promise.all([sinks.jsonl?.abort(), sinks.tracks?.abort(), encoder?.abort()]);
  };
  try {
    if (!pipeline) {
      const auto = videoDetectorOptions(probe.width, probe.height);
      const det = options.detector ?? {};
      analyzer = await createAnalyzer({
        detector: {
          model: det.model === undefined || det.model === 'auto' ? auto.model : det.model, tiling: 'off',
          ...(det.minScore !== undefined ? { minScore: det.minScore } : {}),
          ...(det.minFacePx !== undefined ? { minFacePx: det.minFacePx } : {}),
          ...(det.maxFaces !== undefined ? { maxFaces: det.maxFaces } : {}),
        },
        ...(options.classifier?.model !== undefined ? { classifier: { model: options.classifier.model } } : {}),
        ...(options.threads !== undefined ? { threads: options.threads } : {}),
        ...(options.analysis?.labels !== undefined ? { labels: options.analysis.labels } : {}),
      });
      pipeline = analyzer.pipeline;
    }
    const video = createVideoAnalyzer(pipeline, options.analysis);
    const labelSet = video.options.labels;
    if (typeof options.jsonl === 'string') sinks.jsonl = await openAtomicFile(options.jsonl, { bufferBytes: 1 });
    else if (options.jsonl) sinks.jsonl = options.jsonl;
    if (options.tracks) {
      sinks.tracks = await openAtomicFile(options.tracks, { bufferBytes: 1 });
      await sinks.tracks.write(csvText([TRACK_CSV_HEADER], precision));
    }
    if (options.annotate) encoder = await openVideoEncoder(options.annotate, { width: probe.width, height: probe.height, fps: rate }, options);
    options.onStart?.(probe, expected);

    const bins = new TimelineBins(Math.max(frameMs, (probe.durationMs ?? 0) / 150), labelSet);
    let decodeError: FerkitError | undefined;
    let stopped = false;
    let lastTs = -frameMs;
    const started = performance.now();
    // Drawing and encoding frame n overlaps with the analysis of frame n + 1 (one frame in flight).
    let drawing: Promise<void> = Promise.resolve();
    try {
      for await (const decoded of decodeVideoFrames(file, probe, { ...options, fps })) {
        if (options.shouldStop?.()) { stopped = true; break; }
        const frame = await video.analyzeFrame(decoded.image, decoded.timestampMs);
        lastTs = decoded.timestampMs;
        bins.add(frame, frameMs);
        if (sinks.jsonl) await sinks.jsonl.write(`${JSON.stringify(frame)}\n`);
        if (sinks.tracks && frame.faces.length > 0) await sinks.tracks.write(csvText(trackCsvRows(frame), precision));
        if (encoder) {
          await drawing;
          const enc = encoder;
          drawing = drawFrame(decoded.image, frame).then((rgb) => enc.write(rgb));
          drawing.catch(() => undefined); // awaited at the next frame or below; no unhandled rejection meanwhile
        }
        options.onFrame?.(frame);
      }
    } catch (err) {
      if (!(err instanceof FerkitError && err.code === 'E_DECODE')) throw err;
      decodeError = err;
    }
    await drawing;

    // Commit everything analysed so far (also after a decode error).
    const summary = video.summary(lastTs + frameMs);
    const wallMs = performance.now() - started;
    const result: VideoFileResult = {
      file,
      probe,
      fps: rate,
      summary,
      complete: !stopped && !decodeError,
      error: decodeError ? { code: decodeError.code, message: decodeError.message } : null,
      models: { detector: pipeline.detector?.id ?? 'none', classifier: pipeline.classifier.id },
      wallMs,
      framesPerSecond: summary.frames / (wallMs / 1000),
      realTimeFactor: summary.durationMs / wallMs,
      outputs: {
        jsonl: typeof options.jsonl === 'string' ? options.jsonl : null,
        tracks: options.tracks ?? null,
        annotate: options.annotate ?? null,
        summary: options.summaryDir ? join(options.summaryDir, 'summary.json') : null,
        chart: options.summaryDir ? join(options.summaryDir, 'chart.svg') : null,
      },
    };
    await sinks.jsonl?.commit();
    await sinks.tracks?.commit();
    await encoder?.commit();
    if (options.summaryDir) {
      const svg = summaryChartSvg(bins, summary, `${basename(file)}: valence and expressions over time`);
      await writeFileAtomic(join(options.summaryDir, 'chart.svg'), Buffer.from(svg));
      await writeFileAtomic(join(options.summaryDir, 'chart.png'), await sharp(Buffer.from(svg)).withExif({ IFD0: { Software: 'ferkit chart' } }).png().toBuffer());
      const { summary: s, outputs, ...rest } = result;
      await writeJsonFileAtomic(join(options.summaryDir, 'summary.json'), {
        ...rest,
        settings: { ...video.options, fps: rate, sampled: fps !== undefined },
        outputs,
        ...s,
      });
    }
    if (decodeError) {
      (decodeError as VideoFileError).result = result;
      throw decodeError;
    }
    return result;
  } catch (err) {
    await abortAll();
    throw err;
  } finally {
    await analyzer?.dispose();
  }
}
