/**
 * The photo tab: drop (or choose) many photos, analyse them one after another in the worker, show a table with
 * thumbnails, labels and probabilities, and offer a CSV with the same columns as `ferkit analyze --format csv`.
 */
import { EXPRESSIONS, FerkitError, type ImageAnalysis, type WorkerAnalyzer } from 'ferkit/web';
import { photosToCsv, type PhotoItem } from './csv.js';
import { EXPRESSION_COLORS, VALENCE_COLORS, byId, download, el, pct, stamp, trackColor } from './ui.js';

/** Photos larger than this (longer side, px) are analysed shrunk to it; results are in original pixels. */
const MAX_SIDE = 4096;
/** Decompression-bomb guard, as in the CLI. */
const MAX_PIXELS = 100e6;
const THUMB = 176;

export class PhotosView {
  private readonly items: PhotoItem[] = [];
  private readonly queue: File[] = [];
  private busy = false;
  private done = 0;
  private readonly body = byId<HTMLTableSectionElement>('photo-body');
  private readonly progress = byId('photo-progress');
  private readonly csvBtn = byId<HTMLButtonElement>('btn-photos-csv');
  private readonly clearBtn = byId<HTMLButtonElement>('btn-photos-clear');

  constructor(private readonly analyzer: () => WorkerAnalyzer | null) {
    const drop = byId('drop');
    const input = byId<HTMLInputElement>('file-input');
    drop.addEventListener('dragover', (e) => {
      e.preventDefault();
      drop.classList.add('over');
    });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', (e) => {
      e.preventDefault();
      drop.classList.remove('over');
      this.add([...(e.dataTransfer?.files ?? [])]);
    });
    drop.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') input.click();
    });
    input.addEventListener('change', () => {
      this.add([...(input.files ?? [])]);
      input.value = '';
    });
    this.csvBtn.addEventListener('click', () => download(`ferkit-photos-${stamp()}.csv`, photosToCsv(this.items), 'text/csv'));
    this.clearBtn.addEventListener('click', () => {
      this.items.length = 0;
      this.done = 0;
      this.body.replaceChildren();
      this.csvBtn.disabled = true;
      this.clearBtn.disabled = true;
      this.progress.textContent = '';
    });
  }

  /** Queues files (non-images are reported as failed rows). */
  add(files: File[]): void {
    this.queue.push(...files);
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.queue.length) {
        const file = this.queue.shift()!;
        this.progress.textContent = `Analysing ${file.name} (${this.done + 1} of ${this.done + 1 + this.queue.length})…`;
        await this.analyse(file);
        this.done++;
        this.csvBtn.disabled = false;
        this.clearBtn.disabled = false;
      }
      const faces = this.items.reduce((n, i) => n + (i.ok ? i.result.faces.length : 0), 0);
      const failed = this.items.filter((i) => !i.ok).length;
      this.progress.textContent = `${this.items.length} photo(s), ${faces} face(s)${failed ? `, ${failed} failed` : ''}.`;
    } finally {
      this.busy = false;
    }
  }

  private async analyse(file: File): Promise<void> {
    const row = el('tr');
    const thumbCell = el('td', 'thumb');
    const canvas = el('canvas');
    thumbCell.append(canvas);
    const nameCell = el('td', 'file');
    nameCell.append(el('div', '', file.name));
    const facesCell = el('td', 'num', '…');
    const exprCell = el('td');
    row.append(thumbCell, nameCell, facesCell, exprCell);
    this.body.append(row);

    const fail = (code: string, message: string): void => {
      this.items.push({ file: file.name, ok: false, error: { code, message } });
      facesCell.textContent = '–';
      exprCell.append(el('span', 'error', `${code}: ${message}`));
      row.classList.add('failed');
    };

    let bitmap: ImageBitmap;
    try {
      bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
    } catch {
      fail(file.size === 0 ? 'E_INPUT_EMPTY' : 'E_DECODE', file.size === 0 ? 'the file is empty' : 'this browser cannot decode it as an image');
      return;
    }
    const { width, height } = bitmap;
    nameCell.append(el('div', 'muted', `${width}×${height}`));
    if (width * height > MAX_PIXELS) {
      bitmap.close();
      fail('E_TOO_MANY_PIXELS', `${width}x${height} exceeds the limit of ${MAX_PIXELS / 1e6} MP`);
      return;
    }
    const k = Math.min(1, THUMB / Math.max(width, height));
    canvas.width = Math.max(1, Math.round(width * k));
    canvas.height = Math.max(1, Math.round(height * k));
    const ctx = canvas.getContext('2d')!;
    ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);

    const a = this.analyzer();
    if (!a) {
      bitmap.close();
      fail('E_MODEL_LOAD', 'the models are not loaded');
      return;
    }
    let result: ImageAnalysis;
    try {
      ({ result } = await a.analyzeImage(bitmap, file.name, MAX_SIDE));
    } catch (err) {
      fail(err instanceof FerkitError ? err.code : 'E_INFERENCE', (err as Error).message);
      return;
    }
    this.items.push({ file: file.name, ok: true, result });
    facesCell.textContent = String(result.faces.length);
    result.faces.forEach((f, i) => {
      ctx.lineWidth = 2;
      ctx.strokeStyle = trackColor(i + 1);
      ctx.strokeRect(f.box.x * k, f.box.y * k, f.box.width * k, f.box.height * k);
      ctx.fillStyle = trackColor(i + 1);
      ctx.font = '600 11px system-ui, sans-serif';
      ctx.fillText(String(i), f.box.x * k + 2, f.box.y * k + 11);
    });
    if (result.faces.length === 0) {
      exprCell.append(el('span', 'muted', 'no face found'));
      return;
    }
    for (const [i, f] of result.faces.entries()) {
      const line = el('div', 'photo-face');
      const idx = el('span', 'track small', String(i));
      idx.style.background = trackColor(i + 1);
      const lab = el('span', 'label', `${f.label} ${pct(f.labelScore)}`);
      lab.style.color = EXPRESSION_COLORS[f.label];
      const val = el('span', 'valence', f.valence);
      val.style.color = VALENCE_COLORS[f.valence];
      const stack = el('span', 'stack');
      stack.title = EXPRESSIONS.map((e) => `${e} ${(f.probabilities[e] * 100).toFixed(1)}%`).join(', ');
      for (const e of EXPRESSIONS) {
        const seg = el('span');
        seg.style.width = `${f.probabilities[e] * 100}%`;
        seg.style.background = EXPRESSION_COLORS[e];
        stack.append(seg);
      }
      line.append(idx, lab, val, stack, el('span', 'muted small', `det ${f.score.toFixed(2)} · ${Math.round(f.box.width)} px`));
      exprCell.append(line);
    }
  }
}
