/**
 * The loading steps shown under the video while the app starts: camera, ONNX Runtime, each model download (with a
 * progress bar), session creation and warm-up, each with its time. Collapses to one line ("Ready in 1.2 s") when done.
 * Not a live region: the one "Models ready" announcement is made by the page.
 */
import type { LoadStep, ModelLoadEvent } from 'ferkit/web';
import { el } from './ui.js';

const STEP_NAMES: Record<LoadStep | 'camera', string> = {
  camera: 'Camera',
  runtime: 'ONNX Runtime settings and model list',
  engine: 'ONNX Runtime WebAssembly: fetch and compile',
  detector: 'Face detector: ONNX session and a first run',
  classifier: 'Expression model: ONNX session and a first run',
};

interface Row { li: HTMLLIElement; text: HTMLElement; bar: HTMLProgressElement | null; t0: number }

export class LoadProgress {
  private readonly rows = new Map<string, Row>();

  constructor(private readonly root: HTMLDetailsElement | HTMLElement, private readonly summary: HTMLElement, private readonly list: HTMLOListElement) {}

  private row(key: string, label: string): Row {
    let r = this.rows.get(key);
    if (!r) {
      const li = el('li');
      const text = el('span', '', label);
      li.append(text);
      r = { li, text, bar: null, t0: performance.now() };
      this.rows.set(key, r);
      this.list.append(li);
    }
    return r;
  }

  private done(key: string, label: string, ms: number, extra = ''): void {
    const r = this.row(key, label);
    r.li.classList.add('done');
    r.text.textContent = `${label}: ${(ms / 1000).toFixed(2)} s${extra}`;
    r.bar?.remove();
    r.bar = null;
  }

  camera(state: 'start' | 'done'): void {
    if (state === 'start') this.row('camera', STEP_NAMES.camera);
    else this.done('camera', STEP_NAMES.camera, performance.now() - this.row('camera', STEP_NAMES.camera).t0);
  }

  event(e: ModelLoadEvent): void {
    this.summary.textContent = 'Loading…';
    if (e.type === 'step') {
      if (e.state === 'start') this.row(e.step, STEP_NAMES[e.step]);
      else this.done(e.step, STEP_NAMES[e.step], e.ms ?? 0);
      return;
    }
    const key = `file:${e.file}`;
    const label = `Download ${e.file}`;
    const r = this.row(key, label);
    if (e.type === 'fetch' || e.type === 'progress') {
      if (!r.bar) {
        r.bar = document.createElement('progress');
        r.bar.setAttribute('aria-label', `${e.file} downloaded`);
        r.li.append(r.bar);
      }
      const loaded = e.type === 'progress' ? e.loaded : 0;
      if (e.total) {
        r.bar.max = e.total;
        r.bar.value = loaded;
      } else {
        r.bar.removeAttribute('value');
      }
      r.text.textContent = `${label}: ${(loaded / 1e6).toFixed(1)}${e.total ? ` of ${(e.total / 1e6).toFixed(1)}` : ''} MB`;
    } else {
      this.done(key, e.fromCache ? `${e.file} from the browser cache` : label, performance.now() - r.t0, ` (${(e.bytes / 1e6).toFixed(2)} MB)`);
    }
  }

  /** All models loaded at page time `atMs`: the list collapses under a one-line summary. */
  ready(atMs: number): void {
    this.summary.textContent = `Ready ${(atMs / 1000).toFixed(1)} s after page load (details)`;
    if (this.root instanceof HTMLDetailsElement) this.root.open = false;
  }

  failed(): void {
    this.summary.textContent = 'Loading failed (see the message above)';
  }
}
