/**
 * Cost of an occlusion explanation per face (issue 10, item 6), for the default and the lite classifier: the faces of
 * the face-api demo photos are detected, cropped as the analyzer does, and explained repeatedly. Reported per face:
 * one plain classification (batch 1, the baseline), the explanation (one classify call over 1 + positions² crops),
 * and rendering + writing the PNG. Also a few patch/stride settings, since the cost follows the number of positions.
 *
 * With FER2013 PublicTest at hand (`--fer DIR`, default ../shared/data/fer2013/PublicTest) it also checks faithfulness:
 * filling the 10 % hottest pixels must lower the label's probability more than random pixels or another face's hot spots;
 * and it records where the heat sits on the first `--happy` N happy faces (mouth against forehead).
 *
 *   npm run build && nice -n 10 node dist/bench/explain.js [--models ferkit-resnet-s,ferkit-lite] [--repeat 3] [--threads N] [--per-class 20] [--happy 60]
 *
 * Prints a table and writes results/explain.json (with the load average: timings on a shared machine are noisy).
 * Not a test: a benchmark.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { BUNDLED_CLASSIFIERS, createExpressionClassifier } from '../src/core/classifier/expression.js';
import { createFaceDetector } from '../src/core/detector/index.js';
import { type Explanation, explainCrop, explanationCrop, meanHeat } from '../src/core/explain.js';
import { sampleGray, wholeImageWindow } from '../src/core/image.js';
import { EXPRESSIONS } from '../src/core/labels.js';
import type { ExpressionClassifier } from '../src/core/classifier/expression.js';
import { decodeImage } from '../src/node/decode.js';
import { renderExplanation, writeExplanation } from '../src/node/explain.js';
import { packageRoot, readClassifierModel, readDetectorModels } from '../src/node/models.js';
import { writeJsonFileAtomic } from '../src/node/output.js';
import { benchArgs } from './args.js';

const { values: args } = benchArgs(import.meta.url, {
  options: {
    models: { type: 'string', default: `${BUNDLED_CLASSIFIERS.default},${BUNDLED_CLASSIFIERS.lite}` },
    repeat: { type: 'string', default: '3' },
    threads: { type: 'string' },
    out: { type: 'string', default: join(packageRoot(), 'results', 'explain.json') },
    fer: { type: 'string', default: join(packageRoot(), '..', 'shared', 'data', 'fer2013', 'PublicTest') },
    'per-class': { type: 'string', default: '20' },
    happy: { type: 'string', default: '60' },
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

/**
 * CPU time of this process since `since`, in ms (user + system, all threads). Unlike wall-clock time it hardly grows
 * when other processes compete for the cores, so it is the figure to compare across loaded runs (with --threads 1,
 * where ONNX Runtime's idle threads do not spin).
 */
const cpuMs = (since: NodeJS.CpuUsage): number => { const d = process.cpuUsage(since); return (d.user + d.system) / 1000; };

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

// FER2013 PublicTest faces (the first N per class, sorted) for the faithfulness check, when ../shared is there.
const ferCrops: { crop: Float32Array; cls: string }[] = [];
if (existsSync(args.fer!)) {
  for (const cls of EXPRESSIONS) {
    for (const f of readdirSync(join(args.fer!, cls)).sort().slice(0, Number(args['per-class']))) {
      const { data, info } = await sharp(join(args.fer!, cls, f)).greyscale().raw().toBuffer({ resolveWithObject: true });
      const img = { data, width: info.width, height: info.height, channels: 1 as const };
      ferCrops.push({ crop: sampleGray(img, wholeImageWindow(img), 48), cls });
    }
  }
}

// The first N PublicTest happy faces, for the mouth-vs-forehead check.
const happyCrops: Float32Array[] = [];
if (existsSync(args.fer!)) {
  for (const f of readdirSync(join(args.fer!, 'happy')).sort().slice(0, Number(args.happy))) {
    const { data, info } = await sharp(join(args.fer!, 'happy', f)).greyscale().raw().toBuffer({ resolveWithObject: true });
    const img = { data, width: info.width, height: info.height, channels: 1 as const };
    happyCrops.push(sampleGray(img, wholeImageWindow(img), 48));
  }
}

/**
 * Where the heat sits on clearly happy faces (p(happy) ≥ 0.7): mean heat of the lower-middle third (x 16–32, y 32–48)
 * against the forehead band (y 0–12), as in test/core/explain.test.ts but on more faces.
 */
async function mouthVsForehead(clf: ExpressionClassifier, setting: { patch: number; stride: number }) {
  let n = 0;
  let wins = 0;
  let mouth = 0;
  let forehead = 0;
  for (const crop of happyCrops) {
    const e = await explainCrop(clf, crop, setting);
    if (e.label !== 'happy' || e.probability < 0.7) continue;
    const m = meanHeat(e, 16, 32, 32, 48);
    const f = meanHeat(e, 0, 0, 48, 12);
    n++; mouth += m; forehead += f; if (m > f) wins++;
  }
  return { ...setting, faces: happyCrops.length, clearlyHappy: n, mouthAboveForehead: wins, meanHeatMouth: +(mouth / n).toFixed(3), meanHeatForehead: +(forehead / n).toFixed(3) };
}

/** Indices of the `k` hottest pixels of a heatmap. */
const hottest = (e: Explanation, k: number): number[] => [...e.heatmap.keys()].sort((a, b) => e.heatmap[b]! - e.heatmap[a]!).slice(0, k);

/**
 * Faithfulness (a "deletion" check): fill the 10 % hottest pixels of each face's map with the patch gray and measure the
 * drop of the explained label's probability, against two controls of the same area: random pixels, and the hottest
 * pixels of another face's map (a face of another class: same blob shapes, not this face's evidence). Also the mean heat
 * per horizontal third of the crop, per true class.
 */
async function faithfulness(clf: ExpressionClassifier, setting: { patch: number; stride: number }) {
  const k = Math.round(0.1 * 48 * 48);
  const exps: Explanation[] = [];
  for (const { crop } of ferCrops) exps.push(await explainCrop(clf, crop, setting));
  let seed = 1;
  const rand = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
  const drops = { own: [] as number[], random: [] as number[], other: [] as number[] };
  const perClass: Record<string, { upper: number; middle: number; lower: number; n: number }> = {};
  for (const [i, { crop, cls }] of ferCrops.entries()) {
    const e = exps[i]!;
    const masked = (idx: number[]): Float32Array => { const c = crop.slice(); for (const j of idx) c[j] = e.fill; return c; };
    const other = exps[(i + Number(args['per-class'])) % exps.length]!;
    const randomIdx = [...Array(48 * 48).keys()].sort(() => rand() - 0.5).slice(0, k);
    const [po, pr, pt] = await clf.classify([masked(hottest(e, k)), masked(randomIdx), masked(hottest(other, k))]);
    drops.own.push(e.probability - po![e.label]);
    drops.random.push(e.probability - pr![e.label]);
    drops.other.push(e.probability - pt![e.label]);
    const pc = (perClass[cls] ??= { upper: 0, middle: 0, lower: 0, n: 0 });
    pc.upper += meanHeat(e, 0, 0, 48, 16); pc.middle += meanHeat(e, 0, 16, 48, 32); pc.lower += meanHeat(e, 0, 32, 48, 48); pc.n++;
  }
  const mean = (xs: number[]): number => +(xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(4);
  return {
    ...setting, faces: ferCrops.length,
    meanDropHottest10pct: mean(drops.own), meanDropRandom10pct: mean(drops.random), meanDropOtherFacesHottest10pct: mean(drops.other),
    ownBeatsOther: +(drops.own.filter((d, i) => d > drops.other[i]!).length / drops.own.length).toFixed(3),
    meanHeatByThird: Object.fromEntries(Object.entries(perClass).map(([c, v]) => [c, {
      upper: +(v.upper / v.n).toFixed(3), middle: +(v.middle / v.n).toFixed(3), lower: +(v.lower / v.n).toFixed(3), n: v.n,
    }])),
  };
}

const tmp = mkdtempSync(join(tmpdir(), 'ferkit-explain-bench-'));
const loadBefore = loadavg();
const models = [];
for (const id of args.models!.split(',')) {
  const m = await readClassifierModel(id);
  const clf = await createExpressionClassifier(ort, m.bytes, m.card, { session });
  await explainCrop(clf, crops[0]!); // warm-up
  const classifyMs: number[] = [];
  const classifyCpuMs: number[] = [];
  const settings = [];
  for (const crop of crops) {
    for (let r = 0; r < repeat; r++) {
      const c = process.cpuUsage();
      const t = performance.now();
      await clf.classify([crop]);
      classifyMs.push(performance.now() - t);
      classifyCpuMs.push(cpuMs(c));
    }
  }
  for (const s of SETTINGS) {
    const ms: number[] = [];
    const cpu: number[] = [];
    let runs = 0;
    for (const crop of crops) {
      for (let r = 0; r < repeat; r++) {
        const c = process.cpuUsage();
        const e = await explainCrop(clf, crop, s);
        cpu.push(cpuMs(c));
        ms.push(e.ms);
        runs = e.runs;
      }
    }
    settings.push({ ...s, runs, explainMs: stats(ms), explainCpuMs: stats(cpu) });
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
  const faithful = [];
  if (ferCrops.length > 0) for (const s of [SETTINGS[0]!, SETTINGS[3]!]) faithful.push(await faithfulness(clf, s));
  const happy = [];
  if (happyCrops.length > 0) for (const s of [SETTINGS[0]!, SETTINGS[3]!]) happy.push(await mouthVsForehead(clf, s));
  await clf.dispose();
  const row = {
    model: id, classifyOneMs: stats(classifyMs), classifyOneCpuMs: stats(classifyCpuMs), settings, renderPngMs: stats(renderMs),
    writeExplanationMs: stats(writeMs), // explain (default settings) + render + atomic write
    faithfulness: faithful,
    happyMouthVsForehead: happy,
  };
  models.push(row);
  const d = settings[0]!;
  console.log(`\n${id}: classify 1 face ${row.classifyOneMs.median} ms (median; CPU ${row.classifyOneCpuMs.median} ms); explanation (patch ${d.patch}, stride ${d.stride}, ${d.runs} crops) ${d.explainMs.median} ms median, ${d.explainMs.p90} p90, CPU ${d.explainCpuMs.median} ms; render PNG ${row.renderPngMs.median} ms; writeExplanation total ${row.writeExplanationMs.median} ms`);
  console.log('| patch | stride | crops classified | wall ms per face (median) | p90 | CPU ms per face (median) |\n|---|---|---|---|---|---|');
  for (const s of settings) console.log(`| ${s.patch} | ${s.stride} | ${s.runs} | ${s.explainMs.median} | ${s.explainMs.p90} | ${s.explainCpuMs.median} |`);
  for (const f of faithful) {
    console.log(`faithfulness, patch ${f.patch} stride ${f.stride}, ${f.faces} PublicTest faces: filling the 10% hottest pixels drops p(label) by ${f.meanDropHottest10pct}, random 10% by ${f.meanDropRandom10pct}, another face's hottest 10% by ${f.meanDropOtherFacesHottest10pct} (own > other in ${(100 * f.ownBeatsOther).toFixed(0)}% of faces)`);
    console.log(`  mean heat by third (upper/middle/lower): ${Object.entries(f.meanHeatByThird).map(([c, v]) => `${c} ${v.upper}/${v.middle}/${v.lower}`).join(', ')}`);
  }
  for (const h of happy) {
    console.log(`happy faces, patch ${h.patch} stride ${h.stride}: ${h.clearlyHappy} of the first ${h.faces} with p(happy) >= 0.7; mouth > forehead in ${h.mouthAboveForehead}; mean heat ${h.meanHeatMouth} vs ${h.meanHeatForehead}`);
  }
}
rmSync(tmp, { recursive: true, force: true });
const result = {
  date: new Date().toISOString(),
  command: `node dist/bench/explain.js --models ${args.models} --repeat ${repeat} --per-class ${args['per-class']} --happy ${args.happy}${threads !== undefined ? ` --threads ${threads}` : ''}`,
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version },
  ortThreads: threads ?? 'default',
  loadAverage: { before: loadBefore.map((l) => +l.toFixed(2)), after: loadavg().map((l) => +l.toFixed(2)) },
  faces: crops.length,
  source: 'faces detected in node_modules/@vladmandic/face-api/demo/*.jpg, cropped as the analyzer does',
  faithfulnessSource: ferCrops.length ? `FER2013 PublicTest, first ${args['per-class']} per class (sorted file names)` : 'skipped: no FER2013 folder',
  models,
};
await writeJsonFileAtomic(args.out!, result);
console.log(`\nwrote ${args.out} (load average after: ${result.loadAverage.after.join(' ')})`);
