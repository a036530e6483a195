/**
 * One error class for every failure ferkit reports, with a stable `code` that programs can switch on.
 * The message names the file (when there is one), what was expected and what was found.
 */

/** Stable error codes. Data errors in a batch become per-item records with one of these codes. */
export type FerkitErrorCode =
  | 'E_INPUT_EMPTY' // zero-byte input
  | 'E_INPUT_READ' // the path cannot be read (missing, permission, a folder)
  | 'E_DECODE' // an image format ferkit reads, but the bytes are corrupt or truncated
  | 'E_UNSUPPORTED_FORMAT' // a real file of a format ferkit does not read
  | 'E_TOO_MANY_PIXELS' // decompression-bomb guard
  | 'E_IMAGE' // an in-memory image with inconsistent width/height/channels/data
  | 'E_OPTION' // a bad option value (programmer error: thrown at once)
  | 'E_MODE' // a call that does not fit the analyzer's mode
  | 'E_MODEL_CHECKSUM' // model bytes do not match their card
  | 'E_MODEL_MISMATCH' // model inputs/outputs do not match their card
  | 'E_MODEL_LOAD' // the runtime could not load a model
  | 'E_INFERENCE'; // the runtime failed while running a model

/** The error ferkit throws (or records per item in batches). `file` is the input path or `null`. */
export class FerkitError extends Error {
  override readonly name = 'FerkitError';
  constructor(
    readonly code: FerkitErrorCode,
    message: string,
    readonly file?: string,
    options?: ErrorOptions,
  ) {
    super(file ? `${file}: ${message}` : message, options);
  }
}

/** Throws `E_OPTION` unless `value` is a finite number in `[min, max]`; returns it. */
export function numberIn(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new FerkitError('E_OPTION', `${name} must be a number in [${min}, ${max}], got ${String(value)} (${typeof value})`);
  }
  return value;
}

/** Throws `E_OPTION` unless `value` is one of `allowed`; returns it. */
export function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new FerkitError('E_OPTION', `${name} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}
