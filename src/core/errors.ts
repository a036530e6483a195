/**
 * One error class for every failure ferkit reports, with a stable `code` that programs can switch on.
 * The message names the file (when there is one), what was expected and what was found.
 */

/** Stable error codes. Data errors in a batch become per-item records with one of these codes. */
export type FerkitErrorCode =
  | 'E_INPUT_EMPTY' // zero-byte input
  | 'E_INPUT_READ' // the path cannot be read (missing, permission, a folder, a broken or looping symbolic link)
  | 'E_UNSUPPORTED_INPUT' // not a regular file (FIFO, device, socket): refused without opening it
  | 'E_INPUT_TOO_LARGE' // the file is larger than the size cap (maxBytes / --max-bytes), refused before reading
  | 'E_DECODE' // an image format ferkit reads, but the bytes are corrupt or truncated
  | 'E_UNSUPPORTED_FORMAT' // a real file of a format ferkit does not read
  | 'E_TOO_MANY_PIXELS' // decompression-bomb guard
  | 'E_IMAGE' // an in-memory image with inconsistent width/height/channels/data
  | 'E_OPTION' // a bad option value (programmer error: thrown at once)
  | 'E_OUTPUT' // an output cannot be written (folder cannot be created, disk full, locked by another run)
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

/**
 * Checks an options argument: `undefined` (→ `{}`) or a plain object whose keys are all in `known`.
 * @param name - the argument's name for messages, e.g. `'createAnalyzer options'`.
 * @throws {FerkitError} `E_OPTION` naming the argument for `null`, a non-object (number, string, array) or an unknown key.
 */
export function optionsObject<T extends object>(name: string, value: unknown, known: readonly string[]): Partial<T> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new FerkitError('E_OPTION', `${name} must be an object or undefined, got ${describeValue(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) throw new FerkitError('E_OPTION', `${name}: unknown option '${key}'; known: ${known.join(', ')}`);
  }
  return value as Partial<T>;
}

/** Throws `E_OPTION` unless `value` is `undefined` or a boolean; returns it. */
export function optionalBoolean(name: string, value: unknown): boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean') throw new FerkitError('E_OPTION', `${name} must be true or false, got ${describeValue(value)}`);
  return value;
}

/** Throws `E_OPTION` unless `value` is `undefined` or a non-empty string; returns it. */
export function optionalString(name: string, value: unknown): string | undefined {
  if (value !== undefined && (typeof value !== 'string' || value === '')) throw new FerkitError('E_OPTION', `${name} must be a non-empty string, got ${describeValue(value)}`);
  return value;
}

/** A short description of a value for error messages: `null`, `42 (number)`, `"yes" (string)`, `an array`. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)} (string)`;
  if (typeof value === 'object') return `an object (${(value as object).constructor?.name ?? 'Object'})`;
  return `${String(value)} (${typeof value})`;
}
