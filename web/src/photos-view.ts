/**
 * The photo tab: drop (or choose) many photos, analyse them one after another in the worker, show a table with
 * thumbnails, labels and probabilities, and offer a CSV with the same columns as `ferkit analyze --format csv`.
 * Photos added before the models are ready wait in the queue (each row says so) and are analysed once they are.
 */
import { EXPRESSIONS, FerkitError, type FaceDetection, type ImageAnalysis, type WorkerAnalyzer } from 'ferkit/web';
import { photosToCsv, type PhotoItem } from './csv.js';
import { qualityOf, renderExplanation, setValenceBar, valenceBar } from './live-view.js';
import { EXPRESSION_COLORS, VALENCE_COLORS, byId, download, el, pct, stamp, swatch, trackChip, trackColor } from './ui.js';

/** A queued photo and its table row. */
interface Queued { file: File; row: HTMLTableRowElement; status: HTMLElement }

/** Photos larger than this (longer side, px) are analysed shrunk to it; results are in original pixels. */
const MAX_SIDE = 4096;
/** Decompression-bomb guard, as in the CLI. */
const MAX_PIXELS = 100e6;
const THUMB = 176;

export class PhotosView {
  private readonly items: PhotoItem[] = [];
  private readonly queue: Queued[] = [];
  private busy = false;
  /** 'loading' until the page's models are ready; 'failed' if they never will be. */
  private models: 'loading' | 'ready' | 'failed' = 'loading';
  private modelsError = '';
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
    byId('btn-choose').addEventListener('click', () => input.click());
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

  /** Queues files (non-images are reported as failed rows); each gets its row at once, with its state. */
  add(files: File[]): void {
    for (const file of files) {
      const row = el('tr');
      const status = el('span', 'muted', this.models === 'loading' ? 'queued: waiting for the models to load' : 'queued');
      const nameCell = el('td', 'file');
      nameCell.dataset.label = 'File';
      nameCell.append(el('div', '', file.name), status);
      row.append(el('td', 'thumb'), nameCell);
      this.body.append(row);
      this.queue.push({ file, row, status });
    }
    if (this.models === 'loading') this.progress.textContent = `${this.queue.length} photo(s) queued: the models are still loading…`;
    void this.pump();
  }

  /** The models are loaded: analyse what was queued. */
  modelsReady(): void {
    this.models = 'ready';
    void this.pump();
  }

  /** The models could not be loaded: queued and later photos fail with `E_MODEL_LOAD` and this reason. */
  modelsFailed(reason: string): void {
    this.models = 'failed';
    this.modelsError = reason;
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.busy || this.models === 'loading') return;
    this.busy = true;
    try {
      while (this.queue.length) {
        const q = this.queue.shift()!;
        this.progress.textContent = `Analysing ${q.file.name} (${this.done + 1} of ${this.done + 1 + this.queue.length})…`;
        await this.analyse(q);
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

  /** "Explain": the photo is decoded again and the face's occlusion map computed in the worker. */
  private async explain(file: File, face: FaceDetection, btn: HTMLButtonElement, out: HTMLElement): Promise<void> {
    const a = this.analyzer();
    if (!a) return;
    btn.disabled = true;
    renderExplanation(out, null);
    try {
      const bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
      renderExplanation(out, await a.explainFace(bitmap, { box: face.box, keypoints: face.keypoints, score: face.score }, 192));
    } catch (err) {
      renderExplanation(out, err as Error);
    } finally {
      btn.disabled = false;
    }
  }

  private async analyse({ file, row, status }: Queued): Promise<void> {
    const thumbCell = row.cells[0]!;
    const nameCell = row.cells[1]!;
    const canvas = el('canvas');
    thumbCell.append(canvas);
    const facesCell = el('td', 'num', '…');
    facesCell.dataset.label = 'Faces';
    const exprCell = el('td');
    exprCell.dataset.label = 'Expressions';
    row.append(facesCell, exprCell);
    status.textContent = 'decoding…';
    const bar = el('progress', 'file-progress');
    bar.setAttribute('aria-label', `${file.name}: analysing`);
    status.after(bar);
    const settle = (text: string): void => {
      status.textContent = text;
      bar.remove();
    };

    const fail = (code: string, message: string): void => {
      this.items.push({ file: file.name, ok: false, error: { code, message } });
      facesCell.textContent = '–';
      exprCell.append(el('span', 'error', `${code}: ${message}`));
      row.classList.add('failed');
      settle('failed');
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
    status.textContent = 'analysing…';
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
      fail('E_MODEL_LOAD', this.modelsError || 'the models are not loaded');
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
    settle('done');
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
      const idx = trackChip(i + 1, String(i), true);
      const lab = el('span', 'label', `${f.label} ${pct(f.labelScore)}`);
      lab.prepend(swatch(EXPRESSION_COLORS[f.label]));
      const score = f.valenceScore;
      const val = el('span', 'valence', `${f.valence} ${score >= 0 ? '+' : ''}${score.toFixed(2)}`);
      val.prepend(swatch(VALENCE_COLORS[f.valence]));
      const vb = valenceBar();
      setValenceBar(vb.fill, score);
      const q = qualityOf(f);
      const badge = q?.status === 'uncertain' ? el('span', 'badge', `uncertain${q.reasons.length ? `: ${q.reasons.join(', ')}` : ''}`) : null;
      const stack = el('span', 'stack');
      stack.title = EXPRESSIONS.map((e) => `${e} ${(f.probabilities[e] * 100).toFixed(1)}%`).join(', ');
      for (const e of EXPRESSIONS) {
        const seg = el('span');
        seg.style.width = `${f.probabilities[e] * 100}%`;
        seg.style.background = EXPRESSION_COLORS[e];
        stack.append(seg);
      }
      const explain = el('button', 'explain-btn', 'Explain');
      explain.type = 'button';
      explain.setAttribute('aria-label', `Explain face ${i} of ${file.name}`);
      const out = el('div', 'explain-out');
      out.hidden = true;
      explain.addEventListener('click', () => void this.explain(file, f, explain, out));
      line.append(idx, lab, vb.bar, val, stack, ...(badge ? [badge] : []), el('span', 'muted small', `det ${f.score.toFixed(2)} · ${Math.round(f.box.width)} px`), explain);
      exprCell.append(line, out);
    }
  }
}
