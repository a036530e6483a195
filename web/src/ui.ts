/** Small DOM and colour helpers shared by the views. */
import type { Expression, Valence } from 'ferkit/web';

/** One colour per expression (bars, label strips, overlay). */
export const EXPRESSION_COLORS: Readonly<Record<Expression, string>> = {
  angry: '#e5484d', disgust: '#8e4ec6', fear: '#6e56cf', happy: '#f5b400', sad: '#3e80d8', surprise: '#f07b21', neutral: '#8b949e',
};

export const VALENCE_COLORS: Readonly<Record<Valence, string>> = { positive: '#30a46c', neutral: '#8b949e', negative: '#e5484d' };

const TRACK_PALETTE = ['#0091ff', '#e5484d', '#30a46c', '#f5b400', '#8e4ec6', '#f07b21', '#12a594', '#d6409f', '#6e56cf', '#a18072'];

/** A stable colour per track id. */
export function trackColor(id: number): string {
  return TRACK_PALETTE[(((id - 1) % TRACK_PALETTE.length) + TRACK_PALETTE.length) % TRACK_PALETTE.length]!;
}

/** WCAG relative luminance of a `#rrggbb` colour, in [0, 1]. */
export function luminance(hex: string): number {
  const c = [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16) / 255).map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
  return 0.2126 * c[0]! + 0.7152 * c[1]! + 0.0722 * c[2]!;
}

/** Black or white, whichever contrasts more with the `#rrggbb` background (for text on track and expression colours). */
export function textOn(bg: string): '#000' | '#fff' {
  const l = luminance(bg);
  return (l + 0.05) / 0.05 >= 1.05 / (l + 0.05) ? '#000' : '#fff';
}

/** A coloured chip `Person N` (background: the track colour; text: black or white by contrast). */
export function trackChip(id: number, text = `Person ${id}`, small = false): HTMLElement {
  const chip = el('span', small ? 'track small' : 'track', text);
  chip.style.background = trackColor(id);
  chip.style.color = textOn(trackColor(id));
  return chip;
}

/** A small square of `color` (colour is never the only cue: the text next to it says the same). */
export function swatch(color: string): HTMLElement {
  const s = el('span', 'swatch');
  s.style.background = color;
  s.setAttribute('aria-hidden', 'true');
  return s;
}

/** `document.createElement` with class and text. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** The value of a CSS custom property on the root (e.g. `--text`, which follows the light/dark theme), or `fallback`. */
export function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`#${id} is missing from index.html`);
  return e as T;
}

/** Milliseconds as `m:ss` (or `h:mm:ss`). */
export function clock(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export const pct = (p: number): string => `${(p * 100).toFixed(0)}%`;

/** Offers `text` as a file download (a blob URL; nothing is uploaded). */
export function download(name: string, text: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = el('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** A file-name-safe timestamp: 2024-05-01T10-20-30. */
export function stamp(d = new Date()): string {
  return d.toISOString().slice(0, 19).replace(/:/g, '-');
}

