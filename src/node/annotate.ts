/**
 * Draws an {@link ImageAnalysis} onto its image (boxes, keypoints, label and top-3 probabilities) with sharp and an
 * SVG overlay, and writes the result atomically as JPEG or PNG.
 */
import { extname } from 'node:path';
import sharp from 'sharp';
import { FerkitError, numberIn } from '../core/errors.js';
import type { LabelSetId } from '../core/labels.js';
import { KEYPOINT_NAMES, type FaceAnalysis, type ImageAnalysis } from '../core/types.js';
import { decodeImageWithin, DEFAULT_MAX_PIXELS, type PixelBudget } from './decode.js';
import { chosenLabel, writeFileAtomic } from './output.js';

/** Options of {@link annotateImage}. */
export interface AnnotateOptions {
  /**
   * Label set to show. Default: each face's `projected` set when it has one, else the 7 FER2013 classes.
   * Other sets are projected from the 7 probabilities.
   */
  labels?: LabelSetId;
  /** Images whose longer side is below this many pixels are enlarged (integer factor) so labels stay readable; default 480. */
  minSidePx?: number;
  /** Decompression-bomb limit for decoding `source`, in pixels; default 100 MP. */
  maxPixels?: number;
  /** JPEG quality 1–100; default 90. */
  quality?: number;
  /** Size cap of `source` when it is a path, in bytes (default: decodeImage's, 1 GiB). */
  maxBytes?: number;
  /**
   * Pixel budget shared with the analysis workers: the picture holds `2 × width × height` pixels of it while it is
   * decoded, drawn and encoded (the decoded image plus the rendered overlay).
   */
  budget?: PixelBudget;
}

/** Box and text colour per label (any label set); unknown labels are white. Shared with the video overlay. */
export const COLOURS: Readonly<Record<string, string>> = {
  angry: '#e53935', disgust: '#8e24aa', fear: '#fb8c00', happy: '#fdd835', sad: '#1e88e5', surprise: '#00bcd4',
  neutral: '#bdbdbd', positive: '#43a047', negative: '#e53935',
};

/** Font stack of every SVG overlay. */
export const FONT = "DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif";

/** Escapes text for SVG/XML. */
export const xml = (s: string): string => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
/** A coordinate with one decimal. */
export const f1 = (n: number): string => n.toFixed(1);

/** Black or white text, whichever reads better on `hex`. */
export function textOn(hex: string): string {
  const n = Number.parseInt(hex.slice(1), 16);
  const lum = 0.299 * ((n >> 16) & 255) + 0.587 * ((n >> 8) & 255) + 0.114 * (n & 255);
  return lum > 140 ? '#000' : '#fff';
}

/** Approximate width of `text` in pixels at `size` px (DejaVu Sans averages ~0.6 em per character). */
const textWidth = (text: string, size: number): number => text.length * size * 0.62;

/** SVG for one face: box, keypoints, a label tag above the box, the top-3 panel below it. */
function faceSvg(face: FaceAnalysis, index: number, scale: number, W: number, H: number, base: number, labels: LabelSetId | undefined): string {
  const set = labels ?? face.projected?.labelSet ?? '7';
  const chosen = chosenLabel(face, set);
  const colour = COLOURS[chosen.label] ?? '#ffffff';
  const x = face.box.x * scale, y = face.box.y * scale, w = face.box.width * scale, h = face.box.height * scale;
  // Sizes follow the image, but shrink for small faces in big images so neighbours do not overlap much.
  const font = Math.max(12, Math.min(base * 1.2, Math.max(w * 0.2, base * 0.6)));
  const stroke = Math.max(2, base * 0.2);
  const parts: string[] = [];
  // An uncertain face (quality gate) gets a dashed box, a "?" after its score and its reasons in the panel.
  const uncertain = face.quality?.status === 'uncertain';
  const dash = uncertain ? ` stroke-dasharray="${f1(stroke * 3)} ${f1(stroke * 2)}"` : '';
  parts.push(`<rect x="${f1(x)}" y="${f1(y)}" width="${f1(w)}" height="${f1(h)}" fill="none" stroke="${colour}" stroke-width="${f1(stroke)}"${dash}/>`);
  for (const k of KEYPOINT_NAMES) {
    const p = face.keypoints[k];
    parts.push(`<circle cx="${f1(p.x * scale)}" cy="${f1(p.y * scale)}" r="${f1(stroke * 1.3)}" fill="${colour}" stroke="#000" stroke-width="${f1(stroke * 0.4)}"/>`);
  }
  // Label tag: "#1 happy 0.91" above the box (inside it when the box touches the top edge).
  const tag = `${index + 1}  ${chosen.label} ${chosen.score.toFixed(2)}${uncertain ? ' ?' : ''}`;
  const pad = font * 0.3;
  const tagH = font + 2 * pad;
  const tagW = textWidth(tag, font) + 2 * pad;
  const tagX = Math.min(Math.max(0, x - stroke / 2), Math.max(0, W - tagW));
  const tagY = y - stroke / 2 - tagH >= 0 ? y - stroke / 2 - tagH : y + stroke / 2;
  parts.push(`<rect x="${f1(tagX)}" y="${f1(tagY)}" width="${f1(tagW)}" height="${f1(tagH)}" fill="${colour}"/>`);
  parts.push(`<text x="${f1(tagX + pad)}" y="${f1(tagY + pad + font * 0.82)}" font-size="${f1(font)}" font-weight="bold" fill="${textOn(colour)}">${xml(tag)}</text>`);
  // Top-3 panel below the box (inside its bottom when there is no room).
  const top3 = Object.entries(chosen.probabilities).sort((a, b) => b[1] - a[1]).slice(0, 3);
  const small = font * 0.8;
  const lineH = small * 1.45;
  const lines = top3.map(([l, p]) => `${l} ${(p * 100).toFixed(1)}%`);
  const note = uncertain ? `uncertain: ${face.quality.reasons.join(', ')}` : '';
  const panelW = Math.max(...lines.map((l) => textWidth(l, small)), textWidth(note, small) - small) + 2 * pad + small;
  const panelH = (lines.length + (note ? 1 : 0)) * lineH + 2 * pad;
  const panelX = Math.min(Math.max(0, x - stroke / 2), Math.max(0, W - panelW));
  const panelY = y + h + stroke / 2 + panelH <= H ? y + h + stroke / 2 : Math.max(0, y + h - stroke / 2 - panelH);
  parts.push(`<rect x="${f1(panelX)}" y="${f1(panelY)}" width="${f1(panelW)}" height="${f1(panelH)}" fill="#000" fill-opacity="0.68"/>`);
  lines.forEach((line, i) => {
    const [label, p] = top3[i]!;
    const ly = panelY + pad + i * lineH;
    // A bar under each line shows the probability; the swatch shows the label's colour.
    parts.push(`<rect x="${f1(panelX + pad)}" y="${f1(ly + lineH * 0.2)}" width="${f1(small * 0.6)}" height="${f1(small * 0.6)}" fill="${COLOURS[label] ?? '#fff'}"/>`);
    parts.push(`<rect x="${f1(panelX + pad + small)}" y="${f1(ly + small * 1.22)}" width="${f1(Math.max(1, (panelW - 2 * pad - small) * p))}" height="${f1(Math.max(1, small * 0.1))}" fill="${COLOURS[label] ?? '#fff'}"/>`);
    parts.push(`<text x="${f1(panelX + pad + small)}" y="${f1(ly + small * 0.95)}" font-size="${f1(small)}" fill="#fff">${xml(line)}</text>`);
  });
  if (note) {
    const ly = panelY + pad + lines.length * lineH;
    parts.push(`<text x="${f1(panelX + pad)}" y="${f1(ly + small * 0.95)}" font-size="${f1(small)}" font-style="italic" fill="#ffd84d">${xml(note)}</text>`);
  }
  return parts.join('\n');
}

/**
 * Renders the overlay SVG for `analysis` on a `W × H` canvas (`scale` = canvas px per analysis px).
 * Exported for tests; most callers want {@link annotateImage}.
 */
export function overlaySvg(analysis: ImageAnalysis, W: number, H: number, scale: number, labels?: LabelSetId): string {
  // Base unit: 1% of the longer side: 6.4 px on a 640 px image, 20 px on a 2048 px image. Fonts are 0.6–1.2 units
  // (at least 12 px), lines 0.2 units (at least 2 px).
  const base = Math.max(W, H) / 100;
  const body = analysis.faces.map((f, i) => faceSvg(f, i, scale, W, H, base, labels));
  if (analysis.faces.length === 0) {
    const font = Math.max(12, base * 1.2);
    const text = 'no face found';
    body.push(`<rect x="0" y="0" width="${f1(textWidth(text, font) + font * 0.6)}" height="${f1(font * 1.6)}" fill="#000" fill-opacity="0.68"/>`);
    body.push(`<text x="${f1(font * 0.3)}" y="${f1(font * 1.12)}" font-size="${f1(font)}" fill="#fff">${text}</text>`);
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="${FONT}">\n${body.join('\n')}\n</svg>`;
}

/**
 * Draws every face of `analysis` on its image and writes it to `outPath` (JPEG for `.jpg`/`.jpeg`, PNG for `.png`),
 * atomically (temp file + rename).
 *
 * Drawn per face: the box and the 6 keypoints in the label's colour; a tag `N  label score` (the face's number,
 * its label in the chosen set — `projected.label` when present — and its probability); a panel with the 3 most
 * probable labels in percent. A face the quality gate marks uncertain has a dashed box, a "?" after its score and
 * a line "uncertain: <reasons>" in its panel. Line widths and fonts scale with the image (readable from 640 px to 4000 px);
 * images smaller than `minSidePx` (e.g. 48×48 FER2013 crops) are enlarged first.
 *
 * @param source - the analysed image: a path or encoded bytes (decoded with {@link decodeImage}, EXIF orientation applied).
 * @param analysis - the result for that image; coordinates in its pixels. If `analysis.width/height` differ from the
 *   decoded size, coordinates are scaled to fit.
 * @param outPath - output file; its folder is created when missing. The picture carries the EXIF Software tag
 *   `ferkit annotate` (how ferkit recognises its own pictures before overwriting).
 * @throws {FerkitError} `E_OPTION` for an output extension other than .jpg/.jpeg/.png or bad options;
 *   decode errors of {@link decodeImage}; file system errors from writing.
 */
export async function annotateImage(source: string | Uint8Array, analysis: ImageAnalysis, outPath: string, options: AnnotateOptions = {}): Promise<void> {
  const ext = extname(outPath).toLowerCase();
  if (ext !== '.jpg' && ext !== '.jpeg' && ext !== '.png') {
    throw new FerkitError('E_OPTION', `annotation output must end in .jpg, .jpeg or .png, got "${ext || '(no extension)'}"`, outPath);
  }
  const minSide = numberIn('minSidePx', options.minSidePx ?? 480, 1, 100_000);
  const quality = numberIn('quality', options.quality ?? 90, 1, 100);
  const bytes = await decodeImageWithin(source, {
    maxPixels: options.maxPixels ?? DEFAULT_MAX_PIXELS, name: analysis.source ?? undefined,
    ...(options.maxBytes !== undefined ? { maxBytes: options.maxBytes } : {}),
    ...(options.budget ? { budget: options.budget, budgetWeight: 2 } : {}),
  }, async (img) => {
    const up = Math.max(1, Math.ceil(minSide / Math.max(img.width, img.height)));
    const W = img.width * up;
    const H = img.height * up;
    const scale = analysis.width > 0 ? W / analysis.width : up;
    let pipeline = sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels } });
    if (up > 1) pipeline = sharp(await pipeline.resize(W, H, { kernel: 'lanczos3' }).png().toBuffer());
    // The EXIF Software tag marks the picture as ferkit's, so a later run may replace it without --force.
    pipeline = pipeline.composite([{ input: Buffer.from(overlaySvg(analysis, W, H, scale, options.labels)), top: 0, left: 0 }])
      .withExif({ IFD0: { Software: 'ferkit annotate' } });
    return ext === '.png' ? pipeline.png().toBuffer() : pipeline.jpeg({ quality, mozjpeg: true }).toBuffer();
  });
  await writeFileAtomic(outPath, bytes);
}
