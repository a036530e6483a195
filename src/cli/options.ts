/**
 * Parsers for command-line option values. Each throws commander's `InvalidArgumentError` with one line saying what
 * was expected; commander prefixes it with the option's name, and the CLI exits with code 2.
 */
import { availableParallelism } from 'node:os';
import { InvalidArgumentError } from 'commander';
import { LABEL_SET_IDS, type LabelSetId } from '../core/labels.js';
import { DEFAULT_QUALITY_THRESHOLDS, type QualityThresholds } from '../core/quality.js';
import { OUTPUT_FORMATS, type OutputFormat } from '../node/output.js';

/** Detector choices of `--detector`. */
export const DETECTOR_CHOICES = ['auto', 'front', 'back'] as const;
export type DetectorChoice = (typeof DETECTOR_CHOICES)[number];

/** Parsed, validated options of `ferkit analyze`. */
export interface AnalyzeCliOptions {
  format?: OutputFormat;
  out?: string;
  annotate?: string;
  /** Folder for one occlusion-heatmap PNG per face (`<image>.face<N>.explain.png`). */
  explain?: string;
  summary?: string;
  labels: LabelSetId;
  cropped: boolean;
  minFace?: number;
  detector: DetectorChoice;
  minScore?: number;
  maxPixels?: number;
  model?: string;
  concurrency: number;
  quiet: boolean;
  /** Replace existing files that ferkit did not write (never an input). */
  force: boolean;
  /** CSV decimal places (default 4). */
  precision?: number;
  /** Input size cap in bytes (default 1 GiB). */
  maxBytes?: number;
  /** Decoded pixels in flight across workers (default max(--max-pixels, 100M)). */
  pixelBudget?: number;
  /** `ok`: leave faces the quality gate marks uncertain out of every output. Default `uncertain` (keep all). */
  minQuality?: 'ok' | 'uncertain';
  /** Overrides of the quality gate's thresholds. */
  quality?: Partial<QualityThresholds>;
}

/** `--quality` keys (kebab case) → {@link QualityThresholds} keys. */
const QUALITY_KEYS: Record<string, keyof QualityThresholds> = Object.fromEntries(
  Object.keys(DEFAULT_QUALITY_THRESHOLDS).map((k) => [k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`).replace(/(\d)/, '-$1'), k as keyof QualityThresholds]));

/**
 * `--quality min-face-px=32,min-top-1=0.5`: overrides of the quality gate's thresholds (see docs/quality.md).
 * Keys: min-face-px, min-sharpness, max-yaw-deg, max-roll-deg, min-detection-score, min-top-1, min-margin.
 */
export function parseQualityThresholds(value: string): Partial<QualityThresholds> {
  const out: Partial<QualityThresholds> = {};
  for (const part of value.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([a-z0-9-]+)=(.+)$/.exec(part);
    const key = m ? QUALITY_KEYS[m[1]!] : undefined;
    if (!m || !key) throw new InvalidArgumentError(`expected key=value pairs with keys ${Object.keys(QUALITY_KEYS).join(', ')}; got "${part}".`);
    const n = Number(m[2]);
    if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${m[1]} must be a number ≥ 0, got "${m[2]}".`);
    out[key] = n;
  }
  if (Object.keys(out).length === 0) throw new InvalidArgumentError('expected key=value pairs, e.g. min-face-px=32,min-top-1=0.5.');
  return out;
}

/** Default `--concurrency`: the number of CPUs, at most 4 (decoding and ORT use their own threads too). */
export const defaultConcurrency = (): number => Math.max(1, Math.min(4, availableParallelism()));

/** An integer in `[min, max]`. */
export function parseInteger(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}.`);
    }
    return n;
  };
}

/** A probability in `[0, 1]`. */
export function parseProbability(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('expected a number from 0 to 1, e.g. 0.5.');
  return n;
}

/**
 * A pixel count: `100000000`, `1e8`, `100M` or `100MP` (megapixels), `500k`.
 * @returns pixels, an integer ≥ 1.
 */
export function parsePixels(value: string): number {
  const m = /^\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*(k|m|mp)?\s*$/i.exec(value);
  const n = m ? Number(m[1]) * ({ k: 1e3, m: 1e6, mp: 1e6 }[(m[2] ?? '').toLowerCase() as 'k' | 'm' | 'mp'] ?? 1) : NaN;
  if (!Number.isFinite(n) || Math.round(n) < 1 || n > Number.MAX_SAFE_INTEGER) {
    throw new InvalidArgumentError('expected a pixel count such as 100000000, 100M or 100MP.');
  }
  return Math.round(n);
}

/** The output format implied by a file name (`.csv`, `.jsonl`/`.ndjson`, `.json`), or `undefined`. */
export function formatFromPath(path: string): OutputFormat | undefined {
  const lower = path.toLowerCase();
  if (lower.endsWith('.csv')) return 'csv';
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson')) return 'jsonl';
  if (lower.endsWith('.json')) return 'json';
  return undefined;
}

export { LABEL_SET_IDS, OUTPUT_FORMATS };

/**
 * A byte count: `1073741824`, `512M`/`512MB`, `1G`/`1GiB`, `500k` (k/M/G/T are powers of 1024).
 * @returns bytes, an integer ≥ 1.
 */
export function parseBytes(value: string): number {
  const m = /^\s*([0-9]*\.?[0-9]+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib|t|tb|tib)?\s*$/i.exec(value);
  const unit = (m?.[2] ?? 'b').toLowerCase()[0] as 'b' | 'k' | 'm' | 'g' | 't';
  const n = m ? Number(m[1]) * { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[unit] : NaN;
  if (!Number.isFinite(n) || Math.round(n) < 1 || n > Number.MAX_SAFE_INTEGER) {
    throw new InvalidArgumentError('expected a size such as 1073741824, 512M or 2G.');
  }
  return Math.round(n);
}
