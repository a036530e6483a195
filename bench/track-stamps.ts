/**
 * Live tracking under a loaded browser: does one face keep one track id when the frame timestamps do not match the
 * frames' content? Not a test: it prints figures and writes `results/track-stamps.json`.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/track-stamps.js [--video ../shared/media/test.mp4] [--seeds 16] [--stamps matched,mismatched]
 *
 * The talking-head clip is decoded once (ffmpeg, 640×480 at 30 fps, as the web tests' fake camera gets it) and replayed,
 * looping, through the live pipeline (`createVideoAnalyzer` with the web app's detector options: front model, no
 * tiling; its track age of 1.5 s) for 30 s of page time with a Photos-tab pause of 4 s and a camera stop of 2.5 s
 * (both cut to 500 ms of analysis time, as `web/src/clock.ts` does). Per run, page time advances by random frame
 * intervals around `step` ms, and the frame shown is the one at that page time. Two stamp models:
 * - `matched` (the control): frame intervals of the step ×0.2–1.8, and each stamp follows the last by the interval
 *   the content advanced (cut to 15–500 ms as the clock does);
 * - `mismatched`: stamps drawn independently of the content (30% back to back, 15 ms; otherwise 0–3 × step) while the
 *   content sometimes jumps 4 steps: what a loaded Chromium delivers (frames late and back to back, stamps that do not
 *   say how far the face moved).
 * Reported per model and step: runs in which the face got more than one track id (a split).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { RawImage } from '../src/core/types.js';
import { createVideoAnalyzer } from '../src/core/video.js';
import { createAnalyzer } from '../src/node/analyzer.js';
import { packageRoot } from '../src/node/models.js';
import { writeJsonFileAtomic } from '../src/node/output.js';
import { cameraFilter } from './web-bench.js';
import { benchArgs } from './args.js';

const root = packageRoot();
const { values: args } = benchArgs(import.meta.url, {
  options: {
    video: { type: 'string', default: join(root, '..', 'shared', 'media', 'test.mp4') },
    seeds: { type: 'string', default: '16' },
    stamps: { type: 'string', default: 'matched,mismatched' },
    out: { type: 'string', default: join(root, 'results', 'track-stamps.json') },
  },
});
if (!existsSync(args.video)) {
  console.error(`track-stamps: ${args.video} not found (the clip from ../shared/media; pass --video)`);
  process.exit(2);
}
const seeds = Number(args.seeds);
const W = 640; // cameraFilter's output
const H = 480;
const FPS = 30;
const raw = execFileSync('ffmpeg', ['-v', 'error', '-i', args.video, '-vf', cameraFilter(FPS),
  '-pix_fmt', 'rgb24', '-f', 'rawvideo', 'pipe:1'], { maxBuffer: 1 << 30 });
const frameBytes = W * H * 3;
const frames: RawImage[] = [];
for (let i = 0; i + frameBytes <= raw.length; i += frameBytes) frames.push({ width: W, height: H, channels: 3, data: raw.subarray(i, i + frameBytes) });
console.log(`${args.video}: ${frames.length} frames at ${FPS} fps, ${W}x${H}`);

const analyzer = await createAnalyzer({ detector: { model: 'front', tiling: 'off' } });
const STEPS = [40, 100, 200, 350, 500];
const STAMP_MODELS = ['matched', 'mismatched'] as const;
const MODELS = args.stamps.split(',').map((m) => {
  if (!(STAMP_MODELS as readonly string[]).includes(m)) throw new Error(`--stamps: unknown model '${m}' (known: ${STAMP_MODELS.join(', ')})`);
  return m as (typeof STAMP_MODELS)[number];
});
const PAUSES: [atMs: number, lengthMs: number][] = [[6000, 4000], [16000, 2500]];

/** One 30 s replay; returns the track ids the face got. */
async function replay(model: (typeof STAMP_MODELS)[number], step: number, seed: number): Promise<{ ids: number[]; frames: number }> {
  let state = seed * 1000 + step;
  const rand = (): number => (state = (state * 48271) % 2147483647) / 2147483647;
  const video = createVideoAnalyzer(analyzer.pipeline, { tracker: { maxAgeMs: 1500 } }); // the web app's LIVE_TRACK_MAX_AGE_MS
  const ids = new Set<number>();
  let page = rand() * 5000; // where in the clip the camera starts
  let elapsed = 0;
  let last: number | null = null;
  let n = 0;
  const pending = [...PAUSES];
  let gap = 0; // page time since the last frame, ms
  while (elapsed < 30_000) {
    let ts: number;
    if (last === null) ts = 0;
    else if (model === 'matched') ts = last + Math.min(500, Math.max(15, gap)); // the content's own spacing
    else ts = last + (rand() < 0.3 ? 15 : Math.min(500, Math.max(15, step * 3 * rand())));
    if (last !== null && pending.length > 0 && elapsed >= pending[0]![0]) { // the pause falls in this gap
      const [, length] = pending.shift()!;
      page += length;
      elapsed += length;
      ts = last + 500;
    }
    last = ts;
    const result = await video.analyzeFrame(frames[Math.floor((page * FPS) / 1000) % frames.length]!, ts);
    n++;
    for (const f of result.faces) ids.add(f.trackId);
    gap = model === 'matched' ? step * (0.2 + 1.6 * rand()) : rand() < 0.2 ? step * 4 : step * (0.2 + rand());
    page += gap;
    elapsed += gap;
  }
  return { ids: [...ids], frames: n };
}

const rows: { model: string; stepMs: number; runs: number; splits: number; frames: number; splitSeeds: number[] }[] = [];
for (const model of MODELS) {
  for (const step of STEPS) {
    const row = { model, stepMs: step, runs: 0, splits: 0, frames: 0, splitSeeds: [] as number[] };
    for (let seed = 1; seed <= seeds; seed++) {
      const r = await replay(model, step, seed);
      row.runs++;
      row.frames += r.frames;
      if (r.ids.length > 1) { row.splits++; row.splitSeeds.push(seed); }
    }
    rows.push(row);
    console.log(`${model.padEnd(10)} step ${String(step).padStart(3)} ms: ${row.splits} of ${row.runs} runs split (${row.frames} frames)`);
  }
}
await analyzer.dispose();
for (const model of MODELS) {
  const r = rows.filter((x) => x.model === model);
  console.log(`${model}: ${r.reduce((a, x) => a + x.splits, 0)} of ${r.reduce((a, x) => a + x.runs, 0)} runs split`);
}
await writeJsonFileAtomic(args.out, {
  what: 'one face replayed from test.mp4 through the live pipeline for 30 s (pauses of 4 s and 2.5 s); runs where it got more than one track id',
  video: relative(root, args.video), seeds, steps: STEPS, rows,
});
console.log(`wrote ${args.out}`);
