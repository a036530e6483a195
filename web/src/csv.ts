/**
 * CSV (RFC 4180) writing and the photo-batch table, with the same columns as `ferkit analyze --format csv`.
 */
import { EXPRESSIONS } from '../../src/core/labels.js';
import type { ImageAnalysis } from '../../src/core/types.js';

/** Text cells starting with these are read as formulas by spreadsheets (OWASP: CSV injection). */
const FORMULA_START = /^[=+\-@\t\r]/;
const PLAIN_NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/**
 * Quotes a field when it holds a comma, quote, CR or LF. Numbers are written at full precision. A text field that
 * starts with `=`, `+`, `-`, `@`, tab or CR (and is not a plain number) gets a leading `'`, so that a spreadsheet
 * shows it as text instead of running it as a formula (OWASP's CSV-injection guidance); file names such as
 * `=HYPERLINK(…).jpg` stay harmless.
 */
export function csvField(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return '';
  let s = typeof v === 'number' ? String(v) : v;
  if (typeof v === 'string' && FORMULA_START.test(s) && !PLAIN_NUMBER.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Rows → CSV text with CRLF line ends. */
export function toCsv(rows: readonly (readonly (string | number | null | undefined)[])[]): string {
  return rows.map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n';
}

/** A photo of the batch: its analysis, or why it failed. */
export type PhotoItem = { file: string; ok: true; result: ImageAnalysis } | { file: string; ok: false; error: { code: string; message: string } };

/** Header of the photo CSV (that of the CLI for label set 7). */
export const PHOTO_CSV_HEADER = ['file', 'face', 'x', 'y', 'width', 'height', 'detection_score', 'label', 'label_score', 'valence',
  ...EXPRESSIONS.map((e) => `p_${e}`), 'error_code', 'error_message'] as const;

/** One row per face; a photo without faces gives one row with empty face columns, a failed one its error. */
export function photosToCsv(items: readonly PhotoItem[]): string {
  const empty = (n: number): string[] => new Array<string>(n).fill('');
  const rows: (string | number)[][] = [[...PHOTO_CSV_HEADER]];
  for (const item of items) {
    if (!item.ok) {
      rows.push([item.file, ...empty(9 + EXPRESSIONS.length), item.error.code, item.error.message]);
    } else if (item.result.faces.length === 0) {
      rows.push([item.file, ...empty(11 + EXPRESSIONS.length)]);
    } else {
      item.result.faces.forEach((f, i) => {
        rows.push([item.file, i, f.box.x, f.box.y, f.box.width, f.box.height, f.score, f.label, f.labelScore, f.valence,
          ...EXPRESSIONS.map((e) => f.probabilities[e]), '', '']);
      });
    }
  }
  return toCsv(rows);
}
