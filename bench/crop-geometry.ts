/**
 * Crop geometry through the detector path (issue: accuracy, item 7). FER2013 faces are tight 48×48 crops; a photo's
 * face goes BlazeFace box → square window (margin, shift down, eye-line rotation) → 48×48. This measures how the
 * window's margin and vertical shift change accuracy when PublicTest faces are themselves sent through the detector:
 * each face is upscaled 4× (192 px) and placed in the middle of a 384×384 canvas padded by edge replication, detected,
 * cropped with each geometry and classified. The crop-only path (`cropped: true`, the whole 48×48) is the reference.
 *
 *   npm run build && node dist/bench/crop-geometry.js [--model ferkit-lite] [--per-class 100]
 *   node dist/bench/crop-geometry.js --holdout --out results/crop-geometry-holdout.json
 *
 * `--holdout` reads the calibration hold-out of FER2013 Training instead of PublicTest (`isCalibrationHoldout`, ~7% of
 * Training, left out of every bundled model's training and of model selection): the split on which a geometry picked
 * on PublicTest can be confirmed without selection bias. `--compare m,s,a` names a geometry (margin, shift down, align
 * 0/1) to compare with the default face by face: McNemar's test on the faces where exactly one of the two is right.
 *
 * Prints a table and writes results/crop-geometry.json. Not a test: a benchmark of one model on one split.
 */
import { mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { BUNDLED_CLASSIFIERS, createExpressionClassifier } from '../src/core/classifier/expression.js';
import { createFaceDetector } from '../src/core/detector/index.js';
import { faceCropWindow, sampleGray, wholeImageWindow } from '../src/core/image.js';
import { EXPRESSIONS } from '../src/core/labels.js';
import type { RawImage } from '../src/core/types.js';
import { isCalibrationHoldout } from '../src/node/calibration.js';
import { packageRoot, readClassifierModel, readDetectorModels } from '../src/node/models.js';
import { benchArgs } from './args.js';

const { values: args } = benchArgs(import.meta.url, {
  options: {
    model: { type: 'string', default: BUNDLED_CLASSIFIERS.default },
    'per-class': { type: 'string', default: '1000000' },
    data: { type: 'string' },
    holdout: { type: 'boolean', default: false },
    compare: { type: 'string', default: '0.1,0,0' },
    out: { type: 'string', default: join(packageRoot(), 'results', 'crop-geometry.json') },
  },
});
const perClass = Number(args['per-class']);
const margins = [0, 0.1, 0.2, 0.3];
const shifts = [-0.05, 0, 0.05, 0.1];
const fer2013 = join(packageRoot(), '..', 'shared', 'data', 'fer2013');
const dataDir = args.data ?? join(fer2013, args.holdout ? 'Training' : 'PublicTest');
const keep = (f: string): boolean => !args.holdout || isCalibrationHoldout(f);
/** The analyzer's window (`faceCropWindow`'s defaults). */
const DEFAULT_GEOMETRY = { margin: 0.1, shiftDown: 0.05, align: true };
const keyOf = (g: { margin: number; shiftDown: number; align: boolean }): string => `${g.margin}|${g.shiftDown}|${g.align}`;
const DEFAULT_KEY = keyOf(DEFAULT_GEOMETRY);
const [cmText, csText, caText] = args.compare!.split(',');
const compared = { margin: Number(cmText), shiftDown: Number(csText), align: caText === '1' || caText === 'true' };
if (!margins.includes(compared.margin) || !shifts.includes(compared.shiftDown) || !['0', '1', 'true', 'false'].includes(caText ?? '')) {
  console.error(`--compare ${args.compare}: expected margin,shift,align with margin in {${margins}}, shift in {${shifts}}, align 0/1`);
  process.exit(2);
}
const compareKey = keyOf(compared);
/** Faces right with the default geometry only (b) and with the compared one only (c). */
let onlyDefault = 0;
let onlyCompared = 0;

const m = await readClassifierModel(args.model!);
const clf = await createExpressionClassifier(ort, m.bytes, m.card, { session: { logSeverityLevel: 3 } });
const det = await createFaceDetector(ort, await readDetectorModels(), { model: 'auto' }, { logSeverityLevel: 3 });

const argmax = (p: Record<string, number>): number => { const v = Object.values(p); return v.indexOf(Math.max(...v)); };
let n = 0;
let found = 0;
let correctCropped = 0;
let correctCroppedFound = 0;
const correct = new Map<string, number>();
const t0 = performance.now();
for (const [k, name] of EXPRESSIONS.entries()) {
  const dir = join(dataDir, name);
  for (const f of readdirSync(dir).sort().filter(keep).slice(0, perClass)) {
    const file = join(dir, f);
    const gray = await sharp(file).greyscale().raw().toBuffer({ resolveWithObject: true });
    const small: RawImage = { data: gray.data, width: gray.info.width, height: gray.info.height, channels: 1 };
    const [pc] = await clf.classify([sampleGray(small, wholeImageWindow(small), 48)]);
    const okCropped = argmax(pc!) === k;
    n++;
    if (okCropped) correctCropped++;
    const { data, info } = await sharp(file).greyscale().resize(192, 192, { kernel: 'cubic' })
      .extend({ top: 96, bottom: 96, left: 96, right: 96, extendWith: 'copy' }).toColourspace('srgb').removeAlpha()
      .raw().toBuffer({ resolveWithObject: true });
    const image: RawImage = { data, width: info.width, height: info.height, channels: info.channels as 3 };
    const faces = await det.detect(image);
    if (!faces.length) continue;
    found++;
    if (okCropped) correctCroppedFound++;
    const face = faces.reduce((a, b) => (b.score > a.score ? b : a));
    const keys: string[] = [];
    const crops: Float32Array[] = [];
    for (const margin of margins) {
      for (const shiftDown of shifts) {
        for (const align of [true, false]) {
          keys.push(keyOf({ margin, shiftDown, align }));
          crops.push(sampleGray(image, faceCropWindow(face, { margin, shiftDown, align }), 48));
        }
      }
    }
    const probs = await clf.classify(crops);
    probs.forEach((p, i) => { if (argmax(p) === k) correct.set(keys[i]!, (correct.get(keys[i]!) ?? 0) + 1); });
    const right = (key: string): boolean => argmax(probs[keys.indexOf(key)]!) === k;
    if (right(DEFAULT_KEY) && !right(compareKey)) onlyDefault++;
    if (!right(DEFAULT_KEY) && right(compareKey)) onlyCompared++;
  }
}
const rows = [...correct.keys()].sort().map((key) => {
  const [margin, shiftDown, align] = key.split('|');
  return { margin: Number(margin), shiftDown: Number(shiftDown), align: align === 'true', accuracy: +((correct.get(key) ?? 0) / found).toFixed(4) };
}).sort((a, b) => b.accuracy - a.accuracy);
const result = {
  date: new Date().toISOString(), model: args.model, data: dataDir, split: args.holdout ? 'calibration hold-out of Training' : 'as given', faces: n, detected: found,
  croppedAccuracyAll: +(correctCropped / n).toFixed(4), croppedAccuracyDetected: +(correctCroppedFound / found).toFixed(4),
  defaults: DEFAULT_GEOMETRY, rows, seconds: +((performance.now() - t0) / 1000).toFixed(1),
  paired: { compared, onlyDefaultRight: onlyDefault, onlyComparedRight: onlyCompared, mcnemarP: mcnemarP(onlyDefault, onlyCompared) },
};
console.log(`${args.model}: ${n} faces of ${dataDir}${args.holdout ? ' (calibration hold-out)' : ''}, detector found ${found} (${(100 * found / n).toFixed(1)}%) in the padded 384×384 canvas`);
console.log(`crop-only (whole 48×48): ${(100 * result.croppedAccuracyAll).toFixed(2)}% on all, ${(100 * result.croppedAccuracyDetected).toFixed(2)}% on the detected ones`);
console.log('| margin | shift down | eye-line align | accuracy (detected faces) |\n|---|---|---|---|');
for (const r of rows) console.log(`| ${r.margin} | ${r.shiftDown} | ${r.align ? 'on' : 'off'} | ${(100 * r.accuracy).toFixed(2)}%${keyOf(r) === DEFAULT_KEY ? ' (default)' : ''} |`);
console.log(`paired, default vs margin ${compared.margin} / shift ${compared.shiftDown} / align ${compared.align ? 'on' : 'off'}: ${onlyDefault} faces right only with the default, ${onlyCompared} only with the other; McNemar p = ${result.paired.mcnemarP.toFixed(4)}`);
mkdirSync(join(packageRoot(), 'results'), { recursive: true });
writeFileSync(`${args.out}.tmp`, JSON.stringify(result, null, 2) + '\n');
renameSync(`${args.out}.tmp`, args.out!);
console.log(`wrote ${args.out}`);
await clf.dispose();
await det.dispose();

/** Two-sided exact McNemar test: the binomial probability of a split at least as uneven as b : c under p = 0.5. */
function mcnemarP(b: number, c: number): number {
  const n = b + c;
  if (n === 0) return 1;
  let logC = 0; // log C(n, 0)
  let tail = 0;
  for (let i = 0; i <= Math.min(b, c); i++) {
    if (i > 0) logC += Math.log((n - i + 1) / i);
    tail += Math.exp(logC - n * Math.LN2);
  }
  return Math.min(1, 2 * tail);
}
