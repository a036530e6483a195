/**
 * Cost of an occlusion explanation per face (issue 10, item 6), for the default and the lite classifier: the faces of
 * the face-api demo photos are detected, cropped as the analyzer does, and explained repeatedly. Reported per face:
 * one plain classification (batch 1, the baseline), the explanation (one classify call over 1 + positions² crops),
 * and rendering + writing the PNG. Also a few patch/stride settings, since the cost follows the number of positions.
 *
 *   npm run build && nice -n 10 node dist/bench/explain.js [--models ferkit-resnet-s,ferkit-lite] [--repeat 3] [--threads N]
 *
 * Prints a table and writes results/explain.json (with the load average: timings on a shared machine are noisy).
 * Not a test: a benchmark.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { BUNDLED_CLASSIFIERS, createExpressionClassifier } from '../src/core/classifier/expression.js';
import { createFaceDetector } from '../src/core/detector/index.js';
import { explainCrop, explanationCrop } from '../src/core/explain.js';
import { decodeImage } from '../src/node/decode.js';
import { renderExplanation, writeExplanation } from '../src/node/explain.js';
import { packageRoot, readClassifierModel, readDetectorModels } from '../src/node/models.js';
import { writeJsonFileAtomic } from '../src/node/output.js';

const { values: args } = parseArgs({
  options: {
    models: { type: 'string', default: `${BUNDLED_CLASSIFIERS.default},${BUNDLED_CLASSIFIERS.lite}` },
    repeat: { type: 'string', default: '3' },
    threads: { type: 'string' },
    out: { type: 'string', default: join(packageRoot(), 'results', 'explain.json') },
  },
});
const repeat = Number(args.repeat);
const threads = args.threads === undefined ? undefined : Number(args.threads);
const session = { logSeverityLevel: 3 as const, ...(threads !== undefined ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}) };
const SETTINGS = [
  { patch: 8, stride: 4 }, // default: 11×11 = 121 positions
  { patch: 12, stride: 4 }, // 10×10 = 100
  { patch: 8, stride: 8 }, // 6×6 = 36
  { patch: 16, stride: 8 }, // 5×5 = 25
];

const stats = (xs: number[]): { median: number; p90: number; mean: number; n: number } => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { median: +q(0.5).toFixed(2), p90: +q(0.9).toFixed(2), mean: +(s.reduce((a, b) => a + b, 0) / s.length).toFixed(2), n: s.length };
};

// Face crops from the demo photos, cut exactly as the analyzer cuts them.
const demo = join(packageRoot(), 'node_modules', '@vladmandic', 'face-api', 'demo');
const det = await createFaceDetector(ort, await readDetectorModels(), { model: 'auto' }, session);
const crops: Float32Array[] = [];
for (const f of readdirSync(demo).filter((n) => n.endsWith('.jpg')).sort()) {
  const image = await decodeImage(join(demo, f));
  for (const face of await det.detect(image)) crops.push(explanationCrop(image, face, 48));
}
await det.dispose();
console.log(`${crops.length} faces from ${demo}; repeat ${repeat}; ORT threads ${threads ?? 'default'}; ${cpus().length} CPUs; load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

const tmp = mkdtempSync(join(tmpdir(), 'ferkit-explain-bench-'));
const loadBefore = loadavg();
const models = [];
for (const id of args.models!.split(',')) {
  const m = await readClassifierModel(id);
  const clf = await createExpressionClassifier(ort, m.bytes, m.card, { session });
  await explainCrop(clf, crops[0]!); // warm-up
  const classifyMs: number[] = [];
  const settings = [];
  for (const crop of crops) {
    for (let r = 0; r < repeat; r++) {
      const t = performance.now();
      await clf.classify([crop]);
      classifyMs.push(performance.now() - t);
    }
  }
  for (const s of SETTINGS) {
    const ms: number[] = [];
    let runs = 0;
    for (const crop of crops) for (let r = 0; r < repeat; r++) { const e = await explainCrop(clf, crop, s); ms.push(e.ms); runs = e.runs; }
    settings.push({ ...s, runs, explainMs: stats(ms) });
  }
  const renderMs: number[] = [];
  const writeMs: number[] = [];
  for (const [i, crop] of crops.entries()) {
    const e = await explainCrop(clf, crop);
    let t = performance.now();
    await renderExplanation(e, crop);
    renderMs.push(performance.now() - t);
    t = performance.now();
    await writeExplanation(clf, crop, null, join(tmp, `${id}.face${i + 1}.explain.png`));
    writeMs.push(performance.now() - t);
  }
  await clf.dispose();
  const row = {
    model: id, classifyOneMs: stats(classifyMs), settings, renderPngMs: stats(renderMs),
    writeExplanationMs: stats(writeMs), // explain (default settings) + render + atomic write
  };
  models.push(row);
  const d = settings[0]!;
  console.log(`\n${id}: classify 1 face ${row.classifyOneMs.median} ms (median); explanation (patch ${d.patch}, stride ${d.stride}, ${d.runs} crops) ${d.explainMs.median} ms median, ${d.explainMs.p90} p90 (${(d.explainMs.median / row.classifyOneMs.median).toFixed(0)}× one classification); render PNG ${row.renderPngMs.median} ms; writeExplanation total ${row.writeExplanationMs.median} ms`);
  console.log('| patch | stride | crops classified | ms per face (median) | p90 |\n|---|---|---|---|---|');
  for (const s of settings) console.log(`| ${s.patch} | ${s.stride} | ${s.runs} | ${s.explainMs.median} | ${s.explainMs.p90} |`);
}
rmSync(tmp, { recursive: true, force: true });
const result = {
  date: new Date().toISOString(),
  command: `node dist/bench/explain.js --models ${args.models} --repeat ${repeat}${threads !== undefined ? ` --threads ${threads}` : ''}`,
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version },
  ortThreads: threads ?? 'default',
  loadAverage: { before: loadBefore.map((l) => +l.toFixed(2)), after: loadavg().map((l) => +l.toFixed(2)) },
  faces: crops.length,
  source: 'faces detected in node_modules/@vladmandic/face-api/demo/*.jpg, cropped as the analyzer does',
  models,
};
await writeJsonFileAtomic(args.out!, result);
console.log(`\nwrote ${args.out} (load average after: ${result.loadAverage.after.join(' ')})`);
