/**
 * The model comparison table (issue: accuracy): for every classifier card found, its PublicTest figures from the card,
 * parameters, ONNX size, training time, and ORT faces/s measured here. Prints Markdown; writes results/models.json
 * when run over the shipped models (no file arguments), or the rows to `--out FILE`.
 *
 *   npm run build && node dist/bench/models.js [models/ferkit-lite.onnx models/compare/*.onnx ...]
 *
 * With no arguments it takes every `*.onnx` with a `.card.json` in `models/` and `models/compare/`.
 * `--write-cards` also records the measured speed in each card (`speed.facesPerSecond` at batch 64, batch 1, the
 * machine and the date), which `ferkit models` shows; the card's sha256 is of the `.onnx`, so it stays valid.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { createExpressionClassifier } from '../src/core/classifier/expression.js';
import type { ExpressionModelCard } from '../src/core/model-card.js';
import { packageRoot, readClassifierModel } from '../src/node/models.js';
import { benchArgs } from './args.js';

const root = packageRoot();
const { values: opts, positionals: args } = benchArgs(import.meta.url, { allowPositionals: true, options: { 'write-cards': { type: 'boolean', default: false }, out: { type: 'string' } } });
const writeCards = opts['write-cards'];
const files = args.length ? args : ['models', 'models/compare']
  .map((d) => join(root, d)).filter((d) => existsSync(d))
  .flatMap((d) => readdirSync(d).filter((f) => f.endsWith('.onnx') && existsSync(join(d, f.replace(/\.onnx$/, '.card.json')))).map((f) => join(d, f)));

/** `acc7` is what the shipped file gives (flip TTA or an ensemble included when its graph does it, `tta: 'flip' | 'ensemble'`);
 *  `accOther` is the other way of running the same network: flip-TTA for a single-crop graph, single crop for a flip-TTA
 *  graph, the best member single crop for an ensemble. */
interface Row { id: string; architecture: string; parameters: number; bytes: number; tta: string; acc7: number; acc5b: number; accValence: number; macroF1: number;
  ece: number; accOther: number; epochs: unknown; secondsPerEpoch: unknown; trainMinutes: unknown; machine: unknown; facesPerSecondBatch64: number; facesPerSecondBatch1: number }
const rows: Row[] = [];
const crop = new Float32Array(48 * 48).map((_, i) => (i * 7) % 256);
async function rate(fn: () => Promise<unknown>, faces: number, seconds = 2): Promise<number> {
  for (let i = 0; i < 3; i++) await fn();
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) { await fn(); n += faces; }
  return Math.round(n / ((performance.now() - t0) / 1000));
}
for (const f of files) {
  const m = await readClassifierModel(f);
  const card = m.card as ExpressionModelCard & { input: { tta?: string }; metrics: {
    publicTest: { accuracy: number; macroF1: number; ece?: number }; publicTestFlipTTA?: { accuracy: number }; publicTestSingleCrop?: { accuracy: number };
    publicTestLabelSets?: Record<string, { accuracy: number }>; publicTestMembers?: Record<string, { accuracy: number }>;
  } };
  const clf = await createExpressionClassifier(ort, m.bytes, m.card, { session: { logSeverityLevel: 3 } });
  const batch = Array.from({ length: 64 }, () => crop);
  const fps64 = await rate(() => clf.classify(batch), 64);
  const fps1 = await rate(() => clf.classify([crop]), 1);
  await clf.dispose();
  if (writeCards) {
    const cardPath = f.replace(/\.onnx$/, '.card.json');
    const json = JSON.parse(readFileSync(cardPath, 'utf8')) as Record<string, unknown>;
    json.speed = { facesPerSecond: fps64, batch: 64, facesPerSecondBatch1: fps1, runtime: `onnxruntime-node ${ort.env.versions?.common ?? ''}`.trim(),
      machine: `${cpus().length} CPU cores (${cpus()[0]?.model ?? 'unknown'})`, measuredAt: new Date().toISOString().slice(0, 10),
      // other work on the machine lowers these figures: a 1-minute load average above ~0.5 means they are not quiet-machine figures
      loadAverage1m: Math.round(loadavg()[0]! * 100) / 100,
      command: 'npm run bench:models -- --write-cards' };
    writeFileSync(`${cardPath}.tmp`, JSON.stringify(json, null, 2) + '\n');
    renameSync(`${cardPath}.tmp`, cardPath);
  }
  rows.push({
    id: card.id, architecture: card.architecture, parameters: card.parameters, bytes: m.bytes.length, tta: card.input.tta ?? 'none',
    acc7: card.metrics.publicTest.accuracy, acc5b: card.metrics.publicTestLabelSets?.['5b']?.accuracy ?? NaN,
    accValence: card.metrics.publicTestLabelSets?.['valence']?.accuracy ?? NaN, macroF1: card.metrics.publicTest.macroF1, ece: card.metrics.publicTest.ece ?? NaN,
    accOther: (card.input.tta === 'flip' ? card.metrics.publicTestSingleCrop?.accuracy
      : card.input.tta === 'ensemble' ? Math.max(...Object.values(card.metrics.publicTestMembers ?? {}).map((m) => m.accuracy))
        : card.metrics.publicTestFlipTTA?.accuracy) ?? NaN,
    epochs: card.training['epochsRun'], secondsPerEpoch: card.training['secondsPerEpoch'], trainMinutes: card.training['trainMinutes'],
    machine: card.training['machine'], facesPerSecondBatch64: fps64, facesPerSecondBatch1: fps1,
  });
}
const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(2)}%` : '–');
console.log('| model | architecture | params | ONNX | in-graph TTA | PublicTest 7-class (as shipped) | 5-class (5b) | valence | macro-F1 | ECE | other way (flip-TTA / single crop / best member alone) | epochs | s/epoch | train min | machine | faces/s b64 | faces/s b1 |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.id} | ${r.architecture} | ${(r.parameters / 1e6).toFixed(2)} M | ${(r.bytes / 1e6).toFixed(2)} MB | ${r.tta} | ${pct(r.acc7)} | ${pct(r.acc5b)} | ${pct(r.accValence)} | ${r.macroF1.toFixed(3)} | ${Number.isFinite(r.ece) ? r.ece.toFixed(3) : '–'} | ${pct(r.accOther)} | ${String(r.epochs ?? '–')} | ${String(r.secondsPerEpoch ?? '–')} | ${String(r.trainMinutes ?? '–')} | ${String(r.machine ?? '–')} | ${r.facesPerSecondBatch64} | ${r.facesPerSecondBatch1} |`);
}
// The shipped table (results/models.json) is written only by a run over the shipped models (no file arguments), so that
// timing one candidate never replaces it; `--out FILE` writes a run's rows anywhere.
const out = opts.out ?? (args.length === 0 ? join(root, 'results', 'models.json') : undefined);
if (out !== undefined) {
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(`${out}.tmp`, JSON.stringify({ date: new Date().toISOString(), rows }, null, 2) + '\n');
  renameSync(`${out}.tmp`, out);
  console.log(`wrote ${out}`);
} else {
  console.log('(files named: results/models.json left as it is; --out FILE writes these rows)');
}
