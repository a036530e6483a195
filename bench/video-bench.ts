/**
 * Video benchmark: prints figures and writes results/video-bench.json. Not a test: timings are noisy, compare within one run.
 *
 *   npx tsc -p . && node dist/bench/video-bench.js
 *   node dist/bench/video-bench.js --video ../shared/media/test.mp4 --repeats 5 --out results/video-bench.json
 *
 * Measures, on one clip at its native size:
 * - end-to-end speed (ffmpeg decode → detect → track → crop + classify → smooth; no outputs written) in frames/s and
 *   as a multiple of real time, with the detector on every frame and every k frames, with ONNX Runtime's default
 *   threads and with 1 thread per model; also with JSONL + the annotated MP4 written;
 * - label flicker (changes of the label per second) of the raw argmax, the smoothed argmax for several half-lives,
 *   and the displayed label with hysteresis, replayed over the same raw probabilities.
 */
import { cpus, loadavg } from 'node:os';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXPRESSIONS, argmax, type Expression, type ExpressionProbabilities } from '../src/core/labels.js';
import { LabelHysteresis, ProbabilityEma, labelChangesPerSecond } from '../src/core/smoothing.js';
import { videoDetectorOptions, type VideoFrameAnalysis } from '../src/core/video.js';
import { createAnalyzer } from '../src/node/index.js';
import { packageRoot } from '../src/node/models.js';
import { writeJsonFileAtomic } from '../src/node/output.js';
import { analyzeVideoFile, probeVideo } from '../src/node/video.js';
import { benchArgs } from './args.js';

const { values: args } = benchArgs(import.meta.url, {
  options: {
    video: { type: 'string', default: join(packageRoot(), '..', 'shared', 'media', 'test.mp4') },
    out: { type: 'string', default: 'results/video-bench.json' },
    repeats: { type: 'string', default: '3' },
    every: { type: 'string', default: '1,2,3,5,10' },
  },
});
const REPEATS = Number(args.repeats);
const EVERY = args.every!.split(',').map(Number);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const r3 = (x: number): number => +x.toFixed(3);

const probe = await probeVideo(args.video!);
const realTimeFps = probe.fps;
console.log(`video: ${args.video} ${probe.width}x${probe.height} ${probe.fps} fps, ${probe.frames} frames, ${probe.durationMs} ms`);
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);

// ---- Speed -------------------------------------------------------------------------------------------------
interface SpeedRow {
  threads: string; detectEvery: number; outputs: string; frames: number; detectorRuns: number;
  framesPerSecond: number; realTimeFactor: number; msPerFrame: { detect: number; classify: number; track: number; other: number };
}
const speed: SpeedRow[] = [];
const det = videoDetectorOptions(probe.width, probe.height);
let flickerFrames: Map<number, VideoFrameAnalysis[]> | undefined;

for (const threads of [undefined, 1] as const) {
  const analyzer = await createAnalyzer({ detector: det, ...(threads ? { threads } : {}) });
  try {
    const configs: { every: number; outputs: 'none' | 'jsonl+annotate' }[] = EVERY.map((every) => ({ every, outputs: 'none' as const }));
    configs.push({ every: 1, outputs: 'jsonl+annotate' });
    for (const { every, outputs } of configs) {
      const runs: { fps: number; rt: number; frames: number; runs: number; stage: SpeedRow['msPerFrame'] }[] = [];
      for (let rep = 0; rep < REPEATS + 1; rep++) {
        const tmp = outputs === 'none' ? null : await mkdtemp(join(tmpdir(), 'ferkit-vbench-'));
        const stage = { detect: 0, classify: 0, track: 0, other: 0 };
        const frames: VideoFrameAnalysis[] = [];
        const res = await analyzeVideoFile(args.video!, {
          pipeline: analyzer.pipeline,
          analysis: { detectEvery: every },
          ...(tmp ? { jsonl: join(tmp, 'f.jsonl'), annotate: join(tmp, 'a.mp4') } : {}),
          onFrame: (f) => {
            stage.detect += f.timingsMs.detect; stage.classify += f.timingsMs.classify; stage.track += f.timingsMs.track;
            if (rep === 1 && outputs === 'none') frames.push(f);
          },
        });
        if (tmp) await rm(tmp, { recursive: true, force: true });
        if (rep === 0) continue; // warm-up
        const n = res.summary.frames;
        const wallPerFrame = res.wallMs / n;
        const s = { detect: stage.detect / n, classify: stage.classify / n, track: stage.track / n, other: 0 };
        s.other = wallPerFrame - s.detect - s.classify - s.track; // decode, pipe, writing outputs
        runs.push({ fps: res.framesPerSecond, rt: res.realTimeFactor, frames: n, runs: res.summary.detectorRuns, stage: s });
        if (rep === 1 && outputs === 'none' && threads === 1) {
          flickerFrames ??= new Map();
          flickerFrames.set(every, frames);
        }
      }
      const best = runs.find((r) => r.fps === median(runs.map((x) => x.fps)))!;
      const row: SpeedRow = {
        threads: threads ? String(threads) : 'ort-default', detectEvery: every, outputs, frames: best.frames, detectorRuns: best.runs,
        framesPerSecond: r3(best.fps), realTimeFactor: r3(best.rt),
        msPerFrame: { detect: r3(best.stage.detect), classify: r3(best.stage.classify), track: r3(best.stage.track), other: r3(best.stage.other) },
      };
      speed.push(row);
      console.log(`threads ${row.threads.padEnd(11)} detectEvery ${String(every).padStart(2)} ${outputs.padEnd(14)} ${row.framesPerSecond.toFixed(1).padStart(6)} frames/s `
        + `${row.realTimeFactor.toFixed(2).padStart(5)}x real time  detector runs ${row.detectorRuns}/${row.frames}  `
        + `ms/frame detect ${row.msPerFrame.detect.toFixed(2)} classify ${row.msPerFrame.classify.toFixed(2)} track ${row.msPerFrame.track.toFixed(2)} decode+other ${row.msPerFrame.other.toFixed(2)}`);
    }
  } finally {
    await analyzer.dispose();
  }
}

// ---- Flicker -------------------------------------------------------------------------------------------------
/** Replays one track's raw probabilities through the EMA (and hysteresis); returns changes per second. */
function flicker(frames: VideoFrameAnalysis[], halfLifeMs: number, hysteresis: { margin: number; minDwellMs: number } | null): Record<string, number> {
  const byTrack = new Map<number, { t: number; p: ExpressionProbabilities }[]>();
  for (const f of frames) for (const face of f.faces) {
    const list = byTrack.get(face.trackId) ?? [];
    list.push({ t: f.timestampMs, p: face.probabilities });
    byTrack.set(face.trackId, list);
  }
  let changesRaw = 0, changesSmooth = 0, seconds = 0;
  for (const obs of byTrack.values()) {
    const ema = new ProbabilityEma<Expression>(halfLifeMs);
    const h = hysteresis ? new LabelHysteresis<Expression>(hysteresis) : null;
    const ts = obs.map((o) => o.t);
    const raw = obs.map((o) => argmax(o.p).label);
    const smooth = obs.map((o) => { const s = ema.update(o.p, o.t); return h ? h.update(s, o.t) : argmax(s).label; });
    const span = (ts[ts.length - 1]! - ts[0]!) / 1000;
    changesRaw += labelChangesPerSecond(raw, ts) * span;
    changesSmooth += labelChangesPerSecond(smooth, ts) * span;
    seconds += span;
  }
  return { raw: r3(changesRaw / seconds), smoothed: r3(changesSmooth / seconds) };
}

const flickerRows: { detectEvery: number; halfLifeMs: number; hysteresis: string; rawPerSecond: number; smoothedPerSecond: number }[] = [];
for (const [every, frames] of flickerFrames ?? []) {
  if (every !== 1 && every !== EVERY[EVERY.length - 1]) continue;
  for (const halfLifeMs of [0, 200, 400, 800]) {
    for (const hyst of [null, { margin: 0.1, minDwellMs: 200 }]) {
      const f = flicker(frames, halfLifeMs, hyst);
      const row = { detectEvery: every, halfLifeMs, hysteresis: hyst ? `margin ${hyst.margin}, dwell ${hyst.minDwellMs} ms` : 'off', rawPerSecond: f.raw!, smoothedPerSecond: f.smoothed! };
      flickerRows.push(row);
      console.log(`flicker detectEvery ${String(every).padStart(2)} half-life ${String(halfLifeMs).padStart(3)} ms hysteresis ${row.hysteresis.padEnd(24)} `
        + `raw ${row.rawPerSecond.toFixed(2)}/s -> ${row.smoothedPerSecond.toFixed(2)}/s`);
    }
  }
}
const tally = (frames: VideoFrameAnalysis[] | undefined): Record<string, number> => {
  const c: Record<string, number> = Object.fromEntries(EXPRESSIONS.map((e) => [e, 0]));
  for (const f of frames ?? []) for (const face of f.faces) c[face.label]!++;
  return c;
};

await writeJsonFileAtomic(args.out!, {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model ?? null, loadAverage: loadavg(), node: process.version },
  video: { file: args.video, ...probe, realTimeFps },
  detector: det,
  note: 'end-to-end = ffmpeg decode + detect + track + crop/classify + smoothing; median of repeats after one warm-up; '
    + 'real-time factor = video time / wall time; flicker = label changes per second on the same raw probabilities',
  speed,
  flicker: flickerRows,
  rawLabelCounts: tally(flickerFrames?.get(1)),
});
console.log(`wrote ${args.out}`);
