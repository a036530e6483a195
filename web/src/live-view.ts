/**
 * The live view: boxes, track IDs and smoothed labels drawn over the video, and one card per face with live
 * probability bars.
 */
import { EXPRESSIONS, WEAK_EXPLANATION_SCALE, type FaceExplanationImage, type LiveFace, type LiveFrame } from 'ferkit/web';
import { shownLabel } from './labels.js';
import { EXPRESSION_COLORS, VALENCE_COLORS, el, pct, swatch, textOn, trackChip, trackColor } from './ui.js';

/** Draws `frame` over the video. `mirror` flips x (the video is shown mirrored, the text is not). */
export function drawOverlay(canvas: HTMLCanvasElement, video: HTMLVideoElement, frame: LiveFrame | null, mirror: boolean): void {
  const rect = video.getBoundingClientRect();
  const dpr = devicePixelRatio || 1;
  const w = Math.round(rect.width * dpr);
  const h = Math.round(rect.height * dpr);
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  const ctx = canvas.getContext('2d')!;
  ctx.clearRect(0, 0, w, h);
  if (!frame || !video.videoWidth) return;
  // object-fit: contain: the picture's scale and offset inside the element
  const k = Math.min(w / frame.width, h / frame.height);
  const ox = (w - frame.width * k) / 2;
  const oy = (h - frame.height * k) / 2;
  const fontPx = Math.round(15 * dpr);
  ctx.font = `600 ${fontPx}px system-ui, sans-serif`;
  ctx.textBaseline = 'bottom';
  for (const f of frame.faces) {
    const bx = mirror ? frame.width - f.box.x - f.box.width : f.box.x;
    const x = ox + bx * k;
    const y = oy + f.box.y * k;
    const bw = f.box.width * k;
    const bh = f.box.height * k;
    const color = trackColor(f.trackId);
    ctx.lineWidth = 3 * dpr;
    ctx.strokeStyle = color;
    ctx.strokeRect(x, y, bw, bh);
    const shown = shownLabel(f);
    const text = `#${f.trackId} ${shown.label} ${pct(shown.score)}`;
    const tw = ctx.measureText(text).width + 10 * dpr;
    const th = fontPx + 8 * dpr;
    const ty = y - th < 0 ? y + bh + th : y;
    ctx.fillStyle = color;
    ctx.fillRect(x - 1.5 * dpr, ty - th, tw, th);
    ctx.fillStyle = textOn(color);
    ctx.fillText(text, x + 4 * dpr, ty - 4 * dpr);
    ctx.fillStyle = EXPRESSION_COLORS[shown.label];
    ctx.fillRect(x, y + bh - 5 * dpr, bw * shown.score, 5 * dpr);
  }
}

interface Card {
  root: HTMLElement; label: HTMLElement; labelText: Text; labelSwatch: HTMLElement; meta: HTMLElement; badge: HTMLElement;
  bars: Map<string, { fill: HTMLElement; value: HTMLElement }>; lastSeen: number; explainBtn: HTMLButtonElement; explainOut: HTMLElement;
}

/** A face's quality verdict, once the core provides one (`FaceAnalysis.quality`); null before that. */
export function qualityOf(face: object): { status: string; reasons: readonly string[] } | null {
  const q = (face as { quality?: { status?: unknown; reasons?: unknown } }).quality;
  return q && typeof q.status === 'string' ? { status: q.status, reasons: Array.isArray(q.reasons) ? q.reasons.map(String) : [] } : null;
}

/** Sets a valence bar (centre = 0) to `score` in [−1, 1]. */
export function setValenceBar(fill: HTMLElement, score: number): void {
  const v = Math.max(-1, Math.min(1, score));
  fill.style.left = `${50 + Math.min(0, v) * 50}%`;
  fill.style.width = `${Math.abs(v) * 50}%`;
  fill.style.background = v >= 0 ? VALENCE_COLORS.positive : VALENCE_COLORS.negative;
}

/** A valence bar element with its fill. */
export function valenceBar(): { bar: HTMLElement; fill: HTMLElement } {
  const bar = el('span', 'valence-bar');
  bar.setAttribute('aria-hidden', 'true');
  const fill = el('span');
  bar.append(fill);
  return { bar, fill };
}

/**
 * Shows an occlusion explanation in `out` (a heat map over the crop the classifier saw, a caption and a Hide
 * button), a progress line while it is computed (`null`), or why there is none (an Error).
 */
export function renderExplanation(out: HTMLElement, result: FaceExplanationImage | Error | null): void {
  out.hidden = false;
  if (result === null) {
    out.replaceChildren(el('p', 'muted small', 'Explaining: 122 copies of the crop with a patch hidden, classified in one batch…'));
    return;
  }
  if (result instanceof Error) {
    out.replaceChildren(el('p', 'field-error', `No explanation: ${result.message}`));
    return;
  }
  const canvas = el('canvas');
  canvas.width = result.px;
  canvas.height = result.px;
  canvas.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(result.rgba), result.px, result.px), 0, 0);
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', `Heat map over the ${result.px}-pixel crop the model saw; brighter areas drove "${result.label}" more`);
  const weak = result.scale < WEAK_EXPLANATION_SCALE;
  const text = el('p', 'small', `What drove "${result.label}" (${pct(result.probability)}) in the 48×48 crop the model saw: brighter = hiding it `
    + `lowered the probability more (up to ${pct(result.maxDrop)} for one patch).${weak ? ' Weak: no single region mattered much.' : ''} `
    + `${result.runs} crops, ${Math.round(result.ms)} ms.`);
  const close = el('button', 'small', 'Hide');
  close.type = 'button';
  close.addEventListener('click', () => { out.hidden = true; out.replaceChildren(); });
  out.replaceChildren(canvas, text, close);
}

/** Keeps one card per visible track, updated in place. */
export class FaceCards {
  private readonly cards = new Map<number, Card>();
  private readonly empty: HTMLElement;

  /** @param onExplain - called when a card's "Explain this face" button is pressed (with the card's track id). */
  constructor(private readonly host: HTMLElement, private readonly onExplain?: (trackId: number) => void) {
    this.empty = el('p', 'muted', 'No face in view.');
  }

  /** Shows an explanation (or why there is none) under a track's card; `null` = in progress. */
  showExplanation(trackId: number, result: FaceExplanationImage | Error | null): void {
    const card = this.cards.get(trackId);
    if (!card) return;
    card.explainBtn.disabled = result === null;
    renderExplanation(card.explainOut, result);
  }

  private create(face: LiveFace): Card {
    const root = el('article', 'card');
    root.dataset.track = String(face.trackId);
    root.style.borderColor = trackColor(face.trackId);
    root.setAttribute('aria-label', `Person ${face.trackId}`);
    const head = el('header');
    const label = el('span', 'label');
    const labelSwatch = swatch(EXPRESSION_COLORS.neutral);
    const labelText = document.createTextNode('');
    label.append(labelSwatch, labelText);
    const badge = el('span', 'badge', 'uncertain');
    badge.hidden = true;
    head.append(trackChip(face.trackId), badge, label);
    const meta = el('div', 'meta muted');
    const list = el('div', 'bars');
    const bars = new Map<string, { fill: HTMLElement; value: HTMLElement }>();
    for (const e of EXPRESSIONS) {
      const row = el('div', 'bar-row');
      const name = el('span', 'bar-name', e);
      const track = el('span', 'bar-track');
      track.setAttribute('aria-hidden', 'true');
      const fill = el('span', 'bar-fill');
      fill.style.background = EXPRESSION_COLORS[e];
      track.append(fill);
      const value = el('span', 'bar-value');
      row.append(name, track, value);
      list.append(row);
      bars.set(e, { fill, value });
    }
    const explainBtn = el('button', 'explain-btn', 'Explain this face');
    explainBtn.type = 'button';
    explainBtn.hidden = !this.onExplain;
    explainBtn.addEventListener('click', () => this.onExplain?.(face.trackId));
    const explainOut = el('div', 'explain-out');
    explainOut.hidden = true;
    root.append(head, meta, list, explainBtn, explainOut);
    return { root, label, labelText, labelSwatch, meta, badge, bars, lastSeen: 0, explainBtn, explainOut };
  }

  update(frame: LiveFrame, now: number): void {
    for (const face of frame.faces) {
      let card = this.cards.get(face.trackId);
      if (!card) {
        card = this.create(face);
        this.cards.set(face.trackId, card);
      }
      card.lastSeen = now;
      card.root.classList.remove('stale');
      const s = face.smoothed;
      const shown = shownLabel(face);
      card.labelText.data = `${shown.label} ${pct(shown.score)}`;
      card.labelSwatch.style.background = EXPRESSION_COLORS[shown.label];
      // Uncertain: the quality gate's reasons for this frame, or no label above the smoothing floor.
      const q = qualityOf(face);
      const reasons = [...(q?.reasons ?? []), ...(face.displayUncertain ? ['no clear label'] : [])];
      const uncertain = q?.status === 'uncertain' || face.displayUncertain;
      card.badge.hidden = !uncertain;
      card.badge.textContent = `uncertain${reasons.length ? `: ${reasons.join(', ')}` : ''}`;
      card.root.dataset.quality = uncertain ? 'uncertain' : (q?.status ?? '');
      card.meta.replaceChildren();
      const v = el('span', 'valence', `${s.valence} ${s.valenceScore >= 0 ? '+' : ''}${s.valenceScore.toFixed(2)}`);
      const { bar, fill } = valenceBar();
      setValenceBar(fill, s.valenceScore);
      // After "Calibrate neutral": the bars and label are relative to this person's resting face; say so, with the raw guess.
      const rel = face.relative ?? null;
      card.root.dataset.baseline = rel ? 'calibrated' : '';
      const vsBaseline = rel ? ` · relative to this person's neutral baseline (raw: ${face.label} ${pct(face.labelScore)})` : ` · this frame: ${face.label}`;
      card.meta.append('valence ', bar, v, `${vsBaseline} · face ${Math.round(face.box.width)} px${face.boxSource === 'predicted' ? ' (predicted box)' : ''}`);
      for (const e of EXPRESSIONS) {
        const b = card.bars.get(e)!;
        const p = s.probabilities[e];
        b.fill.style.width = `${(p * 100).toFixed(1)}%`;
        b.value.textContent = pct(p);
      }
    }
    // Cards of tracks gone for > 1.5 s are removed; briefly lost ones are dimmed.
    for (const [id, card] of this.cards) {
      if (now - card.lastSeen > 1500) this.cards.delete(id);
      else if (card.lastSeen !== now) card.root.classList.add('stale');
    }
    this.render();
  }

  /** Removes every card (the camera stopped: nothing is live any more). */
  clear(): void {
    this.cards.clear();
    this.render();
  }

  private render(): void {
    const wanted = [...this.cards.entries()].sort((a, b) => a[0] - b[0]).map(([, c]) => c.root);
    const current = [...this.host.children];
    if (wanted.length === 0) {
      if (current.length !== 1 || current[0] !== this.empty) this.host.replaceChildren(this.empty);
    } else if (wanted.length !== current.length || wanted.some((c, i) => current[i] !== c)) {
      this.host.replaceChildren(...wanted);
    }
  }
}
