/**
 * Explanation pictures: the classifier's 48×48 input, enlarged, beside the same crop with its occlusion heatmap
 * ({@link explainCrop}) overlaid, and a legend (label, probability, colour scale in probability units). PNG, written
 * atomically with sharp.
 */
import { extname, join } from 'node:path';
import sharp from 'sharp';
import type { ExpressionClassifier } from '../core/classifier/expression.js';
import { FerkitError, describeValue, numberIn } from '../core/errors.js';
import { type Explanation, type ExplainOptions, WEAK_EXPLANATION_SCALE, explainCrop, explanationCrop, explanationRgba, heatColour } from '../core/explain.js';
import type { AlignOptions } from '../core/image.js';
import type { FaceAnalysis, FaceDetection, ImageAnalysis, RawImage } from '../core/types.js';
import { COLOURS, FONT, f1, textOn, xml } from './annotate.js';
import { DEFAULT_MAX_PIXELS, type PixelBudget, decodeImageWithin } from './decode.js';
import { outputOwner, writeFileAtomic } from './output.js';

/** Options of {@link renderExplanation}. */
export interface RenderExplanationOptions {
  /** Side of each of the two panels in pixels (the 48×48 crop is enlarged to it). Default 192. */
  panelPx?: number;
  /** Opacity of the heat colour where the heat is 1 (it fades linearly to 0 with the heat). Default 0.7. */
  alpha?: number;
  /** Below this {@link Explanation.scale} (probability units) the heat colours fade (see `explanationRgba`); 0: never. Default {@link WEAK_EXPLANATION_SCALE} (0.1). */
  fadeBelow?: number;
  /** Text of the legend's first line before the label, e.g. `#1` for the first face. Default none. */
  title?: string;
}

/** Options of {@link writeExplanation}: the occlusion options plus the rendering options. */
export interface WriteExplanationOptions extends ExplainOptions, RenderExplanationOptions {}

/** An explanation and the picture it was written to. */
export interface ExplanationResult extends Explanation {
  /** The PNG written. */
  path: string;
}

/**
 * Renders an explanation as PNG bytes: left panel the crop (bilinear enlargement of the classifier input), right panel
 * the crop in gray with the heat colour blended over it ({@link explanationRgba}: opacity `alpha × heat`, faded when the
 * whole map stands for less than `fadeBelow` of probability, marked "(weak)"), and a legend strip below with the
 * label, its probability and a colour bar from 0 to {@link Explanation.scale} (the heat 1.0 stands for, as a drop of
 * the label's probability).
 * @param explanation - from {@link explainCrop}.
 * @param crop - the same crop, `size × size` gray 0–255.
 * @returns the PNG (width `2 × panelPx`, height `panelPx + legend`), marked `ferkit annotate: explanation` in EXIF Software.
 * @throws {FerkitError} `E_OPTION` for bad options; `E_IMAGE` when `crop` does not match the heatmap size.
 */
export async function renderExplanation(
  explanation: Explanation, crop: ArrayLike<number>, options: RenderExplanationOptions = {},
): Promise<Uint8Array> {
  const S = numberIn('panelPx', options.panelPx ?? 192, 48, 2048);
  if (!Number.isInteger(S)) throw new FerkitError('E_OPTION', `panelPx must be an integer, got ${S}`);
  const alpha = numberIn('alpha', options.alpha ?? 0.7, 0, 1);
  const fadeBelow = numberIn('fadeBelow', options.fadeBelow ?? WEAK_EXPLANATION_SCALE, 0, 1);
  const n = explanation.size;
  if (!crop || crop.length !== n * n) throw new FerkitError('E_IMAGE', `crop must have ${n}x${n} = ${n * n} values, got ${describeValue(crop)}`);
  const legendH = Math.round(S * 0.3);
  const W = 2 * S;
  const H = S + legendH;
  const rgb = new Uint8Array(W * H * 3).fill(24);
  const plain = explanationRgba(explanation, crop, S, { heat: false });
  const over = explanationRgba(explanation, crop, S, { alpha, fadeBelow });
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const i = (y * S + x) * 4;
      const left = (y * W + x) * 3;
      const right = left + S * 3;
      for (let c = 0; c < 3; c++) { rgb[left + c] = plain[i + c]!; rgb[right + c] = over[i + c]!; }
    }
  }
  const font = Math.max(10, Math.round(S * 0.075));
  const small = font * 0.8;
  // Legend line 2: "0 [colour bar] 0.31  drop in p(happy)", the bar in the middle of the line.
  const barX0 = Math.round(font * 1.4);
  const barX1 = Math.round(W * 0.36);
  const line2 = S + legendH * 0.72;
  const barY0 = Math.round(line2 - small * 0.75);
  const barY1 = Math.round(line2 + small * 0.05);
  for (let y = barY0; y < barY1; y++) {
    for (let x = barX0; x < barX1; x++) {
      const [r, g, b] = heatColour((x - barX0) / (barX1 - barX0 - 1));
      const i = (y * W + x) * 3;
      rgb[i] = r; rgb[i + 1] = g; rgb[i + 2] = b;
    }
  }
  const colour = COLOURS[explanation.label] ?? '#ffffff';
  const head = `${options.title ? `${options.title}  ` : ''}${explanation.label} ${explanation.probability.toFixed(2)}`;
  const tagW = head.length * font * 0.62 + font * 0.8;
  const method = `occlusion ${explanation.patch} px, stride ${explanation.stride}, ${explanation.runs} runs`;
  const line1 = S + legendH * 0.08;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="${FONT}">
<rect x="${f1(font * 0.5)}" y="${f1(line1)}" width="${f1(tagW)}" height="${f1(font * 1.35)}" fill="${colour}"/>
<text x="${f1(font * 0.9)}" y="${f1(line1 + font * 1.02)}" font-size="${font}" font-weight="bold" fill="${textOn(colour)}">${xml(head)}</text>
<text x="${f1(W - font * 0.5)}" y="${f1(line1 + font * 1.0)}" font-size="${f1(small)}" fill="#ddd" text-anchor="end">${xml(method)}</text>
<text x="${f1(barX0 - font * 0.3)}" y="${f1(line2)}" font-size="${f1(small)}" fill="#ddd" text-anchor="end">0</text>
<text x="${f1(barX1 + font * 0.3)}" y="${f1(line2)}" font-size="${f1(small)}" fill="#ddd">${explanation.scale.toFixed(2)} = drop in p(${xml(explanation.label)})${explanation.scale < fadeBelow ? ' (weak)' : ''}</text>
</svg>`;
  const png = await sharp(rgb, { raw: { width: W, height: H, channels: 3 } })
    .composite([{ input: Buffer.from(svg), top: 0, left: 0 }])
    // outputOwner() recognises 'ferkit annotate' in the first bytes: a later run may replace the picture without --force.
    .withExif({ IFD0: { Software: 'ferkit annotate: explanation' } })
    .png()
    .toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.length);
}

/**
 * Explains one face crop and writes its picture ({@link renderExplanation}) to `outPath` atomically.
 * @param classifier - the classifier that labelled the face (its `inputSize` fixes the crop size).
 * @param crop - the classifier input for the face, `inputSize × inputSize` gray 0–255 (see {@link explanationCrop}).
 * @param face - the analysed face, or `null`: when it has a `label`, that label is explained (the one ferkit
 *   reported), unless `options.label` says otherwise.
 * @param outPath - a `.png` path; missing folders are created.
 * @returns the explanation plus `path`.
 * @throws {FerkitError} `E_OPTION` for a path not ending in `.png` or bad options; `E_IMAGE` for a bad crop;
 *   `E_INFERENCE`; `E_OUTPUT` when the file cannot be written.
 */
export async function writeExplanation(
  classifier: ExpressionClassifier, crop: Float32Array | Uint8Array, face: FaceAnalysis | FaceDetection | null,
  outPath: string, options: WriteExplanationOptions = {},
): Promise<ExplanationResult> {
  if (extname(outPath).toLowerCase() !== '.png') {
    throw new FerkitError('E_OPTION', `explanation output must end in .png, got "${extname(outPath) || '(no extension)'}"`, outPath);
  }
  const { panelPx, alpha, title, fadeBelow, ...explainOpts } = options;
  const label = explainOpts.label ?? (face && 'label' in face ? face.label : undefined);
  const explanation = await explainCrop(classifier, crop, { ...explainOpts, ...(label !== undefined ? { label } : {}) });
  const png = await renderExplanation(explanation, crop, {
    ...(panelPx !== undefined ? { panelPx } : {}), ...(alpha !== undefined ? { alpha } : {}), ...(fadeBelow !== undefined ? { fadeBelow } : {}), ...(title !== undefined ? { title } : {}),
  });
  await writeFileAtomic(outPath, png);
  return { ...explanation, path: outPath };
}

/**
 * The picture path of face `index` (0-based) of an image: `<dir>/<stem>.face<index+1>.explain.png`, numbered like the
 * `#N` tags of annotated pictures.
 * @param stem - the image's name without extension (or any unique stem, e.g. a relative path without extension).
 */
export function explanationPath(dir: string, stem: string, index: number): string {
  return join(dir, `${stem}.face${index + 1}.explain.png`);
}

/** Options of {@link explainImage}. */
export interface ExplainImageOptions extends WriteExplanationOptions {
  /** The crop geometry the analyzer used (default: the analyzer's defaults). */
  align?: AlignOptions;
  /** The image was analysed as one face (`cropped: true`): explain the whole image. */
  cropped?: boolean;
  /** Decompression-bomb limit for decoding `source`, in pixels; default 100 MP. */
  maxPixels?: number;
  /** Size cap of `source` when it is a path, in bytes. */
  maxBytes?: number;
  /** Pixel budget shared with the analysis workers; held while the image is decoded and its faces explained. */
  budget?: PixelBudget;
  /**
   * Replace existing files that ferkit did not write (default false: such a file is refused with `E_OUTPUT`, like
   * `--annotate` without `--force`). ferkit's own earlier pictures are always replaced; folders and special files never.
   */
  force?: boolean;
}

/**
 * Writes one explanation picture per face of `analysis`: decodes `source` again (as the analyzer did), rebuilds each
 * face's classifier input exactly as the analyzer did ({@link explanationCrop}) and calls {@link writeExplanation}.
 * Faces are explained one after another (each is one batch of `runs` crops).
 * @param source - the analysed image: a path, its encoded bytes, or the decoded {@link RawImage}.
 * @param analysis - the analyzer's result for it (its faces in order).
 * @param pathFor - the output path of face `index` (0-based), e.g. `(i) => explanationPath(dir, stem, i)`.
 * @returns one result per face, in order; `[]` when the image has no face.
 * @throws {FerkitError} `E_OUTPUT` (before any work) when an output path is a folder or special file, or a file ferkit
 *   did not write and `force` is not set; the decode errors of {@link decodeImageWithin}; the errors of {@link writeExplanation}.
 */
export async function explainImage(
  classifier: ExpressionClassifier, source: string | Uint8Array | RawImage, analysis: ImageAnalysis,
  pathFor: (index: number) => string, options: ExplainImageOptions = {},
): Promise<ExplanationResult[]> {
  const { align, cropped, maxPixels, maxBytes, budget, force, ...writeOpts } = options;
  if (analysis.faces.length === 0) return [];
  const paths = analysis.faces.map((_, i) => pathFor(i));
  for (const path of paths) {
    const owner = await outputOwner(path);
    if (owner === 'folder' || owner === 'special') throw new FerkitError('E_OUTPUT', 'exists and is not a regular file; not overwritten', path);
    if (owner === 'foreign' && !force) throw new FerkitError('E_OUTPUT', 'exists and was not written by ferkit; not overwritten (pass --force to replace it)', path);
  }
  const run = async (image: RawImage): Promise<ExplanationResult[]> => {
    const out: ExplanationResult[] = [];
    for (const [i, face] of analysis.faces.entries()) {
      const crop = explanationCrop(image, face, classifier.inputSize, { ...(align ? { align } : {}), ...(cropped ? { cropped } : {}) });
      out.push(await writeExplanation(classifier, crop, face, paths[i]!, { title: `#${i + 1}`, ...writeOpts }));
    }
    return out;
  };
  if (typeof source === 'object' && !(source instanceof Uint8Array)) return run(source);
  return decodeImageWithin(source, {
    maxPixels: maxPixels ?? DEFAULT_MAX_PIXELS, name: analysis.source ?? undefined,
    ...(maxBytes !== undefined ? { maxBytes } : {}), ...(budget ? { budget } : {}),
  }, run);
}
