/**
 * Accuracy against each quality signal (issue: outputs people can trust, item 3), to choose the quality gate's
 * thresholds from measurements.
 *
 *   npm run build && node dist/bench/quality.js [--model ferkit-resnet-s] [--per-class 1000] [--det-per-class 150]
 *
 * 1. Cropped path, every PublicTest face (or `--per-class` per class): the face as it is, down-scaled to S×S pixels
 *    (S = 8…48; then resized back to the classifier's 48×48 as the pipeline does for a face box of side S), and
 *    Gaussian-blurred (σ = 0.5…4 px). Accuracy by face size, by blur, by the crop's sharpness (variance of the
 *    Laplacian, pooled over all variants), by top-1 probability and by margin.
 * 2. Detector path (`--det-per-class` per class): each face up-scaled 4× into a 384×384 canvas (edge-replicated), as in
 *    bench/crop-geometry.ts, detected, cropped and classified: accuracy by |yaw|, |roll| and detection score.
 * 3. The gate with the default thresholds: share of faces marked uncertain and accuracy of ok vs uncertain faces.
 *
 * Writes results/quality.json (`--out`) and the charts docs/quality/*.svg (`--charts DIR`); prints the thresholds each
 * rule suggests. Those committed files are the float `ferkit-resnet-s`'s (`--model ferkit-resnet-s`); the int8
 * single-crop graph's run is `--model ferkit-resnet-s-int8 --out results/quality-int8.json --charts /tmp/quality-int8`, the
 * default's `--model ferkit-resnet-s-int8-ensemble --out results/quality-int8-ensemble.json --charts /tmp/quality-ens`.
 */
import { mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { BUNDLED_CLASSIFIERS, createExpressionClassifier } from '../src/core/classifier/expression.js';
import { createFaceDetector } from '../src/core/detector/index.js';
import { faceCropWindow, sampleGray, wholeImageWindow } from '../src/core/image.js';
import { EXPRESSIONS, argmax } from '../src/core/labels.js';
import {
  DEFAULT_QUALITY_THRESHOLDS, confidenceSignals, headPose, judgeQuality, laplacianVariance,
} from '../src/core/quality.js';
import type { QualitySignals, RawImage } from '../src/core/types.js';
import { packageRoot, readClassifierModel, readDetectorModels } from '../src/node/models.js';
import { benchArgs } from './args.js';

const { values: args } = benchArgs(import.meta.url, {
  options: {
    model: { type: 'string', default: BUNDLED_CLASSIFIERS.default },
    'per-class': { type: 'string', default: '1000000' },
    'det-per-class': { type: 'string', default: '150' },
    // only the gate's ok/uncertain figures (no down-scaled or blurred copies): results/quality-gate.json
    'gate-only': { type: 'boolean', default: false },
    // redraw docs/quality/*.svg from results/quality.json
    'charts-only': { type: 'boolean', default: false },
    data: { type: 'string', default: join(packageRoot(), '..', 'shared', 'data', 'fer2013', 'PublicTest') },
    // the JSON written (default results/quality.json, or results/quality-gate.json with --gate-only)
    out: { type: 'string' },
    charts: { type: 'string', default: join(packageRoot(), 'docs', 'quality') },
  },
});
const root = packageRoot();
if (args['charts-only']) {
  const from = args.out ?? join(root, 'results', 'quality.json');
  console.log(`redrew ${drawCharts(JSON.parse(readFileSync(from, 'utf8')))} charts in ${args.charts} from ${from}`);
  process.exit(0);
}
const gateOnly = args['gate-only']!;
const SIZES = gateOnly ? [48] : [8, 12, 16, 20, 24, 32, 40, 48];
const SIGMAS = gateOnly ? [0] : [0, 0.5, 1, 1.5, 2, 3, 4];

const m = await readClassifierModel(args.model!);
const clf = await createExpressionClassifier(ort, m.bytes, m.card, { session: { logSeverityLevel: 3 } });
const det = await createFaceDetector(ort, await readDetectorModels(), { model: 'auto' }, { logSeverityLevel: 3 });

interface Obs { correct: boolean; top1: number; margin: number; sharpness: number; entropy: number }
const bySize = new Map<number, Obs[]>();
const bySigma = new Map<number, Obs[]>();
const detObs: (Obs & { yaw: number; roll: number; score: number; signals: QualitySignals })[] = [];
const cleanObs: (Obs & { signals: QualitySignals })[] = [];

const gray = (data: Uint8Array | Buffer, width: number, height: number): RawImage => ({ data, width, height, channels: 1 });
async function classifyAll(crops: Float32Array[], k: number): Promise<Obs[]> {
  const probs = await clf.classify(crops);
  return probs.map((p, i) => {
    const c = confidenceSignals(p);
    return { correct: argmax(p).label === EXPRESSIONS[k], ...c, sharpness: laplacianVariance(crops[i]!, 48) };
  });
}

const t0 = performance.now();
let faces = 0;
for (const [k, name] of EXPRESSIONS.entries()) {
  const dir = join(args.data!, name);
  const files = readdirSync(dir).sort();
  for (const [i, f] of files.slice(0, Number(args['per-class'])).entries()) {
    const file = join(dir, f);
    const { data, info } = await sharp(file).greyscale().raw().toBuffer({ resolveWithObject: true });
    const img = gray(data, info.width, info.height);
    faces++;
    // sizes: area-down-scale to S×S, then the pipeline's resize back to 48×48
    const crops: Float32Array[] = [];
    for (const s of SIZES) {
      const small = s === info.width ? img : gray(await sharp(data, { raw: { width: info.width, height: info.height, channels: 1 } })
        .resize(s, s, { kernel: 'linear' }).extractChannel(0).raw().toBuffer(), s, s);
      crops.push(sampleGray(small, wholeImageWindow(small), 48));
    }
    for (const sigma of SIGMAS) {
      const b = sigma === 0 ? img : gray(await sharp(data, { raw: { width: info.width, height: info.height, channels: 1 } })
        .blur(sigma).extractChannel(0).raw().toBuffer(), info.width, info.height);
      crops.push(sampleGray(b, wholeImageWindow(b), 48));
    }
    const obs = await classifyAll(crops, k);
    SIZES.forEach((s, j) => { if (!bySize.has(s)) bySize.set(s, []); bySize.get(s)!.push(obs[j]!); });
    SIGMAS.forEach((s, j) => { if (!bySigma.has(s)) bySigma.set(s, []); bySigma.get(s)!.push(obs[SIZES.length + j]!); });
    const clean = obs[SIZES.length]!; // sigma 0
    cleanObs.push({ ...clean, signals: { faceSizePx: 48, sharpness: clean.sharpness, yawDeg: null, rollDeg: null, detectionScore: null, top1: clean.top1, margin: clean.margin, entropy: clean.entropy } });

    if (i < Number(args['det-per-class'])) {
      const big = await sharp(file).greyscale().resize(192, 192, { kernel: 'cubic' })
        .extend({ top: 96, bottom: 96, left: 96, right: 96, extendWith: 'copy' }).toColourspace('srgb').removeAlpha()
        .raw().toBuffer({ resolveWithObject: true });
      const image: RawImage = { data: big.data, width: big.info.width, height: big.info.height, channels: big.info.channels as 3 };
      const found = await det.detect(image);
      if (found.length) {
        const face = found.reduce((a, b) => (b.score > a.score ? b : a));
        const crop = sampleGray(image, faceCropWindow(face), 48);
        const [q] = await clf.classify([crop]);
        const pose = headPose(face);
        const c = confidenceSignals(q!);
        const sharpness = laplacianVariance(crop, 48);
        detObs.push({
          correct: argmax(q!).label === name, ...c, sharpness, yaw: pose.yawDeg, roll: pose.rollDeg, score: face.score,
          signals: { faceSizePx: Math.sqrt(face.box.width * face.box.height), sharpness, yawDeg: pose.yawDeg, rollDeg: pose.rollDeg, detectionScore: face.score, ...c },
        });
      }
    }
  }
  console.error(`${name}: ${faces} faces, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

// ---------------------------------------------------------------------------------------------------------------
interface Bin { label: string; lower: number; n: number; accuracy: number }
const acc = (o: readonly { correct: boolean }[]): number => (o.length ? o.filter((x) => x.correct).length / o.length : NaN);
function binned<T extends { correct: boolean }>(obs: readonly T[], value: (o: T) => number, edges: number[], fmt = (x: number) => String(x)): Bin[] {
  return edges.map((lo, i) => {
    const hi = edges[i + 1] ?? Infinity;
    const inBin = obs.filter((o) => value(o) >= lo && value(o) < hi);
    return { label: hi === Infinity ? `≥ ${fmt(lo)}` : `${fmt(lo)}–${fmt(hi)}`, lower: lo, n: inBin.length, accuracy: acc(inBin) };
  });
}
const r4 = (x: number): number => Math.round(x * 1e4) / 1e4;
if (gateOnly) {
  const gatePath = args.out ?? join(root, 'results', 'quality-gate.json');
  const g = { model: (m.card as { id: string }).id, thresholds: DEFAULT_QUALITY_THRESHOLDS, croppedPublicTest: gate(cleanObs), detectorPath: gate(detObs), createdAt: new Date().toISOString() };
  writeFileSync(`${gatePath}.tmp`, JSON.stringify(g, null, 2) + '\n');
  renameSync(`${gatePath}.tmp`, gatePath);
  console.log(JSON.stringify(g, null, 1));
  process.exit(0);
}
const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] ?? NaN; };

const cleanAcc = acc(bySigma.get(0)!);
const sizeCurve = SIZES.map((s) => ({ sizePx: s, n: bySize.get(s)!.length, accuracy: r4(acc(bySize.get(s)!)), medianSharpness: Math.round(median(bySize.get(s)!.map((o) => o.sharpness))) }));
const blurCurve = SIGMAS.map((s) => ({ sigmaPx: s, n: bySigma.get(s)!.length, accuracy: r4(acc(bySigma.get(s)!)), medianSharpness: Math.round(median(bySigma.get(s)!.map((o) => o.sharpness))) }));
const pooled = [...bySize.values(), ...bySigma.values()].flat();
const sharpEdges = [0, 25, 50, 100, 150, 200, 300, 400, 600, 800, 1200, 1600, 2400];
const sharpCurve = binned(pooled, (o) => o.sharpness, sharpEdges);
const top1Curve = binned(cleanObs, (o) => o.top1, [0, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9], (x) => x.toFixed(2));
const marginCurve = binned(cleanObs, (o) => o.margin, [0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6, 0.8], (x) => x.toFixed(2));
const yawCurve = binned(detObs, (o) => Math.abs(o.yaw), [0, 10, 20, 30, 45, 60]);
const rollCurve = binned(detObs, (o) => Math.abs(o.roll), [0, 5, 10, 20, 35]);
const scoreCurve = binned(detObs, (o) => o.score, [0, 0.5, 0.6, 0.7, 0.8, 0.9], (x) => x.toFixed(1));

// suggested thresholds
const within = (a: number): boolean => a >= cleanAcc - 0.05;
const suggest = {
  minFacePx: sizeCurve.find((c) => within(c.accuracy) && sizeCurve.filter((d) => d.sizePx > c.sizePx).every((d) => within(d.accuracy)))?.sizePx ?? null,
  minSharpness: sharpCurve.find((b, i) => b.n >= 30 && sharpCurve.slice(i).every((d) => d.n < 30 || within(d.accuracy)))?.lower ?? null,
  minTop1: top1Curve.find((b, i) => top1Curve.slice(i).every((d) => d.n < 20 || d.accuracy >= 0.5))?.lower ?? null,
  minMargin: marginCurve.find((b, i) => marginCurve.slice(i).every((d) => d.n < 20 || d.accuracy >= 0.5))?.lower ?? null,
};

function gate<T extends { correct: boolean; signals: QualitySignals }>(obs: readonly T[]) {
  const judged = obs.map((o) => ({ o, q: judgeQuality(o.signals) }));
  const ok = judged.filter((j) => j.q.status === 'ok').map((j) => j.o);
  const unc = judged.filter((j) => j.q.status === 'uncertain').map((j) => j.o);
  const reasons: Record<string, number> = {};
  for (const j of judged) for (const r of j.q.reasons) reasons[r] = (reasons[r] ?? 0) + 1;
  return { n: obs.length, accuracy: r4(acc(obs)), shareUncertain: r4(unc.length / Math.max(1, obs.length)), accuracyOk: r4(acc(ok)), accuracyUncertain: r4(acc(unc)), reasons };
}

const result = {
  model: (m.card as { id: string }).id, temperature: clf.temperature, data: args.data, faces, detectorFaces: detObs.length,
  seconds: Math.round((performance.now() - t0) / 1000), cleanAccuracy: r4(cleanAcc),
  curves: { size: sizeCurve, blur: blurCurve, sharpness: sharpCurve, top1: top1Curve, margin: marginCurve, yaw: yawCurve, roll: rollCurve, detectionScore: scoreCurve },
  suggestedThresholds: suggest, defaultThresholds: DEFAULT_QUALITY_THRESHOLDS,
  gate: { croppedPublicTest: gate(cleanObs), detectorPath: gate(detObs) },
  createdAt: new Date().toISOString(),
};
await clf.dispose();
await det.dispose();

// ---------------------------------------------------------------------------------------------------------------
// charts: accuracy per bin (bars) with the sample count, and a dashed line at the undegraded accuracy
function barChart(title: string, xTitle: string, bins: { label: string; n: number; accuracy: number }[], reference: number, note: string, refName = 'undegraded'): string {
  const w = 640; const h = 360; const left = 56; const top = 56; const plotW = w - left - 20; const plotH = h - top - 70;
  const bw = plotW / bins.length;
  const y = (v: number): number => top + (1 - v) * plotH;
  const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const t = [`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="system-ui, sans-serif">`,
    `<rect width="${w}" height="${h}" fill="#fff"/>`,
    `<text x="${w / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<text x="${w / 2}" y="40" text-anchor="middle" font-size="11" fill="#444">${esc(note)}</text>`];
  for (let v = 0; v <= 1.0001; v += 0.2) {
    t.push(`<line x1="${left}" x2="${left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e5e5"/><text x="${left - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11">${(v * 100).toFixed(0)}%</text>`);
  }
  bins.forEach((b, i) => {
    const x = left + i * bw;
    if (b.n > 0) {
      t.push(`<rect x="${x + 3}" y="${y(b.accuracy)}" width="${bw - 6}" height="${y(0) - y(b.accuracy)}" fill="${b.accuracy >= reference - 0.05 ? '#4292c6' : '#de7a2d'}"><title>${esc(b.label)}: ${(b.accuracy * 100).toFixed(1)}% of ${b.n}</title></rect>`);
      t.push(`<text x="${x + bw / 2}" y="${y(b.accuracy) - 4}" text-anchor="middle" font-size="10">${(b.accuracy * 100).toFixed(0)}%</text>`);
    }
    t.push(`<text x="${x + bw / 2}" y="${y(0) + 14}" text-anchor="middle" font-size="10">${esc(b.label)}</text>`);
    t.push(`<text x="${x + bw / 2}" y="${y(0) + 27}" text-anchor="middle" font-size="9" fill="#777">n=${b.n}</text>`);
  });
  t.push(`<line x1="${left}" x2="${left + plotW}" y1="${y(reference)}" y2="${y(reference)}" stroke="#111" stroke-dasharray="6 4"/>`,
    `<text x="${left + 4}" y="${y(reference) - 4}" font-size="10" fill="#111" stroke="#fff" stroke-width="3" paint-order="stroke">${refName} ${(reference * 100).toFixed(1)}%</text>`,
    `<text x="${left + plotW / 2}" y="${h - 12}" text-anchor="middle" font-size="12">${esc(xTitle)}</text>`,
    `<text transform="translate(16 ${top + plotH / 2}) rotate(-90)" text-anchor="middle" font-size="12">accuracy</text>`, '</svg>');
  return `${t.join('\n')}\n`;
}
const charts = drawCharts(result);
const out = args.out ?? join(root, 'results', 'quality.json');
writeFileSync(`${out}.tmp`, JSON.stringify(result, null, 2) + '\n');
renameSync(`${out}.tmp`, out);
console.log(JSON.stringify({ cleanAccuracy: result.cleanAccuracy, size: sizeCurve, blur: blurCurve, suggest, gate: result.gate }, null, 1));
console.log(`wrote ${out} and ${charts} charts in ${args.charts}`);

/** The charts of docs/quality/ from a results/quality.json object; returns how many were written. */
function drawCharts(r: { model: string; cleanAccuracy: number; detectorFaces: number; gate: { detectorPath: { accuracy: number } };
  curves: Record<'size' | 'blur', { n: number; accuracy: number; sizePx?: number; sigmaPx?: number; medianSharpness: number }[]> & Record<'sharpness' | 'top1' | 'margin' | 'yaw' | 'roll' | 'detectionScore', Bin[]> }): number {
  const chartDir = args.charts!;
  mkdirSync(chartDir, { recursive: true });
  const id = r.model;
  const c = r.curves;
  const det = `detector path, ${r.detectorFaces} faces`;
  const charts: [string, string][] = [
    ['size', barChart(`Accuracy by face size (${id})`, 'face box side in pixels (PublicTest crops down-scaled, then resized to 48)', c.size.map((x) => ({ label: String(x.sizePx), n: x.n, accuracy: x.accuracy })), r.cleanAccuracy, 'orange: more than 5 points below undegraded')],
    ['blur', barChart(`Accuracy by Gaussian blur (${id})`, 'blur σ in pixels of the 48×48 crop (median Laplacian variance)', c.blur.map((x) => ({ label: `${x.sigmaPx} (${x.medianSharpness})`, n: x.n, accuracy: x.accuracy })), r.cleanAccuracy, 'orange: more than 5 points below undegraded')],
    ['sharpness', barChart(`Accuracy by crop sharpness (${id})`, 'variance of the Laplacian of the 48×48 crop (all sizes and blurs pooled)', c.sharpness, r.cleanAccuracy, 'orange: more than 5 points below undegraded')],
    ['top1', barChart(`Accuracy by top-1 probability (${id})`, 'top-1 probability (undegraded PublicTest)', c.top1, r.cleanAccuracy, 'the label is right more often than wrong from 0.5 up')],
    ['margin', barChart(`Accuracy by margin top-1 − top-2 (${id})`, 'margin (undegraded PublicTest)', c.margin, r.cleanAccuracy, '')],
    ['yaw', barChart(`Accuracy by estimated |yaw| (${id})`, '|yaw| in degrees from the keypoints (detector path)', c.yaw, r.gate.detectorPath.accuracy, det, 'all these faces')],
    ['roll', barChart(`Accuracy by |roll| (${id})`, '|roll| in degrees, the eye line (detector path; crops are aligned)', c.roll, r.gate.detectorPath.accuracy, det, 'all these faces')],
    ['detection-score', barChart(`Accuracy by detection score (${id})`, 'BlazeFace score (detector path)', c.detectionScore, r.gate.detectorPath.accuracy, det, 'all these faces')],
  ];
  for (const [name, svg] of charts) writeFileSync(join(chartDir, `${name}.svg`), svg);
  return charts.length;
}
