/**
 * The end-of-run summary of `ferkit analyze`: counts, expressions, speed, failures and, when every file sits in a
 * folder named after a FER2013 expression (Kaggle layout `PublicTest/happy/x.jpg`), accuracy against those names.
 */
import { basename, dirname } from 'node:path';
import { EXPRESSIONS, LABEL_SETS, type Expression, type LabelSetId } from '../core/labels.js';
import { reportFromConfusion } from '../core/metrics.js';
import type { FerkitErrorCode } from '../core/errors.js';
import { chosenLabel, type BatchItem } from '../node/output.js';
import { formatDuration } from './progress.js';
import type { ClassificationReport } from '../core/metrics.js';

/** Accuracy against folder names. */
export interface GroundTruthSummary {
  /** Label set predictions and folder names are compared in (folder names are mapped into it, e.g. disgust → angry for '6'). */
  labelSet: LabelSetId;
  labels: readonly string[];
  /** Images with a folder label that were analysed (failed files are not scored). */
  images: number;
  /** Images whose folder label is dropped by the label set (e.g. surprise for '5'); not scored. */
  excluded: number;
  /** Scored images where no face was found; they count as wrong in `accuracy`. */
  noFace: number;
  /** Correct / images: the predicted label of the image's main face (largest box) equals the folder label. */
  accuracy: number;
  /** Accuracy over images with a face only. */
  accuracyWithFace: number;
  macroF1: number;
  perClass: ClassificationReport['perClass'];
  /** `confusion[true][predicted]` over images with a face, in `labels` order. */
  confusion: number[][];
  /** Images without a face, per true label. */
  noFaceByLabel: number[];
}

/** The summary object (`--summary FILE` writes it as JSON). */
export interface RunSummary {
  files: number;
  ok: number;
  failed: number;
  faces: number;
  imagesWithoutFace: number;
  labelSet: LabelSetId;
  /** Faces per label of the label set (every label, zeros included). */
  expressions: Record<string, number>;
  /** Reported faces the quality gate marked uncertain. */
  uncertainFaces: number;
  /** Faces left out of every output by `--min-quality ok` (not in `faces`). */
  uncertainDropped: number;
  totalMs: number;
  imagesPerSecond: number;
  failuresByCode: Partial<Record<FerkitErrorCode, number>>;
  failures: { file: string; code: FerkitErrorCode; message: string }[];
  /** Present when every file sat in a folder named after an expression (and at least one was scored); otherwise `null`. */
  groundTruth: GroundTruthSummary | null;
  /** Paths found and deliberately not analysed (e.g. the `--annotate` folder inside an input folder), with the reason. */
  skipped: { path: string; reason: string }[];
  /** Outputs that could not be written for a file (e.g. its annotated picture), with the reason. */
  outputFailures: { file: string; message: string }[];
  /** `--annotate`: each analysed file and the picture drawn for it (paths as shown to the user). */
  pictures: { file: string; picture: string }[];
}

/** The expression named by a file's parent folder (case-insensitive), or `null`. */
export function folderExpression(file: string): Expression | null {
  const name = basename(dirname(file)).toLowerCase();
  return (EXPRESSIONS as readonly string[]).includes(name) ? (name as Expression) : null;
}

/** Accumulates batch items into a {@link RunSummary}. */
export class SummaryBuilder {
  private files = 0;
  private ok = 0;
  private faces = 0;
  private noFace = 0;
  private uncertain = 0;
  private dropped = 0;
  private readonly droppedFiles = new Set<string>();
  private readonly expressions: Record<string, number>;
  private readonly failures: RunSummary['failures'] = [];
  private readonly failuresByCode: RunSummary['failuresByCode'] = {};
  private allHaveTruth = true;
  private readonly labels: readonly string[];
  private readonly confusion: number[][];
  private readonly noFaceByLabel: number[];
  private truthImages = 0;
  private excluded = 0;
  private readonly skipped: RunSummary['skipped'] = [];
  private readonly outputFailures: RunSummary['outputFailures'] = [];
  private readonly pictures: RunSummary['pictures'] = [];

  constructor(private readonly labelSet: LabelSetId) {
    this.labels = LABEL_SETS[labelSet].labels;
    this.expressions = Object.fromEntries(this.labels.map((l) => [l, 0]));
    this.confusion = this.labels.map(() => new Array<number>(this.labels.length).fill(0));
    this.noFaceByLabel = new Array<number>(this.labels.length).fill(0);
  }

  /** Records a path found and not analysed on purpose (not a failure). */
  skip(path: string, reason: string): void {
    this.skipped.push({ path, reason });
  }

  /** Records an output of `file` that could not be written. */
  outputFailure(file: string, message: string): void {
    this.outputFailures.push({ file, message });
  }

  /** Records faces of `file` left out by `--min-quality ok` (an image left with none is not "without a face"). */
  dropUncertain(file: string, n: number): void {
    this.dropped += n;
    this.droppedFiles.add(file);
  }

  /** Records the annotated picture written for `file`. */
  picture(file: string, picture: string): void {
    this.pictures.push({ file, picture });
  }

  /** Adds one finished file. */
  add(item: BatchItem): void {
    this.files++;
    const truth = folderExpression(item.file);
    if (truth === null) this.allHaveTruth = false;
    if (!item.ok) {
      this.failures.push({ file: item.file, code: item.error.code, message: item.error.message });
      this.failuresByCode[item.error.code] = (this.failuresByCode[item.error.code] ?? 0) + 1;
      return;
    }
    this.ok++;
    this.faces += item.faces.length;
    if (item.faces.length === 0 && !this.droppedFiles.has(item.file)) this.noFace++;
    for (const face of item.faces) {
      if (face.quality?.status === 'uncertain') this.uncertain++;
      const { label } = chosenLabel(face, this.labelSet);
      this.expressions[label] = (this.expressions[label] ?? 0) + 1;
    }
    if (truth === null) return;
    const mapped = LABEL_SETS[this.labelSet].map[truth];
    if (mapped === null) { this.excluded++; return; }
    const t = this.labels.indexOf(mapped);
    this.truthImages++;
    const main = item.faces.reduce<(typeof item.faces)[number] | undefined>(
      (best, f) => (!best || f.box.width * f.box.height > best.box.width * best.box.height ? f : best), undefined);
    if (!main) { this.noFaceByLabel[t]!++; return; }
    const p = this.labels.indexOf(chosenLabel(main, this.labelSet).label);
    this.confusion[t]![p]!++;
  }

  /** The summary after `totalMs` milliseconds of wall time. */
  finish(totalMs: number): RunSummary {
    let groundTruth: GroundTruthSummary | null = null;
    if (this.allHaveTruth && this.truthImages > 0) {
      const report = reportFromConfusion(this.confusion, this.labels, this.noFaceByLabel); // no face = a miss, as in evaluate --detect
      const noFace = this.noFaceByLabel.reduce((a, b) => a + b, 0);
      const correct = this.confusion.reduce((a, row, i) => a + row[i]!, 0);
      groundTruth = {
        labelSet: this.labelSet, labels: this.labels, images: this.truthImages, excluded: this.excluded, noFace,
        accuracy: this.truthImages ? correct / this.truthImages : 0,
        accuracyWithFace: this.truthImages > noFace ? correct / (this.truthImages - noFace) : 0,
        macroF1: report.macroF1, perClass: report.perClass,
        confusion: this.confusion, noFaceByLabel: this.noFaceByLabel,
      };
    }
    return {
      files: this.files, ok: this.ok, failed: this.files - this.ok, faces: this.faces, imagesWithoutFace: this.noFace,
      labelSet: this.labelSet, expressions: this.expressions, uncertainFaces: this.uncertain, uncertainDropped: this.dropped, totalMs,
      imagesPerSecond: totalMs > 0 ? this.files / (totalMs / 1000) : 0,
      failuresByCode: this.failuresByCode, failures: this.failures, groundTruth,
      skipped: this.skipped, outputFailures: this.outputFailures, pictures: this.pictures,
    };
  }
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The summary as text for stderr (several lines, no trailing newline). */
export function formatSummary(s: RunSummary): string {
  const lines: string[] = [];
  // A rate only means something when images were analysed (a single failed file would show "277.2 images/s").
  const rate = s.ok > 0 ? ` (${s.imagesPerSecond.toFixed(1)} images/s)` : '';
  lines.push(`ferkit analyze: ${plural(s.files, 'file')} in ${formatDuration(s.totalMs / 1000)}${rate}: `
    + `${s.ok} ok, ${s.failed} failed, ${plural(s.faces, 'face')}, ${plural(s.imagesWithoutFace, 'image')} without a face`);
  if (s.failed > 0) {
    const codes = Object.entries(s.failuresByCode).map(([c, n]) => `${c} ${n}`).join(', ');
    lines.push(`  failed: ${codes} (each file is listed above)`);
  }
  if (s.skipped.length > 0) lines.push(`  skipped: ${plural(s.skipped.length, 'path')} (ferkit's own outputs; each is listed above)`);
  if (s.outputFailures.length > 0) lines.push(`  outputs not written: ${s.outputFailures.length} (each is listed above)`);
  if (s.uncertainFaces > 0 || s.uncertainDropped > 0) {
    lines.push(`  quality: ${plural(s.uncertainFaces, 'face')} marked uncertain`
      + (s.uncertainDropped ? `, ${s.uncertainDropped} more left out by --min-quality ok` : '') + ' (docs/quality.md)');
  }
  const counts = Object.entries(s.expressions).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  lines.push(`  expressions (label set ${s.labelSet}): ${counts.length ? counts.map(([l, n]) => `${l} ${n}`).join(', ') : 'none'}`);
  const g = s.groundTruth;
  if (g) {
    const extra = [g.noFace ? `${g.noFace} without a face counted as wrong` : '', g.excluded ? `${g.excluded} excluded by label set ${g.labelSet}` : '']
      .filter(Boolean).join('; ');
    lines.push(`  ground truth from folder names: accuracy ${pct(g.accuracy)} of ${plural(g.images, 'image')}${extra ? ` (${extra})` : ''}, macro-F1 ${g.macroF1.toFixed(3)}`);
    lines.push('  confusion matrix (rows: folder label, columns: predicted):');
    const cols = [...g.labels, 'no face'];
    const w0 = Math.max(...g.labels.map((l) => l.length));
    const widths = cols.map((c) => Math.max(c.length, ...g.confusion.map((r) => String(Math.max(...r, ...g.noFaceByLabel)).length)));
    lines.push(`    ${''.padEnd(w0)}  ${cols.map((c, i) => c.padStart(widths[i]!)).join('  ')}`);
    g.labels.forEach((l, r) => {
      const row = [...g.confusion[r]!, g.noFaceByLabel[r]!];
      lines.push(`    ${l.padEnd(w0)}  ${row.map((n, i) => String(n).padStart(widths[i]!)).join('  ')}`);
    });
  }
  return lines.join('\n');
}
