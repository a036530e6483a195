/**
 * Evaluation reports: the JSON object `ferkit evaluate --json` prints, the terminal table, and the `--report DIR` files
 * (`report.md`, `report.html`, `confusion.svg`, `reliability.svg`, `metrics.json`), each written atomically.
 * The SVG charts are hand-written (a heatmap and a bar chart need no charting library) and self-contained.
 */
import { join } from 'node:path';
import type { CalibrationBin } from '../core/metrics.js';
import type { Expression, LabelSetId } from '../core/labels.js';
import type { CsvUsage, DatasetEvaluation, DatasetPreset, EvaluationCounts, SkippedSample } from './datasets.js';
import { writeFileAtomic, writeJsonFileAtomic } from './output.js';
import type { ClassificationReport } from '../core/metrics.js';

/** Everything one evaluation measured, as plain JSON (`metrics.json`, `--json`). Fractions in [0, 1]. */
export interface EvaluationReport {
  dataset: {
    /** The path given on the command line. */
    path: string;
    kind: 'folder' | 'csv';
    /** The folder or file the samples came from (`path/split` for a split). */
    source: string;
    split: string | null;
    usage: CsvUsage | null;
    preset: DatasetPreset | null;
    /** Source label → FER2013 expression (`null` = dropped). */
    mapping: Record<string, Expression | null>;
  };
  model: {
    id: string;
    /** SHA-256 of the `.onnx` bytes, from its card (checked when the model was loaded). */
    sha256: string;
    /** `--model` as given, or `bundled` for the model shipped in `models/`. */
    source: string;
    trainedOn: string;
    selectedOn: string;
  };
  labelSet: LabelSetId;
  labels: readonly string[];
  /** Whether faces were detected first (`--detect`); otherwise each image was one cropped face. */
  detect: boolean;
  /** Scored samples (images with a face found, plus images without one when `detect`). */
  n: number;
  accuracy: number;
  top2Accuracy: number;
  macroF1: number;
  hammingLoss: number;
  /** Expected calibration error on the max probability, `calibration.length` equal-width bins. */
  ece: number;
  /** The same for the raw softmax (temperature 1) when the model applies a fitted temperature; `null` otherwise. */
  rawCalibration: { temperature: number; ece: number; calibration: CalibrationBin[] } | null;
  perClass: ClassificationReport['perClass'];
  /** `confusion[true][predicted]` counts, in `labels` order. */
  confusion: number[][];
  /** Per true class: images where no face was found (`detect` only; counted as wrong). */
  noFace: number[];
  calibration: CalibrationBin[];
  counts: EvaluationCounts;
  skipped: SkippedSample[];
  /** `false` when the run was interrupted: the metrics cover the samples read until then. */
  complete: boolean;
  timing: { totalMs: number; imagesPerSecond: number; modelLoadMs: number };
  /** ISO 8601 time the report was made. */
  createdAt: string;
}

/** Builds the report object from an evaluation and what describes it. */
export function buildReport(
  evaluation: DatasetEvaluation,
  context: { dataset: EvaluationReport['dataset']; model: EvaluationReport['model']; detect: boolean; modelLoadMs: number; now?: Date },
): EvaluationReport {
  const m = evaluation.metrics;
  return {
    dataset: context.dataset,
    model: context.model,
    labelSet: evaluation.labelSet,
    labels: evaluation.labels,
    detect: context.detect,
    n: m.n,
    accuracy: m.accuracy,
    top2Accuracy: m.top2Accuracy,
    macroF1: m.macroF1,
    hammingLoss: m.hammingLoss,
    ece: m.ece,
    rawCalibration: evaluation.rawCalibration ?? null,
    perClass: m.perClass,
    confusion: m.confusion,
    noFace: m.unpredicted,
    calibration: m.calibration,
    counts: evaluation.counts,
    skipped: evaluation.skipped,
    complete: evaluation.complete,
    timing: { ...evaluation.timing, modelLoadMs: context.modelLoadMs },
    createdAt: (context.now ?? new Date()).toISOString(),
  };
}

const pct = (x: number, digits = 1): string => `${(x * 100).toFixed(digits)}%`;
const f3 = (x: number): string => x.toFixed(3);
const seconds = (ms: number): string => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
const hasNoFace = (r: EvaluationReport): boolean => r.detect && r.noFace.some((x) => x > 0);
/** ", raw softmax 0.063 before temperature 0.730" when the model is calibrated; "" otherwise. */
const eceNote = (r: EvaluationReport): string => (r.rawCalibration
  ? `, raw softmax ${f3(r.rawCalibration.ece)} before temperature ${r.rawCalibration.temperature.toFixed(3)}`
  : ', uncalibrated (no temperature in the model card)');

/**
 * Row-normalised fractions of the confusion matrix (row = true class, over its support incl. images without a face);
 * `NaN` for a class without support.
 */
function rowFractions(r: EvaluationReport): number[][] {
  return r.confusion.map((row, i) => {
    const support = r.perClass[i]!.support;
    return [...row, r.noFace[i] ?? 0].map((c) => (support ? c / support : NaN));
  });
}

/** A row fraction as a percentage with `digits` decimals, or `–` for a class without support. */
const rowPct = (f: number, digits: number): string => (Number.isNaN(f) ? '–' : `${(f * 100).toFixed(digits)}%`);

/** Lines about counts that were not scored (dropped, excluded, skipped, no face); empty when there are none. */
function countNotes(r: EvaluationReport): string[] {
  const c = r.counts;
  const list = (o: Record<string, number>): string => Object.entries(o).map(([k, v]) => `${k} ${v}`).join(', ');
  const notes: string[] = [];
  if (c.noFace) notes.push(`${c.noFace} images without a detected face (counted as wrong)`);
  if (Object.keys(c.droppedByMapping).length) notes.push(`dropped by the label mapping: ${list(c.droppedByMapping)}`);
  if (Object.keys(c.excludedByLabelSet).length) notes.push(`excluded by label set ${r.labelSet}: ${list(c.excludedByLabelSet)}`);
  if (c.skipped) notes.push(`${c.skipped} unreadable or malformed (skipped; listed on stderr)`);
  if (!r.complete) notes.push('INTERRUPTED: the metrics cover only the samples read before the stop');
  return notes;
}

/** A short name of the dataset for titles: `fer2013/PublicTest`, `fer2013.csv (PublicTest)`. */
export function datasetTitle(r: EvaluationReport): string {
  const parts = r.dataset.source.replace(/[\\/]+$/, '').split(/[\\/]/);
  const name = parts.slice(-2).join('/');
  return r.dataset.kind === 'csv' ? `${parts[parts.length - 1]}${r.dataset.usage ? ` (${r.dataset.usage})` : ''}` : name;
}

/**
 * The report as terminal text: a header with the headline metrics, the per-class table, and the confusion matrix
 * with counts and row-normalised percentages (rows: true class, columns: predicted).
 */
export function formatReportTable(r: EvaluationReport): string {
  const out: string[] = [];
  out.push(`ferkit evaluate: ${r.dataset.source} (${r.dataset.kind}${r.dataset.usage ? `, usage ${r.dataset.usage}` : ''}`
    + `${r.dataset.preset ? `, preset ${r.dataset.preset}` : ''}; label set ${r.labelSet}; ${r.detect ? 'faces detected first' : 'images are face crops'})`);
  out.push(`model ${r.model.id} (sha256 ${r.model.sha256.slice(0, 12)}…)`);
  out.push('');
  out.push(`  n ${r.n}   accuracy ${pct(r.accuracy)}   top-2 ${pct(r.top2Accuracy)}   macro-F1 ${f3(r.macroF1)}   `
    + `Hamming loss ${f3(r.hammingLoss)}   ECE ${f3(r.ece)} (${r.calibration.length} bins)${eceNote(r)}`);
  out.push(`  ${r.counts.items} items in ${seconds(r.timing.totalMs)} (${r.timing.imagesPerSecond.toFixed(0)} images/s; model load ${seconds(r.timing.modelLoadMs)})`);
  for (const note of countNotes(r)) out.push(`  ${note}`);
  out.push('');

  const w0 = Math.max(9, ...r.labels.map((l) => l.length));
  out.push(`  ${'class'.padEnd(w0)}  precision  recall      F1  support`);
  for (const p of r.perClass) {
    out.push(`  ${p.label.padEnd(w0)}  ${f3(p.precision).padStart(9)}  ${f3(p.recall).padStart(6)}  ${f3(p.f1).padStart(6)}  ${String(p.support).padStart(7)}`);
  }
  // macro averages over the classes present in truth or predictions, as macro-F1
  const present = r.perClass.filter((p, c) => p.support > 0 || r.confusion.some((row) => row[c]! > 0));
  const mean = (k: 'precision' | 'recall'): number => present.reduce((a, p) => a + p[k], 0) / Math.max(1, present.length);
  out.push(`  ${'macro avg'.padEnd(w0)}  ${f3(mean('precision')).padStart(9)}  ${f3(mean('recall')).padStart(6)}  ${f3(r.macroF1).padStart(6)}  ${String(r.n).padStart(7)}`);
  out.push('');

  const noFace = hasNoFace(r);
  const cols = [...r.labels, ...(noFace ? ['no face'] : [])];
  const frac = rowFractions(r);
  const cells = r.labels.map((_, i) => cols.map((_c, j) => {
    const count = j < r.labels.length ? r.confusion[i]![j]! : r.noFace[i]!;
    return [String(count), rowPct(frac[i]![j]!, 0)] as const;
  }));
  const cw = Math.max(...cols.map((c) => c.length), ...cells.flat().map(([n, p]) => n.length + 1 + p.length));
  const nw = Math.max(...cells.flat().map(([n]) => n.length));
  const rowHead = 'true \\ predicted';
  const w1 = Math.max(w0, rowHead.length);
  out.push('  confusion matrix (rows: true class, columns: predicted; count and % of the row)');
  out.push(`  ${rowHead.padEnd(w1)}  ${cols.map((c) => c.padStart(cw)).join('  ')}  ${'support'.padStart(7)}`);
  r.labels.forEach((l, i) => {
    const row = cells[i]!.map(([n, p]) => `${n.padStart(nw)} ${p.padStart(4)}`.padStart(cw)).join('  ');
    out.push(`  ${l.padEnd(w1)}  ${row}  ${String(r.perClass[i]!.support).padStart(7)}`);
  });
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// SVG

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"';
/** ColorBrewer "Blues" (9 classes), light to dark. */
const BLUES = ['#f7fbff', '#deebf7', '#c6dbef', '#9ecae1', '#6baed6', '#4292c6', '#2171b5', '#08519c', '#08306b'];

/** The colour of `t` in [0, 1] on the Blues scale (linear in RGB between the 9 stops). */
export function blues(t: number): string {
  const x = Math.min(1, Math.max(0, t)) * (BLUES.length - 1);
  const i = Math.min(BLUES.length - 2, Math.floor(x));
  const f = x - i;
  const rgb = (h: string): number[] => [1, 3, 5].map((k) => parseInt(h.slice(k, k + 2), 16));
  const a = rgb(BLUES[i]!);
  const b = rgb(BLUES[i + 1]!);
  return `#${a.map((v, k) => Math.round(v + (b[k]! - v) * f).toString(16).padStart(2, '0')).join('')}`;
}

/** Shortens a title to `max` characters, keeping the end. */
const clip = (s: string, max: number): string => (s.length > max ? `…${s.slice(s.length - max + 1)}` : s);

/**
 * The confusion matrix as an SVG heatmap: cell colour = share of the true class's row (Blues, 0–100 %), each cell
 * showing its count and row percentage, row labels on the left ("true"), column labels below ("predicted"), a
 * support column, a colour bar, and a title with model, dataset and accuracy.
 */
export function confusionSvg(r: EvaluationReport): string {
  const noFace = hasNoFace(r);
  const cols = [...r.labels, ...(noFace ? ['no face'] : [])];
  const k = r.labels.length;
  const cell = k <= 7 ? 78 : 60;
  const left = 118;
  const top = 78;
  const gridW = cols.length * cell;
  const gridH = k * cell;
  const supportW = 64;
  const barX = left + gridW + supportW + 14;
  const width = barX + 64;
  const height = top + gridH + 86;
  const frac = rowFractions(r);
  const t: string[] = [];
  t.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT}>`);
  t.push(REPORT_MARK); // lets a later run recognise its own file (outputOwner)
  t.push(`<title>Confusion matrix: ${esc(r.model.id)} on ${esc(datasetTitle(r))}, accuracy ${pct(r.accuracy)}</title>`);
  t.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  t.push(`<text x="${width / 2}" y="26" text-anchor="middle" font-size="17" font-weight="bold" fill="#111">${esc(clip(`${r.model.id} on ${datasetTitle(r)}`, 70))}</text>`);
  t.push(`<text x="${width / 2}" y="48" text-anchor="middle" font-size="13" fill="#333">accuracy ${pct(r.accuracy)} · macro-F1 ${f3(r.macroF1)} · n = ${r.n} · label set ${esc(r.labelSet)}</text>`);
  t.push(`<text x="${left + gridW + supportW / 2}" y="${top - 8}" text-anchor="middle" font-size="11" fill="#555">support</text>`);
  for (let i = 0; i < k; i++) {
    const y = top + i * cell;
    t.push(`<text x="${left - 8}" y="${y + cell / 2 + 4}" text-anchor="end" font-size="13" fill="#111">${esc(r.labels[i]!)}</text>`);
    t.push(`<text x="${left + gridW + supportW / 2}" y="${y + cell / 2 + 4}" text-anchor="middle" font-size="12" fill="#555">${r.perClass[i]!.support}</text>`);
    for (let j = 0; j < cols.length; j++) {
      const x = left + j * cell;
      const f = frac[i]![j]!;
      const shade = Number.isNaN(f) ? 0 : f;
      const count = j < k ? r.confusion[i]![j]! : r.noFace[i]!;
      const fill = j < k ? blues(shade) : shade > 0 ? '#d9d9d9' : '#f4f4f4';
      const ink = j < k && shade > 0.45 ? '#ffffff' : '#111111';
      t.push(`<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${fill}" stroke="#ffffff" stroke-width="1.5"/>`);
      if (i === j) t.push(`<rect x="${x + 1.5}" y="${y + 1.5}" width="${cell - 3}" height="${cell - 3}" fill="none" stroke="#e6550d" stroke-width="2.5"/>`);
      t.push(`<text x="${x + cell / 2}" y="${y + cell / 2 - 2}" text-anchor="middle" font-size="16" font-weight="bold" fill="${ink}">${count}</text>`);
      t.push(`<text x="${x + cell / 2}" y="${y + cell / 2 + 16}" text-anchor="middle" font-size="12" fill="${ink}">${rowPct(f, 1)}</text>`);
    }
  }
  t.push(`<rect x="${left}" y="${top}" width="${gridW}" height="${gridH}" fill="none" stroke="#999" stroke-width="1"/>`);
  for (let j = 0; j < cols.length; j++) {
    const x = left + j * cell + cell / 2;
    t.push(`<text x="${x}" y="${top + gridH + 20}" text-anchor="middle" font-size="13" fill="#111">${esc(cols[j]!)}</text>`);
  }
  t.push(`<text x="${left + gridW / 2}" y="${top + gridH + 48}" text-anchor="middle" font-size="14" font-weight="bold" fill="#111">predicted</text>`);
  t.push(`<text transform="translate(20 ${top + gridH / 2}) rotate(-90)" text-anchor="middle" font-size="14" font-weight="bold" fill="#111">true</text>`);
  t.push(`<text x="${left}" y="${top + gridH + 72}" font-size="11" fill="#555">colour and % = share of the true class (row); the orange boxes are the correct predictions</text>`);
  // colour bar
  t.push('<defs><linearGradient id="blues" x1="0" y1="1" x2="0" y2="0">');
  BLUES.forEach((c, i) => t.push(`<stop offset="${(i / (BLUES.length - 1)).toFixed(3)}" stop-color="${c}"/>`));
  t.push('</linearGradient></defs>');
  t.push(`<rect x="${barX}" y="${top}" width="16" height="${gridH}" fill="url(#blues)" stroke="#999"/>`);
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    const y = top + gridH * (1 - v);
    t.push(`<line x1="${barX + 16}" y1="${y}" x2="${barX + 20}" y2="${y}" stroke="#555"/>`);
    t.push(`<text x="${barX + 23}" y="${y + 4}" font-size="11" fill="#333">${v * 100}%</text>`);
  }
  t.push('</svg>');
  return `${t.join('\n')}\n`;
}

/**
 * The reliability diagram as SVG: per confidence bin, the accuracy (bars, with the sample count above) against the
 * diagonal of perfect calibration, each bin's mean confidence (black tick; the red line between tick and bar top is the
 * gap), and below it the share of samples per bin; the title gives the ECE.
 */
export function reliabilitySvg(r: EvaluationReport): string {
  const n = r.calibration.reduce((a, b) => a + b.count, 0);
  return reliabilityChartSvg(r.calibration, {
    title: `Calibration: ${r.model.id} on ${datasetTitle(r)}`,
    subtitle: `ECE ${f3(r.ece)} (${r.calibration.length} bins) · accuracy ${pct(r.accuracy)} · n = ${n} classified`,
  });
}

/**
 * A reliability diagram of any set of confidence bins (see {@link reliabilitySvg} for what it draws).
 * @param text - the title line and the line under it (e.g. the ECE and sample count).
 */
export function reliabilityChartSvg(bins: readonly CalibrationBin[], text: { title: string; subtitle: string }): string {
  const width = 580;
  const left = 64;
  const plot = 440;
  const top = 100;
  const histTop = top + plot + 74;
  const histH = 80;
  const height = histTop + histH + 52;
  const x = (v: number): number => left + v * plot;
  const y = (v: number): number => top + (1 - v) * plot;
  const total = bins.reduce((a, b) => a + b.count, 0);
  const maxShare = Math.max(1e-9, ...bins.map((b) => (total ? b.count / total : 0)));
  const t: string[] = [];
  t.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT}>`);
  t.push(REPORT_MARK); // lets a later run recognise its own file (outputOwner)
  t.push(`<title>Reliability diagram: ${esc(text.title)}, ${esc(text.subtitle)}</title>`);
  t.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  t.push(`<text x="${width / 2}" y="26" text-anchor="middle" font-size="17" font-weight="bold" fill="#111">${esc(clip(text.title, 60))}</text>`);
  t.push(`<text x="${width / 2}" y="48" text-anchor="middle" font-size="13" fill="#333">${esc(text.subtitle)}</text>`);
  // legend, in a row above the plot
  const ly = 68;
  t.push(`<rect x="${x(0)}" y="${ly}" width="14" height="10" fill="#4292c6"/><text x="${x(0) + 19}" y="${ly + 9}" font-size="11" fill="#111">accuracy in the bin</text>`);
  t.push(`<line x1="${x(0) + 140}" y1="${ly + 5}" x2="${x(0) + 156}" y2="${ly + 5}" stroke="#111" stroke-width="2.5"/><line x1="${x(0) + 148}" y1="${ly - 2}" x2="${x(0) + 148}" y2="${ly + 12}" stroke="#de2d26" stroke-width="2"/>`
    + `<text x="${x(0) + 161}" y="${ly + 9}" font-size="11" fill="#111">mean confidence (red: gap)</text>`);
  t.push(`<line x1="${x(0) + 330}" y1="${ly + 5}" x2="${x(0) + 350}" y2="${ly + 5}" stroke="#555" stroke-dasharray="5 3" stroke-width="1.5"/><text x="${x(0) + 355}" y="${ly + 9}" font-size="11" fill="#111">perfect calibration</text>`);
  // grid and axes
  for (let v = 0; v <= 1.0001; v += 0.2) {
    t.push(`<line x1="${x(0)}" y1="${y(v)}" x2="${x(1)}" y2="${y(v)}" stroke="#e5e5e5"/>`);
    t.push(`<text x="${x(0) - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11" fill="#333">${v.toFixed(1)}</text>`);
    t.push(`<text x="${x(v)}" y="${y(0) + 16}" text-anchor="middle" font-size="11" fill="#333">${v.toFixed(1)}</text>`);
  }
  t.push(`<line x1="${x(0)}" y1="${y(0)}" x2="${x(1)}" y2="${y(1)}" stroke="#555" stroke-dasharray="6 4" stroke-width="1.5"/>`);
  for (const b of bins) {
    if (b.count === 0) continue;
    const bx = x(b.lower) + 1;
    const bw = Math.max(1, x(b.upper) - x(b.lower) - 2);
    const cx = bx + bw / 2;
    t.push(`<rect x="${bx}" y="${y(b.accuracy)}" width="${bw}" height="${y(0) - y(b.accuracy)}" fill="#4292c6" fill-opacity="0.85"><title>confidence ${f3(b.confidence)}, accuracy ${f3(b.accuracy)}, ${b.count} samples</title></rect>`);
    t.push(`<line x1="${cx}" y1="${y(b.accuracy)}" x2="${cx}" y2="${y(b.confidence)}" stroke="#de2d26" stroke-width="2.5"/>`);
    t.push(`<line x1="${bx}" y1="${y(b.confidence)}" x2="${bx + bw}" y2="${y(b.confidence)}" stroke="#111" stroke-width="2.5"/>`);
    t.push(`<text x="${cx}" y="${y(Math.max(b.accuracy, b.confidence)) - 5}" text-anchor="middle" font-size="9" fill="#555">${b.count}</text>`);
  }
  t.push(`<rect x="${x(0)}" y="${y(1)}" width="${plot}" height="${plot}" fill="none" stroke="#999"/>`);
  t.push(`<text x="${x(0.5)}" y="${y(0) + 34}" text-anchor="middle" font-size="13" fill="#111">confidence (max probability)</text>`);
  t.push(`<text transform="translate(20 ${y(0.5)}) rotate(-90)" text-anchor="middle" font-size="13" fill="#111">accuracy</text>`);
  // histogram of samples per bin
  const hy = (share: number): number => histTop + histH - (share / maxShare) * histH;
  t.push(`<text x="${x(0.5)}" y="${histTop - 12}" text-anchor="middle" font-size="12" fill="#111">share of samples per confidence bin</text>`);
  for (const b of bins) {
    if (b.count === 0) continue;
    const share = b.count / total;
    t.push(`<rect x="${x(b.lower) + 1}" y="${hy(share)}" width="${Math.max(1, x(b.upper) - x(b.lower) - 2)}" height="${histTop + histH - hy(share)}" fill="#969696"><title>${b.count} samples (${pct(share)})</title></rect>`);
  }
  t.push(`<line x1="${x(0)}" y1="${histTop + histH}" x2="${x(1)}" y2="${histTop + histH}" stroke="#999"/>`);
  for (let v = 0; v <= 1.0001; v += 0.2) t.push(`<text x="${x(v)}" y="${histTop + histH + 16}" text-anchor="middle" font-size="11" fill="#333">${v.toFixed(1)}</text>`);
  t.push(`<text x="${x(0) - 6}" y="${histTop + 8}" text-anchor="end" font-size="11" fill="#333">${pct(maxShare, 0)}</text>`);
  t.push(`<text x="${x(0.5)}" y="${histTop + histH + 34}" text-anchor="middle" font-size="13" fill="#111">confidence (max probability)</text>`);
  t.push('</svg>');
  return `${t.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------------------------
// Markdown and HTML

/** Rows of the headline table: [name, value]. */
function headline(r: EvaluationReport): [string, string][] {
  return [
    ['samples scored (n)', String(r.n)],
    ['accuracy', pct(r.accuracy)],
    ['top-2 accuracy', pct(r.top2Accuracy)],
    ['macro-F1', f3(r.macroF1)],
    ['Hamming loss', f3(r.hammingLoss)],
    [`expected calibration error (${r.calibration.length} bins)`, `${f3(r.ece)}${eceNote(r)}`],
    ['speed', `${r.timing.imagesPerSecond.toFixed(0)} images/s (${seconds(r.timing.totalMs)} for ${r.counts.items} items; model load ${seconds(r.timing.modelLoadMs)})`],
    ['model', `${r.model.id} (${r.model.source}), sha256 ${r.model.sha256}`],
    ['dataset', `${r.dataset.source} (${r.dataset.kind}${r.dataset.usage ? `, usage ${r.dataset.usage}` : ''}${r.dataset.preset ? `, preset ${r.dataset.preset}` : ''})`],
    ['label set', `${r.labelSet} (${r.labels.join(', ')})`],
    ['faces', r.detect ? 'detected first (largest face per image)' : 'each image is one cropped face'],
  ];
}

const mdCell = (s: string): string => s.replace(/\|/g, '\\|');
const mdTable = (head: string[], rows: string[][], align: ('l' | 'r')[]): string => [
  `| ${head.map(mdCell).join(' | ')} |`,
  `| ${align.map((a) => (a === 'r' ? '---:' : ':---')).join(' | ')} |`,
  ...rows.map((row) => `| ${row.map(mdCell).join(' | ')} |`),
].join('\n');

function perClassRows(r: EvaluationReport): string[][] {
  return r.perClass.map((p) => [p.label, f3(p.precision), f3(p.recall), f3(p.f1), String(p.support)]);
}

/** Non-empty calibration bins as table rows: range, samples, mean confidence, accuracy. */
function binRows(r: EvaluationReport): string[][] {
  return r.calibration.filter((b) => b.count > 0)
    .map((b) => ['(' + b.lower.toFixed(3) + ', ' + b.upper.toFixed(3) + ']', String(b.count), f3(b.confidence), f3(b.accuracy)]);
}

function confusionRows(r: EvaluationReport): { head: string[]; rows: string[][] } {
  const noFace = hasNoFace(r);
  const frac = rowFractions(r);
  const head = ['true \\ predicted', ...r.labels, ...(noFace ? ['no face'] : []), 'support'];
  const rows = r.labels.map((l, i) => [
    l,
    ...[...r.confusion[i]!, ...(noFace ? [r.noFace[i]!] : [])].map((c, j) => `${c} (${rowPct(frac[i]![j]!, 1)})`),
    String(r.perClass[i]!.support),
  ]);
  return { head, rows };
}

/** The report as Markdown (the charts are linked as `confusion.svg` and `reliability.svg` beside it). */
export function reportMarkdown(r: EvaluationReport): string {
  const cm = confusionRows(r);
  const notes = countNotes(r);
  const parts = [
    `# ferkit evaluation: ${r.model.id} on ${datasetTitle(r)}`,
    '',
    mdTable(['metric', 'value'], headline(r), ['l', 'l']),
    '',
    ...(notes.length ? [...notes.map((n) => `- ${n}`), ''] : []),
    '## Per class',
    '',
    mdTable(['class', 'precision', 'recall', 'F1', 'support'], perClassRows(r), ['l', 'r', 'r', 'r', 'r']),
    '',
    '## Confusion matrix',
    '',
    'Rows: true class; columns: predicted. Each cell: count (% of the row).',
    '',
    mdTable(cm.head, cm.rows, cm.head.map((_, i) => (i === 0 ? 'l' : 'r'))),
    '',
    '![Confusion matrix](confusion.svg)',
    '',
    '## Calibration',
    '',
    `Expected calibration error ${f3(r.ece)} over ${r.calibration.length} equal-width bins of the max probability.`,
    '',
    '![Reliability diagram](reliability.svg)',
    '',
    mdTable(['confidence bin', 'samples', 'mean confidence', 'accuracy'],
      binRows(r), ['l', 'r', 'r', 'r']),
    '',
    ...(r.skipped.length ? ['## Skipped', '', ...r.skipped.slice(0, 200).map((s) => `- \`${s.code}\` ${mdCell(s.name)}: ${mdCell(s.message)}`),
      ...(r.skipped.length > 200 ? [`- … and ${r.skipped.length - 200} more (metrics.json lists all)`] : []), ''] : []),
    `Model card: trained on ${r.model.trainedOn}; checkpoint selected on ${r.model.selectedOn}.`,
    '',
    `Made by ferkit evaluate on ${r.createdAt}. Expressions are facial displays, not felt emotions.`,
    '',
  ];
  return parts.join('\n');
}

const h = esc;
const htmlTable = (head: string[], rows: string[][], numericFrom = 1): string => [
  '<table>',
  `<thead><tr>${head.map((c, i) => `<th${i >= numericFrom ? ' class="n"' : ''}>${h(c)}</th>`).join('')}</tr></thead>`,
  '<tbody>',
  ...rows.map((row) => `<tr>${row.map((c, i) => `<td${i >= numericFrom ? ' class="n"' : ''}>${h(c)}</td>`).join('')}</tr>`),
  '</tbody></table>',
].join('\n');

/** The report as one self-contained HTML page (the two SVG charts inline). */
export function reportHtml(r: EvaluationReport, charts: { confusion: string; reliability: string }): string {
  const cm = confusionRows(r);
  const notes = countNotes(r);
  const strip = (svg: string): string => svg.replace(/^<\?xml[^>]*>\s*/, '');
  return `<!doctype html>
${REPORT_MARK}
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ferkit evaluation: ${h(r.model.id)} on ${h(datasetTitle(r))}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 980px; padding: 0 1rem; color: #111; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.92rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3rem 0.7rem; text-align: left; }
th { background: #f4f6f8; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.charts { display: flex; flex-wrap: wrap; gap: 1.5rem; align-items: flex-start; }
.charts svg { max-width: 100%; height: auto; }
.note { color: #444; }
code { background: #f4f4f4; padding: 0 0.2rem; }
</style>
</head>
<body>
<h1>ferkit evaluation: ${h(r.model.id)} on ${h(datasetTitle(r))}</h1>
${htmlTable(['metric', 'value'], headline(r), 2)}
${notes.length ? `<ul class="note">${notes.map((n) => `<li>${h(n)}</li>`).join('')}</ul>` : ''}
<div class="charts">
${strip(charts.confusion)}
${strip(charts.reliability)}
</div>
<h2>Per class</h2>
${htmlTable(['class', 'precision', 'recall', 'F1', 'support'], perClassRows(r))}
<h2>Confusion matrix</h2>
<p class="note">Rows: true class; columns: predicted. Each cell: count (% of the row).</p>
${htmlTable(cm.head, cm.rows)}
<h2>Calibration bins</h2>
${htmlTable(['confidence bin', 'samples', 'mean confidence', 'accuracy'], binRows(r))}
${r.skipped.length ? `<h2>Skipped (${r.skipped.length})</h2>\n<ul>${r.skipped.slice(0, 200).map((s) => `<li><code>${h(s.code)}</code> ${h(s.name)}: ${h(s.message)}</li>`).join('')}${r.skipped.length > 200 ? `<li>… and ${r.skipped.length - 200} more (metrics.json lists all)</li>` : ''}</ul>` : ''}
<p class="note">Model card: trained on ${h(r.model.trainedOn)}; checkpoint selected on ${h(r.model.selectedOn)}.<br>
Made by ferkit evaluate on ${h(r.createdAt)}. Expressions are facial displays, not felt emotions.</p>
</body>
</html>
`;
}

/** The comment in every SVG and HTML report file that marks it as ferkit's own output (see `outputOwner`). */
export const REPORT_MARK = '<!-- ferkit report -->';

/** The files {@link writeReport} writes, by name. */
export const REPORT_FILES = ['report.md', 'report.html', 'confusion.svg', 'reliability.svg', 'metrics.json'] as const;

/**
 * Writes `report.md`, `report.html`, `confusion.svg`, `reliability.svg` and `metrics.json` into `dir` (created if
 * missing). Each file is written atomically (temp file + rename), so a reader never sees half a file.
 * @returns the paths written.
 */
export async function writeReport(dir: string, r: EvaluationReport): Promise<string[]> {
  const confusion = confusionSvg(r);
  const reliability = reliabilitySvg(r);
  const enc = new TextEncoder();
  const files: [string, string][] = [
    ['confusion.svg', confusion],
    ['reliability.svg', reliability],
    ['report.md', reportMarkdown(r)],
    ['report.html', reportHtml(r, { confusion, reliability })],
  ];
  await Promise.all(files.map(([name, text]) => writeFileAtomic(join(dir, name), enc.encode(text))));
  await writeJsonFileAtomic(join(dir, 'metrics.json'), r);
  return REPORT_FILES.map((f) => join(dir, f));
}
