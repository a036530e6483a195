/**
 * Calibration and valence thresholds (issue: outputs people can trust).
 *
 *   npm run build && node dist/bench/calibrate.js [--data ../shared/data/fer2013] [--write-cards] [model ids…]
 *
 * For each bundled classifier (default: all in BUNDLED_CLASSIFIERS, then the int8 variants in models/):
 * 1. logits on the calibration hold-out of FER2013 Training (`isCalibrationHoldout`, ≈ 7%) and on PublicTest;
 * 2. fits the temperature on the hold-out only (never PublicTest), and reports NLL and ECE before/after on both;
 * 3. writes reliability diagrams before/after on PublicTest to results/calibration/<id>-reliability-{raw,calibrated}.svg;
 * 4. chooses the valence thresholds on the hold-out (grid 0.05…0.95, the pair with the best macro-F1 of the valence
 *    category against the valence of the true class), with the first model given whose training left the hold-out out
 *    (`--valence-model ID` to choose another), and reports for every model, on PublicTest, the valence
 *    confusion of the old rule (argmax of the 3-class projection, raw softmax) and the new one (thresholds on the
 *    expected valence of the calibrated probabilities), plus how often a top-1 "happy" face was called negative.
 * `--write-cards` stores `calibration` in the card of each model whose training left the hold-out out (a temperature
 * fitted on images the model was trained on is biased: it sharpens, and made PublicTest ECE worse when tried).
 * Writes results/calibration.json.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { fitTemperature, meanNll, softmaxWithTemperature, type TemperatureCalibration } from '../src/core/calibration.js';
import { BUNDLED_CLASSIFIER_IDS, BUNDLED_CLASSIFIERS, createExpressionClassifier } from '../src/core/classifier/expression.js';
import { EXPRESSIONS, LABEL_SETS, VALENCES, argmax, projectProbabilities, toExpressionRecord, type Valence } from '../src/core/labels.js';
import { calibrationBins, expectedCalibrationError, reportFromConfusion } from '../src/core/metrics.js';
import { valenceCategory, valenceScore, type ValenceThresholds } from '../src/core/valence.js';
import { CALIBRATION_PERCENT, datasetLogits, isCalibrationHoldout, type DatasetLogits } from '../src/node/calibration.js';
import { openDataset } from '../src/node/datasets.js';
import { listBundledModels } from '../src/cli/models.js';
import { packageRoot, readClassifierModel } from '../src/node/models.js';
import { reliabilityChartSvg } from '../src/node/report.js';
import { benchArgs } from './args.js';

const root = packageRoot();
const { values: opts, positionals: ids } = benchArgs(import.meta.url, {
  allowPositionals: true,
  options: { data: { type: 'string', default: join(root, '..', 'shared', 'data', 'fer2013') }, 'write-cards': { type: 'boolean', default: false }, 'valence-model': { type: 'string' } },
});
const data = opts.data;
const writeCards = opts['write-cards'];
let valenceModel = opts['valence-model'];
let thresholds: { t: ValenceThresholds; f1: number; model: string } | undefined;
// The bundled int8 variants are calibrated like the rest, after their float models. The float network comes first, so it
// sets the valence thresholds (as when they were chosen; the int8 default's agreement with them is re-checked here) unless
// --valence-model names another.
const quantizedIds = listBundledModels().filter((m) => m.quantizedFrom).map((m) => m.id);
const models = ids.length ? ids : [...new Set([BUNDLED_CLASSIFIERS.float, BUNDLED_CLASSIFIERS.lite, ...quantizedIds, ...BUNDLED_CLASSIFIER_IDS])];
const outDir = join(root, 'results', 'calibration');
mkdirSync(outDir, { recursive: true });

const probsAt = (rows: DatasetLogits['logits'], t: number) => rows.map((r) => softmaxWithTemperature(r, t));
function ece(rows: Float64Array[], labels: number[]): { ece: number; bins: ReturnType<typeof calibrationBins> } {
  const conf = rows.map((p) => Math.max(...p));
  const hit = rows.map((p, i) => p.indexOf(Math.max(...p)) === labels[i]);
  const bins = calibrationBins(conf, hit);
  return { ece: expectedCalibrationError(bins), bins };
}
const accuracy = (rows: ArrayLike<number>[], labels: number[]): number =>
  rows.filter((r, i) => Array.from(r).indexOf(Math.max(...Array.from(r))) === labels[i]).length / labels.length;
const r4 = (x: number): number => Math.round(x * 1e4) / 1e4;

/** Valence of the true class: its 3-class projection (happy, surprise → positive; neutral; the rest negative). */
const trueValence = (label: number): Valence => LABEL_SETS.valence.map[EXPRESSIONS[label]!] as Valence;
const oldRule = (p: Float64Array): Valence => argmax(projectProbabilities(toExpressionRecord(p), 'valence')).label as Valence;
const newRule = (p: Float64Array, t?: ValenceThresholds): Valence => valenceCategory(valenceScore(toExpressionRecord(p)), t);

function valenceTable(rows: Float64Array[], labels: number[], rule: (p: Float64Array) => Valence) {
  const cm = VALENCES.map(() => VALENCES.map(() => 0));
  let happyNegative = 0;
  let happyTop = 0;
  rows.forEach((p, i) => {
    const v = rule(p);
    cm[VALENCES.indexOf(trueValence(labels[i]!))]![VALENCES.indexOf(v)]!++;
    if (argmax(toExpressionRecord(p)).label === 'happy') { happyTop++; if (v === 'negative') happyNegative++; }
  });
  const report = reportFromConfusion(cm, VALENCES);
  return { agreement: r4(report.accuracy), macroF1: r4(report.macroF1), confusion: cm, labels: VALENCES, happyTop, happyNegative };
}

const results: Record<string, unknown> = {};
const trainingSet = await openDataset(data, { split: 'Training' });
const publicSet = await openDataset(data, { split: 'PublicTest' });
for (const id of models) {
  const m = await readClassifierModel(id);
  const clf = await createExpressionClassifier(ort, m.bytes, m.card, { session: { logSeverityLevel: 3 }, calibrated: false });
  const t0 = performance.now();
  const hold = await datasetLogits(clf, trainingSet, { filter: isCalibrationHoldout });
  const pub = await datasetLogits(clf, publicSet);
  await clf.dispose();
  const fit = fitTemperature(hold.logits, hold.labels);
  const T = fit.temperature;
  // runs with --calibration-holdout (the default since it exists) record it in their args
  // the hold-out was left out of training: by the run itself, or by every member of an in-graph ensemble
  const training = (m.card as { training?: { args?: { calibration_holdout?: number }; members?: Record<string, { calibration_holdout?: number }> } }).training;
  const heldOut = training?.args?.calibration_holdout === 1
    || (training?.members !== undefined && Object.values(training.members).every((t) => t.calibration_holdout === 1));
  const holdRaw = ece(probsAt(hold.logits, 1), hold.labels);
  const holdCal = ece(probsAt(hold.logits, T), hold.labels);
  const pubRawP = probsAt(pub.logits, 1);
  const pubCalP = probsAt(pub.logits, T);
  const pubRaw = ece(pubRawP, pub.labels);
  const pubCal = ece(pubCalP, pub.labels);
  for (const [name, bins, e] of [['raw', pubRaw.bins, pubRaw.ece], ['calibrated', pubCal.bins, pubCal.ece]] as const) {
    writeFileSync(join(outDir, `${id}-reliability-${name}.svg`), reliabilityChartSvg(bins, {
      title: `${id} on FER2013 PublicTest, ${name === 'raw' ? 'raw softmax (T = 1)' : `temperature ${T.toFixed(3)}`}`,
      subtitle: `ECE ${e.toFixed(3)} (15 bins) · accuracy ${(accuracy(pub.logits, pub.labels) * 100).toFixed(2)}% · n = ${pub.labels.length}`,
    }));
  }
  const calibration: TemperatureCalibration = {
    method: 'temperature-scaling', temperature: r4(T),
    fittedOn: `FER2013 Training calibration hold-out (${hold.labels.length} images: FNV-1a(file name) mod 100 < ${CALIBRATION_PERCENT}); bench/calibrate.ts`,
    n: hold.labels.length, heldOut,
    nll: { before: r4(fit.nllBefore), after: r4(fit.nllAfter) },
    ece: { before: r4(holdRaw.ece), after: r4(holdCal.ece) },
  };
  const row: Record<string, unknown> = {
    calibration,
    holdout: { n: hold.labels.length, accuracy: r4(accuracy(hold.logits, hold.labels)) },
    publicTest: { n: pub.labels.length, accuracy: r4(accuracy(pub.logits, pub.labels)), nll: { before: r4(meanNll(pub.logits, pub.labels, 1)), after: r4(meanNll(pub.logits, pub.labels, T)) },
      ece: { before: r4(pubRaw.ece), after: r4(pubCal.ece) } },
    seconds: r4((performance.now() - t0) / 1000),
  };
  console.log(`${id}: T = ${T.toFixed(3)} (hold-out n=${hold.labels.length}, held out of training: ${heldOut}); hold-out NLL ${fit.nllBefore.toFixed(4)} → ${fit.nllAfter.toFixed(4)}, ECE ${holdRaw.ece.toFixed(4)} → ${holdCal.ece.toFixed(4)}; PublicTest ECE ${pubRaw.ece.toFixed(4)} → ${pubCal.ece.toFixed(4)} (accuracy ${(accuracy(pub.logits, pub.labels) * 100).toFixed(2)}%)`);

  // the probabilities users see: calibrated when the card will carry the temperature, raw otherwise
  const shownT = heldOut ? T : 1;
  valenceModel ??= heldOut ? id : undefined;
  if (id === valenceModel) {
    // valence thresholds on the hold-out
    const holdP = probsAt(hold.logits, shownT);
    let best = { t: { positive: 0.3, negative: 0.3 }, f1: -1 };
    for (let a = 0.05; a < 0.96; a += 0.05) {
      for (let b = 0.05; b < 0.96; b += 0.05) {
        const t = { positive: r4(a), negative: r4(b) };
        const f1 = valenceTable(holdP, hold.labels, (p) => newRule(p, t)).macroF1;
        if (f1 > best.f1 + 1e-9) best = { t, f1 };
      }
    }
    thresholds = { ...best, model: id };
    console.log(`  valence thresholds fitted on ${id}'s hold-out probabilities: positive ≥ ${best.t.positive}, negative ≤ −${best.t.negative} (macro-F1 ${best.f1.toFixed(4)})`);
  }
  const pubShown = probsAt(pub.logits, shownT);
  row.valence = {
    probabilities: heldOut ? `calibrated (T = ${T.toFixed(3)})` : 'raw (T = 1: no held-out temperature)',
    publicTest: {
      before: valenceTable(pubRawP, pub.labels, oldRule),
      afterDefaultThresholds: valenceTable(pubShown, pub.labels, (p) => newRule(p)),
      ...(thresholds ? { afterFittedThresholds: { thresholds: thresholds.t, fittedWith: thresholds.model, ...valenceTable(pubShown, pub.labels, (p) => newRule(p, thresholds!.t)) } } : {}),
    },
  };
  console.log(`  PublicTest valence: ${JSON.stringify(row.valence)}`);
  results[id] = row;
  if (writeCards && !heldOut) console.log(`  calibration NOT written into ${id}'s card: its training saw the hold-out`);
  if (writeCards && heldOut) {
    const cardPath = m.path.replace(/\.onnx$/, '.card.json');
    const json = JSON.parse(readFileSync(cardPath, 'utf8')) as Record<string, unknown>;
    json.calibration = calibration;
    writeFileSync(`${cardPath}.tmp`, JSON.stringify(json, null, 2) + '\n');
    renameSync(`${cardPath}.tmp`, cardPath);
    console.log(`  wrote calibration into ${cardPath}`);
  }
}
const out = join(root, 'results', 'calibration.json');
writeFileSync(`${out}.tmp`, JSON.stringify({ createdAt: new Date().toISOString(), data, valenceThresholds: thresholds ?? null, results }, null, 2) + '\n');
renameSync(`${out}.tmp`, out);
console.log(`wrote ${out}`);
