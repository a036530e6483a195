/**
 * ferkit benchmark: prints figures and writes results/bench.json. Not a test: timings are noisy, compare within one run.
 *
 *   npm run bench                 # all sections
 *   node dist/bench/bench.js --out results/bench.json --iterations 200
 *
 * Measures: classifier faces/s at batch 1 and 64 (every bundled model, default first: `BUNDLED_CLASSIFIER_IDS`, or `--models a,b`); detector ms per 640×480 frame (front model, one face) and per
 * 2048×1536 photo (back model + tiles); end-to-end ms per photo (decode + detect + classify) for ../shared/media and
 * the face-api sample photos; peak resident memory.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { BUNDLED_CLASSIFIER_IDS, createExpressionClassifier } from '../src/core/classifier/expression.js';
import { createFaceDetector } from '../src/core/detector/index.js';
import type { RawImage } from '../src/core/types.js';
import { createAnalyzer } from '../src/node/index.js';
import { packageRoot, readClassifierModel, readDetectorModels } from '../src/node/models.js';
import { benchArgs } from './args.js';

const { values: args } = benchArgs(import.meta.url, {
  options: {
    out: { type: 'string', default: 'results/bench.json' },
    iterations: { type: 'string', default: '100' },
    models: { type: 'string', default: BUNDLED_CLASSIFIER_IDS.join(',') },
    shared: { type: 'string', default: join(packageRoot(), '..', 'shared') },
  },
});
const ITER = Number(args.iterations);
const mediaDir = join(args.shared!, 'media');
const samplesDir = join(packageRoot(), 'node_modules', '@vladmandic', 'face-api', 'demo');

function stats(ms: number[]): { median: number; p90: number; mean: number } {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { median: +q(0.5).toFixed(3), p90: +q(0.9).toFixed(3), mean: +(ms.reduce((a, b) => a + b, 0) / ms.length).toFixed(3) };
}
async function time(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < Math.min(5, n); i++) await fn(); // warm-up
  const out: number[] = [];
  for (let i = 0; i < n; i++) { const t = performance.now(); await fn(); out.push(performance.now() - t); }
  return out;
}
async function raw(path: string, resize?: { width: number; height: number }): Promise<RawImage> {
  let p = sharp(path).rotate().removeAlpha();
  if (resize) p = p.resize(resize.width, resize.height, { fit: 'cover' });
  const { data, info } = await p.raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels as 3 };
}

const result: Record<string, unknown> = {
  date: new Date().toISOString(), node: process.version, cpus: cpus().length, cpu: cpus()[0]?.model, ort: ort.env.versions?.common,
};

// Classifiers
const quiet = { logSeverityLevel: 3 as const }; // errors only: ORT warns about unused initializers in the BlazeFace graphs
const crop = new Float32Array(48 * 48).map((_, i) => (i * 7) % 256);
const classifiers = [];
const modelIds = args.models!.split(',');
for (const model of modelIds) {
  const m = await readClassifierModel(model);
  const clf = await createExpressionClassifier(ort, m.bytes, m.card, { maxBatch: 64, session: quiet });
  const b1 = await time(ITER * 10, () => clf.classify([crop]));
  const batch = Array.from({ length: 64 }, () => crop);
  const b64 = await time(Math.max(10, ITER / 2), () => clf.classify(batch));
  const c = {
    model, bytes: m.bytes.length,
    batch1: { msPerCall: stats(b1), facesPerSecond: Math.round(1000 / stats(b1).median) },
    batch64: { msPerCall: stats(b64), facesPerSecond: Math.round((64 * 1000) / stats(b64).median) },
  };
  await clf.dispose();
  classifiers.push(c);
  console.log(`classifier ${model}: batch 1 ${c.batch1.facesPerSecond} faces/s (${c.batch1.msPerCall.median} ms), batch 64 ${c.batch64.facesPerSecond} faces/s`);
}
result.classifier = classifiers[0]; // the default model, which the end-to-end figures below use
result.classifiers = classifiers;

// Detector
const det = await readDetectorModels();
const portrait = existsSync(join(mediaDir, 'justin.jpg')) ? join(mediaDir, 'justin.jpg') : join(samplesDir, 'sample2.jpg');
const group = existsSync(join(mediaDir, 'test_image.jpg')) ? join(mediaDir, 'test_image.jpg') : join(samplesDir, 'sample1.jpg');
const frame = await raw(portrait, { width: 640, height: 480 });
const photo = await raw(group, { width: 2048, height: 1536 });
const detector: Record<string, unknown> = {};
for (const model of ['auto', 'front', 'back'] as const) {
  const d = await createFaceDetector(ort, det, { model }, quiet);
  const f = await time(ITER, () => d.detect(frame));
  const p = await time(Math.max(5, ITER / 10), () => d.detect(photo));
  detector[model] = {
    frame640x480: { ms: stats(f), faces: (await d.detect(frame)).length, source: portrait },
    photo2048x1536: { ms: stats(p), faces: (await d.detect(photo)).length, source: group },
  };
  console.log(`detector ${model}: 640x480 frame ${stats(f).median} ms (${(await d.detect(frame)).length} face), 2048x1536 photo ${stats(p).median} ms (${(await d.detect(photo)).length} faces)`);
  await d.dispose();
}
result.detector = detector;

// End to end: decode + detect + classify
const analyzer = await createAnalyzer({ classifier: { model: modelIds[0]! } });
const frameAnalysis = await time(ITER, () => analyzer.analyze(frame));
result.frame640x480EndToEnd = { ms: stats(frameAnalysis), note: 'pre-decoded RGB frame: detect (auto→front) + crop + classify' };
console.log(`end-to-end 640x480 frame (no decode): ${stats(frameAnalysis).median} ms`);
const photos = [
  ...(existsSync(mediaDir) ? readdirSync(mediaDir).filter((f) => /\.(jpe?g|png)$/i.test(f)).map((f) => join(mediaDir, f)) : []),
  ...readdirSync(samplesDir).filter((f) => /^sample\d\.jpg$/.test(f)).map((f) => join(samplesDir, f)),
];
const perPhoto = [];
for (const p of photos) {
  const ms = await time(5, () => analyzer.analyze(p));
  const r = await analyzer.analyze(p);
  perPhoto.push({ file: p, width: r.width, height: r.height, faces: r.faces.length, labels: r.faces.map((f) => f.label), ms: stats(ms), stages: r.timingsMs });
  console.log(`  ${p.split('/').slice(-1)[0]} ${r.width}x${r.height}: ${r.faces.length} faces, ${stats(ms).median} ms (decode ${r.timingsMs.decode.toFixed(1)}, detect ${r.timingsMs.detect.toFixed(1)}, classify ${r.timingsMs.classify.toFixed(1)})`);
}
await analyzer.dispose();
result.photos = perPhoto;
result.peakRssMB = +(process.resourceUsage().maxRSS / 1024).toFixed(1);
console.log(`peak RSS ${result.peakRssMB} MB`);

mkdirSync(dirname(args.out!), { recursive: true });
writeFileSync(`${args.out}.tmp`, JSON.stringify(result, null, 2) + '\n');
renameSync(`${args.out}.tmp`, args.out!);
console.log(`wrote ${args.out}`);
