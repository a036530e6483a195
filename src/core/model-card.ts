/**
 * Model cards: the JSON file written by the training export next to each `.onnx` (`models/<id>.card.json`).
 * A card says how to feed the model (input size, colour, normalisation), what its outputs mean (labels in order),
 * where the weights came from and how well they did. Loading checks the bytes and I/O against it.
 */
import { FerkitError } from './errors.js';
import type { TemperatureCalibration } from './calibration.js';
import { EXPRESSIONS } from './labels.js';

/** The card of an expression classifier (see `training/ferkit_train/export.py`). */
export interface ExpressionModelCard {
  id: string;
  task: 'expression';
  /** Hex SHA-256 of the `.onnx` bytes. */
  sha256: string;
  license: string;
  architecture: string;
  parameters: number;
  input: {
    name: string;
    /** `[N, 1, size, size]`, NCHW; N is dynamic (-1 / 'batch'). */
    shape: [number | string, 1, number, number];
    layout: 'NCHW';
    color: 'gray';
    /** x' = (x − mean) / std with x in 0–255. */
    mean: number;
    std: number;
    resize: 'area';
    grayscale: 'bt601';
  };
  output: { name: string; kind: 'logits' };
  /** Output order; must equal {@link EXPRESSIONS}. */
  labels: string[];
  trainedOn: string;
  selectedOn: string;
  metrics: Record<string, unknown>;
  training: Record<string, unknown>;
  /** Temperature scaling fitted on held-out data; absent = uncalibrated (T = 1). */
  calibration?: TemperatureCalibration;
  /** Present on int8 variants (training/ferkit_train/quantize.py): how they were quantized, and from which float model. */
  quantization?: { floatModel: { id: string; sha256: string }; [k: string]: unknown };
}

/** Hex SHA-256 with Web Crypto (`globalThis.crypto.subtle`, in Node ≥ 20 and browsers). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Validates a parsed card and the model bytes it describes.
 * @throws {FerkitError} `E_MODEL_MISMATCH` for a card that is not an expression card of this layout or whose labels differ
 *   from {@link EXPRESSIONS}; `E_MODEL_CHECKSUM` when the bytes' SHA-256 differs from `card.sha256`.
 */
export async function checkExpressionCard(card: unknown, bytes: Uint8Array): Promise<ExpressionModelCard> {
  const c = card as Partial<ExpressionModelCard> | null;
  const id = typeof c?.id === 'string' ? c.id : '(card without id)';
  const bad = (what: string): never => { throw new FerkitError('E_MODEL_MISMATCH', `model ${id}: card ${what}`); };
  if (!c || c.task !== 'expression') bad(`task is ${JSON.stringify(c?.task)}, expected "expression"`);
  const input = c!.input;
  if (!input || input.layout !== 'NCHW' || input.color !== 'gray' || !Array.isArray(input.shape) || input.shape.length !== 4) {
    bad(`input must be NCHW gray [N, 1, H, W], got ${JSON.stringify(input)}`);
  }
  const [, channels, h, w] = input!.shape;
  if (channels !== 1 || !Number.isInteger(h) || !Number.isInteger(w) || (h as number) < 1 || h !== w) {
    bad(`input shape must be [N, 1, s, s] with a positive integer s, got ${JSON.stringify(input!.shape)}`);
  }
  if (typeof input!.name !== 'string' || !input!.name) bad('input.name missing');
  if (!(typeof input!.mean === 'number' && typeof input!.std === 'number' && input!.std > 0)) bad('input mean/std missing');
  if (typeof c!.output?.name !== 'string' || !c!.output.name) bad(`output.name missing, got ${JSON.stringify(c!.output)}`);
  if (JSON.stringify(c!.labels) !== JSON.stringify(EXPRESSIONS)) {
    bad(`labels ${JSON.stringify(c!.labels)} differ from FER2013 order ${JSON.stringify(EXPRESSIONS)}`);
  }
  const t = c!.calibration?.temperature;
  if (c!.calibration !== undefined && !(typeof t === 'number' && Number.isFinite(t) && t > 0)) {
    bad(`calibration.temperature must be a number > 0, got ${JSON.stringify(t)}`);
  }
  const actual = await sha256Hex(bytes);
  if (actual !== c!.sha256) {
    throw new FerkitError('E_MODEL_CHECKSUM', `model ${id}: bytes have sha256 ${actual.slice(0, 12)}…, card says ${String(c!.sha256).slice(0, 12)}…`);
  }
  return c as ExpressionModelCard;
}
