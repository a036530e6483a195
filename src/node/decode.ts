/**
 * Image decoding for Node with sharp: any supported file or buffer becomes an 8-bit sRGB {@link RawImage}
 * (3 channels, HWC), after EXIF orientation. Every failure is a {@link FerkitError} that names the file and
 * says in one line what was expected and what was found.
 *
 * Supported: JPEG, PNG, WebP, GIF (first frame), TIFF, AVIF (and HEIC where the installed libvips can decode
 * HEVC; the prebuilt sharp binaries cannot). Anything else, BMP included, is `E_UNSUPPORTED_FORMAT`.
 */
import { constants as fsConstants, type Stats } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import sharp from 'sharp';
import { FerkitError, describeValue, numberIn, optionsObject } from '../core/errors.js';
import type { RawImage } from '../core/types.js';

/** Default decompression-bomb limit: 100 megapixels (width × height, before decoding). */
export const DEFAULT_MAX_PIXELS = 100_000_000;

/**
 * Default size cap of an input file: 1 GiB. Checked from the file's size before a byte is read (a 1.5 GB junk file is
 * refused at once instead of being read whole). The largest legitimate 100 MP image files are a few hundred MB.
 */
export const DEFAULT_MAX_BYTES = 1024 * 1024 * 1024;

/**
 * File extensions (lower case, with the dot) that folder expansion treats as images.
 * BMP is listed on purpose: a BMP in a folder is reported as `E_UNSUPPORTED_FORMAT` rather than skipped silently.
 */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set([
  '.jpg', '.jpeg', '.jpe', '.jfif', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif', '.heic', '.heif', '.bmp',
]);

/** Options of {@link decodeImage}. */
export interface DecodeOptions {
  /**
   * Largest accepted image, in pixels (width × height as stated in the file header); default
   * {@link DEFAULT_MAX_PIXELS} (100 MP). Checked before any pixel is decoded.
   */
  maxPixels?: number;
  /** Name used in error messages; defaults to the path when `input` is a path. */
  name?: string;
  /** Largest accepted file, in bytes (paths only; checked before reading); default {@link DEFAULT_MAX_BYTES}. */
  maxBytes?: number;
}

/** What the first bytes of a buffer say about its format. */
export interface SniffedFormat {
  /** `true` when ferkit hands the bytes to sharp; `false` when it refuses them up front. */
  supported: boolean;
  /** Short format name (`'jpeg'`, `'png'`, `'bmp'`, `'text'`, `'unknown'`, …). */
  format: string;
  /** Human-readable description used in error messages, e.g. `'BMP image (…)'` or `'starts with text: "hello"'`. */
  description: string;
}

const ascii = (bytes: Uint8Array, start: number, end: number): string =>
  String.fromCharCode(...bytes.subarray(start, Math.min(end, bytes.length)));

const startsWith = (bytes: Uint8Array, sig: readonly number[], at = 0): boolean =>
  bytes.length >= at + sig.length && sig.every((b, i) => bytes[at + i] === b);

/** ISO-BMFF brands (bytes 8–11 after `ftyp`) that are HEIF/AVIF still images. */
const HEIF_BRANDS = new Set(['avif', 'avis', 'heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1']);

/**
 * Looks at the first bytes of `bytes` (magic numbers, then a text check) to name the format.
 * Pure: no decoding, never throws.
 * @param bytes - the start of a file; 16 bytes are enough for binary formats, up to 64 are used for text.
 */
export function sniffImageFormat(bytes: Uint8Array): SniffedFormat {
  const ok = (format: string, description: string): SniffedFormat => ({ supported: true, format, description });
  const no = (format: string, description: string): SniffedFormat => ({ supported: false, format, description });
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return ok('jpeg', 'JPEG image');
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return ok('png', 'PNG image');
  if (ascii(bytes, 0, 6) === 'GIF87a' || ascii(bytes, 0, 6) === 'GIF89a') return ok('gif', 'GIF image');
  if (ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 12) === 'WEBP') return ok('webp', 'WebP image');
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a])) return ok('tiff', 'TIFF image');
  if (ascii(bytes, 4, 8) === 'ftyp') {
    const brand = ascii(bytes, 8, 12);
    if (HEIF_BRANDS.has(brand)) return ok('heif', brand.startsWith('avi') ? 'AVIF image' : 'HEIF/HEIC image');
    return no('isobmff', `an ISO media file (brand "${brand.trim()}", e.g. MP4/MOV video), not a still image`);
  }
  if (ascii(bytes, 0, 2) === 'BM') return no('bmp', 'BMP image (sharp cannot decode BMP; convert it to PNG or JPEG)');
  if (startsWith(bytes, [0x00, 0x00, 0x01, 0x00])) return no('ico', 'Windows icon (ICO)');
  if (ascii(bytes, 0, 4) === '8BPS') return no('psd', 'Photoshop document (PSD)');
  if (ascii(bytes, 0, 5) === '%PDF-') return no('pdf', 'PDF document');
  if (startsWith(bytes, [0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20]) || startsWith(bytes, [0xff, 0x4f, 0xff, 0x51])) {
    return no('jp2', 'JPEG 2000 image');
  }
  if (startsWith(bytes, [0xff, 0x0a]) || startsWith(bytes, [0x00, 0x00, 0x00, 0x0c, 0x4a, 0x58, 0x4c, 0x20])) return no('jxl', 'JPEG XL image');
  if (ascii(bytes, 0, 4) === 'qoif') return no('qoi', 'QOI image');
  if (startsWith(bytes, [0x50, 0x4b, 0x03, 0x04])) return no('zip', 'ZIP archive');
  if (startsWith(bytes, [0x1f, 0x8b])) return no('gzip', 'gzip archive');
  if (startsWith(bytes, [0x7f, 0x45, 0x4c, 0x46])) return no('elf', 'executable (ELF)');
  const text = asText(bytes.subarray(0, 64));
  if (text !== null) {
    if (/<svg[\s>]/i.test(text) || /^\s*<\?xml/i.test(text)) return no('svg', 'SVG/XML text (vector images are not supported; rasterise to PNG)');
    const shown = text.replace(/\s+/g, ' ').trim().slice(0, 24);
    return no('text', `starts with text: "${shown}${text.length > 24 ? '…' : ''}"`);
  }
  const hex = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return no('unknown', `unknown data, first bytes ${hex}`);
}

/** Decodes `bytes` as UTF-8 text if it is printable text (tabs and newlines allowed); otherwise `null`. */
function asText(bytes: Uint8Array): string | null {
  if (bytes.length === 0) return null;
  let s: string;
  try {
    // A multi-byte character cut at the end of the window is fine: drop up to 3 trailing bytes on failure.
    s = decodeUtf8Lenient(bytes);
  } catch {
    return null;
  }
  const body = s.replace(/^\uFEFF/, '');
  return /^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]*$/u.test(body) ? body : null;
}

function decodeUtf8Lenient(bytes: Uint8Array): string {
  const dec = new TextDecoder('utf-8', { fatal: true });
  for (let cut = 0; cut <= 3 && cut < bytes.length; cut++) {
    try {
      return dec.decode(bytes.subarray(0, bytes.length - cut));
    } catch {
      // try a shorter window
    }
  }
  throw new Error('not UTF-8');
}

/**
 * Reads a whole file into memory with ferkit's input errors. Only regular files are read: the path is `stat`ed first
 * and a FIFO, socket or device is refused without being opened (opening a FIFO would block); the file is then opened
 * non-blocking and checked again on the open handle, so a path swapped for a FIFO in between cannot hang the read.
 * The size is checked against `maxBytes` before reading, and at most `size` bytes are read (a file that grows while
 * being read is cut at its size at open time).
 * @param path - file path.
 * @param name - name for error messages (default: `path`).
 * @param maxBytes - largest accepted size in bytes (default {@link DEFAULT_MAX_BYTES}).
 * @returns the file's bytes (length ≥ 1).
 * @throws {FerkitError} `E_INPUT_READ` when the path is missing, a folder or not readable (permissions, link loop);
 *   `E_UNSUPPORTED_INPUT` for a FIFO, socket or device; `E_INPUT_TOO_LARGE` above `maxBytes`; `E_INPUT_EMPTY` for zero bytes.
 */
export async function readImageBytes(path: string, name: string = path, maxBytes: number = DEFAULT_MAX_BYTES): Promise<Uint8Array> {
  const checkStat = (st: Stats): void => {
    if (st.isDirectory()) throw new FerkitError('E_INPUT_READ', 'cannot read: this is a folder, expected an image file', name);
    if (!st.isFile()) {
      const kind = st.isFIFO() ? 'a FIFO (named pipe)' : st.isSocket() ? 'a socket' : st.isCharacterDevice() ? 'a character device'
        : st.isBlockDevice() ? 'a block device' : 'not a plain file';
      throw new FerkitError('E_UNSUPPORTED_INPUT', `not a regular file (${kind}); only regular files are read`, name);
    }
    if (st.size > maxBytes) {
      throw new FerkitError('E_INPUT_TOO_LARGE', `file is ${formatBytes(st.size)}, above the limit of ${formatBytes(maxBytes)} (maxBytes / --max-bytes); not read`, name);
    }
  };
  let fh: FileHandle | undefined;
  try {
    checkStat(await stat(path));
    fh = await open(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    const st = await fh.stat();
    checkStat(st);
    const size = st.size;
    if (size === 0) throw new FerkitError('E_INPUT_EMPTY', 'file is empty (0 bytes); expected an image', name);
    const bytes = new Uint8Array(size);
    let off = 0;
    while (off < size) {
      const { bytesRead } = await fh.read(bytes, off, size - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    if (off === 0) throw new FerkitError('E_INPUT_EMPTY', 'file is empty (0 bytes); expected an image', name);
    return off === size ? bytes : bytes.subarray(0, off);
  } catch (err) {
    if (err instanceof FerkitError) throw err;
    throw new FerkitError('E_INPUT_READ', describeReadError(err), name, { cause: err });
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/** Formats a byte count for messages: `512 B`, `1.5 MB`, `2.1 GB` (SI units). */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  while (v >= 1000 && u < units.length - 1) { v /= 1000; u++; }
  return `${Number(v.toPrecision(3))} ${units[u]}`;
}

function describeReadError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT': return 'cannot read: no such file or folder';
    case 'EISDIR': return 'cannot read: this is a folder, expected an image file';
    case 'EACCES':
    case 'EPERM': return 'cannot read: permission denied';
    case 'ENOTDIR': return 'cannot read: a parent of this path is a file, not a folder';
    case 'ELOOP': return 'cannot read: too many symbolic links (a link loop?)';
    case 'ENAMETOOLONG': return 'cannot read: path name too long';
    case 'ERR_FS_FILE_TOO_LARGE': return 'cannot read: file is larger than 2 GiB, expected an image';
    default: return `cannot read: ${code ?? 'error'} (${err instanceof Error ? err.message : String(err)})`;
  }
}

/** Formats a pixel count in megapixels for messages: `900`, `2.5`, `0.0012`. */
function megapixels(px: number): string {
  const mp = px / 1e6;
  return mp >= 10 ? String(Math.round(mp)) : String(Number(mp.toPrecision(2)));
}

/** Message of a decompression-bomb refusal, with the limit (shared with the sharp-level guard). */
function tooManyPixelsMessage(width: number, height: number, maxPixels: number): string {
  const px = width * height;
  const exact = megapixels(px) === megapixels(maxPixels) ? ` (${px} > ${maxPixels} pixels)` : '';
  return `${width}x${height} = ${megapixels(px)} MP exceeds the limit of ${megapixels(maxPixels)} MP${exact} (maxPixels / --max-pixels)`;
}

/** First distinct, meaningful line of a sharp/libvips error, without sharp's generic prefixes. */
function sharpDetail(err: unknown): string {
  const raw = (err instanceof Error ? err.message : String(err)).replace(/^Input (buffer|file) (has|contains) /, '');
  const header = /^corrupt header: /.test(raw) ? 'corrupt header: ' : '';
  const lines = raw.slice(header.length).split('\n').map((l) => l.trim()).filter((l) => l.length > 0 && !/^source: bad seek/.test(l));
  return header + (lines[0] ?? raw);
}

/** Turns a sharp failure into a FerkitError with one clear line. */
function decodeError(err: unknown, sniffed: SniffedFormat, bytes: Uint8Array, name: string | undefined, maxPixels: number): FerkitError {
  const detail = sharpDetail(err);
  const size = `${bytes.length} bytes`;
  if (/exceeds pixel limit/i.test(detail)) {
    return new FerkitError('E_TOO_MANY_PIXELS', `image exceeds the limit of ${megapixels(maxPixels)} MP (maxPixels / --max-pixels)`, name, { cause: err });
  }
  if (/unsupported image format/i.test(detail)) {
    return new FerkitError('E_UNSUPPORTED_FORMAT', `${sniffed.description} that this build of sharp/libvips cannot decode`, name, { cause: err });
  }
  if (sniffed.format === 'heif' && /compression|codec|decoder|plugin|unsupported/i.test(detail)) {
    return new FerkitError('E_UNSUPPORTED_FORMAT', `${sniffed.description} with a codec this build of sharp/libvips cannot decode (${detail}); convert it to JPEG or PNG`, name, { cause: err });
  }
  if (sniffed.format === 'jpeg' && /premature end|no image/i.test(detail)) {
    return new FerkitError('E_DECODE', `truncated JPEG: the data ends before the image does (${size}; ${detail})`, name, { cause: err });
  }
  if (sniffed.format === 'png' && !hasPngEnd(bytes)) {
    return new FerkitError('E_DECODE', `truncated PNG: the file ends before its IEND chunk (${size}; ${detail})`, name, { cause: err });
  }
  return new FerkitError('E_DECODE', `corrupt ${sniffed.description}: ${detail} (${size})`, name, { cause: err });
}

/** `true` when a PNG buffer ends with an IEND chunk (possibly followed by a few stray bytes). */
function hasPngEnd(bytes: Uint8Array): boolean {
  const tail = ascii(bytes, Math.max(0, bytes.length - 64), bytes.length);
  return tail.includes('IEND');
}

/**
 * Decodes an image file or buffer into an 8-bit sRGB, 3-channel {@link RawImage}.
 *
 * Steps: read the bytes → refuse empty input → sniff the format from its magic bytes (refusing BMP, text, SVG and
 * anything unknown) → read the header and refuse images over `maxPixels` before decoding → decode the first
 * frame/page with sharp (`failOn: 'error'`, so truncated JPEG/PNG data fails instead of decoding to grey) →
 * apply EXIF orientation → flatten alpha onto white → convert 16-bit, CMYK (via ICC), grayscale and palette images
 * to 8-bit sRGB.
 *
 * @param input - a file path, or the encoded file's bytes.
 * @param options - `maxPixels` (default 100 MP), `maxBytes` (paths; default 1 GiB) and `name` for messages.
 * @returns `{ data, width, height, channels: 3 }`; `width`/`height` in pixels after EXIF orientation
 *   (an orientation-6 photo stored 640×480 comes back 480×640); `data` is HWC RGB, 0–255, `width × height × 3` bytes.
 * @throws {FerkitError} with the file name and one line:
 *   `E_INPUT_READ` (missing path, folder, permission), `E_INPUT_EMPTY` (zero bytes),
 *   `E_UNSUPPORTED_INPUT` (a FIFO, socket or device: never opened), `E_INPUT_TOO_LARGE` (file above `maxBytes`),
 *   `E_UNSUPPORTED_FORMAT` (e.g. `not an image (starts with text: "hello")`, or a format ferkit does not read, e.g. BMP),
 *   `E_TOO_MANY_PIXELS` (header says more than `maxPixels`, e.g. `30000x30000 = 900 MP exceeds the limit of 100 MP`),
 *   `E_DECODE` (corrupt or truncated data), `E_OPTION` (bad `maxPixels`/`maxBytes`, unknown option),
 *   `E_IMAGE` (`input` is neither a path nor a Uint8Array).
 * @example const img = await decodeImage('photo.jpg');  // { width: 1920, height: 1280, channels: 3, data: Uint8Array(7372800) }
 */
export async function decodeImage(input: string | Uint8Array, options: DecodeOptions = {}): Promise<RawImage> {
  const opts = optionsObject<DecodeOptions>('decodeImage options', options, ['maxPixels', 'name', 'maxBytes']);
  return decodeImageWithin(input, opts, async (image) => image);
}

/** What {@link inspectImage} reads from an image's header. */
export interface ImageHeader {
  sniffed: SniffedFormat;
  /** Size in pixels as stored (before EXIF orientation). */
  width: number;
  height: number;
}

/**
 * Sniffs the format and reads the header of an encoded image, refusing it before any pixel is decoded.
 * @throws {FerkitError} `E_INPUT_EMPTY`, `E_UNSUPPORTED_FORMAT`, `E_DECODE` (unreadable header),
 *   `E_TOO_MANY_PIXELS` (more than `maxPixels`), each naming `name`.
 */
export async function inspectImage(bytes: Uint8Array, maxPixels: number = DEFAULT_MAX_PIXELS, name?: string): Promise<ImageHeader> {
  if (bytes.length === 0) throw new FerkitError('E_INPUT_EMPTY', 'input is empty (0 bytes); expected an image', name);
  const sniffed = sniffImageFormat(bytes);
  if (!sniffed.supported) {
    const what = sniffed.format === 'text' || sniffed.format === 'unknown' ? `not an image (${sniffed.description})` : sniffed.description;
    const hint = sniffed.format === 'bmp' || sniffed.format === 'svg' ? '' : '; expected JPEG, PNG, WebP, GIF, TIFF or AVIF';
    throw new FerkitError('E_UNSUPPORTED_FORMAT', `${what}${hint}`, name);
  }
  // Header only. JPEG and PNG headers are read here (a server's typical upload: saves a round trip through sharp's
  // thread pool); other formats, and JPEG/PNG headers this reader cannot make sense of, ask sharp, whose own pixel
  // limit is lifted for the header read so that the check below gives the message. The decode itself keeps sharp's
  // limit as a second guard.
  let width: number;
  let height: number;
  const quick = headerSize(bytes, sniffed.format);
  if (quick) {
    ({ width, height } = quick);
  } else {
    try {
      const meta = await sharp(bytes, { failOn: 'error', limitInputPixels: false }).metadata();
      width = meta.width;
      height = meta.height;
    } catch (err) {
      throw decodeError(err, sniffed, bytes, name, maxPixels);
    }
  }
  if (!(width > 0 && height > 0)) throw new FerkitError('E_DECODE', `${sniffed.description} header states ${width}x${height} pixels`, name);
  if (width * height > maxPixels) throw new FerkitError('E_TOO_MANY_PIXELS', tooManyPixelsMessage(width, height, maxPixels), name);
  return { sniffed, width, height };
}

/**
 * The stored size of a JPEG (first SOF segment) or PNG (IHDR) image from its header bytes, or `null` when the format
 * is another one or the header is not one this reader understands (the caller then asks sharp). Pure; never throws.
 */
export function headerSize(bytes: Uint8Array, format: string): { width: number; height: number } | null {
  const be16 = (i: number): number => (bytes[i]! << 8) | bytes[i + 1]!;
  if (format === 'png') {
    // signature (8) + IHDR length (4) + "IHDR" (4) + width (4) + height (4)
    if (bytes.length < 24 || ascii(bytes, 12, 16) !== 'IHDR') return null;
    const width = ((bytes[16]! << 24) >>> 0) + (bytes[17]! << 16) + be16(18);
    const height = ((bytes[20]! << 24) >>> 0) + (bytes[21]! << 16) + be16(22);
    return width > 0 && height > 0 ? { width, height } : null;
  }
  if (format !== 'jpeg') return null;
  let i = 2;
  while (i + 9 < bytes.length) {
    if (bytes[i] !== 0xff) return null;
    const marker = bytes[i + 1]!;
    if (marker === 0xff) { i++; continue; } // fill byte
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { i += 2; continue; } // no length
    if (marker === 0xd9 || marker === 0xda) return null; // end of image / start of scan before any frame header
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      const height = be16(i + 5);
      const width = be16(i + 7);
      return width > 0 && height > 0 ? { width, height } : null; // height 0: given later by a DNL segment
    }
    i += 2 + be16(i + 2);
  }
  return null;
}

/**
 * Shares a number of decoded pixels among concurrent decodes, so that memory stays bounded whatever the image sizes:
 * a decode waits until the pixels in flight plus its own fit in `limit` (requests are served in order). An image
 * larger than the whole budget still runs, alone. Share one budget between every worker of a batch (`-j`).
 * @example const budget = new PixelBudget(100e6); const release = await budget.acquire(w * h); try { … } finally { release(); }
 */
export class PixelBudget {
  private inUse = 0;
  private readonly queue: { n: number; grant: () => void }[] = [];
  /** @param limit - pixels that may be decoded at once (≥ 1). */
  constructor(readonly limit: number) {
    numberIn('pixel budget', limit, 1, Number.MAX_SAFE_INTEGER);
  }

  /** Pixels currently granted. */
  get used(): number { return this.inUse; }

  /** Waits for `n` pixels; resolves to the function that gives them back (call it exactly once). */
  async acquire(n: number): Promise<() => void> {
    const want = Math.max(0, n);
    if (this.queue.length === 0 && this.fits(want)) {
      this.inUse += want;
    } else {
      await new Promise<void>((grant) => this.queue.push({ n: want, grant }));
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inUse -= want;
      this.drain();
    };
  }

  private fits(n: number): boolean {
    return this.inUse === 0 || this.inUse + n <= this.limit;
  }

  private drain(): void {
    while (this.queue.length > 0 && this.fits(this.queue[0]!.n)) {
      const next = this.queue.shift()!;
      this.inUse += next.n;
      next.grant();
    }
  }
}

/** Options of {@link decodeImageWithin}. */
export interface DecodeWithinOptions extends DecodeOptions {
  /** Budget the decoded pixels are taken from while `use` runs (none: no limit). */
  budget?: PixelBudget;
  /** Pixels taken from the budget per image pixel (default 1; annotation, which holds more copies, uses 2). */
  budgetWeight?: number;
}

/**
 * Decodes like {@link decodeImage} and runs `use` on the image, holding `width × height × budgetWeight` pixels of
 * `options.budget` from just after the header check until `use` settles (the decoded buffer is not referenced after).
 * @returns what `use` returns.
 * @throws the errors of {@link decodeImage}, and whatever `use` throws.
 */
export async function decodeImageWithin<T>(input: string | Uint8Array, options: DecodeWithinOptions, use: (image: RawImage) => Promise<T>): Promise<T> {
  if (!(typeof input === 'string' && input !== '') && !(input instanceof Uint8Array)) {
    throw new FerkitError('E_IMAGE', `input must be a file path (non-empty string) or the encoded bytes (Uint8Array), got ${describeValue(input)}`);
  }
  const maxPixels = numberIn('maxPixels', options.maxPixels ?? DEFAULT_MAX_PIXELS, 1, Number.MAX_SAFE_INTEGER);
  const maxBytes = numberIn('maxBytes', options.maxBytes ?? DEFAULT_MAX_BYTES, 1, Number.MAX_SAFE_INTEGER);
  const name = options.name ?? (typeof input === 'string' ? input : undefined);
  let bytes: Uint8Array | null = typeof input === 'string' ? await readImageBytes(input, name, maxBytes) : input;
  const header = await inspectImage(bytes, maxPixels, name);
  const release = options.budget ? await options.budget.acquire(header.width * header.height * (options.budgetWeight ?? 1)) : undefined;
  try {
    const image = await decodePixels(bytes, header.sniffed, maxPixels, name);
    bytes = null;
    return await use(image);
  } finally {
    release?.();
  }
}

async function decodePixels(bytes: Uint8Array, sniffed: SniffedFormat, maxPixels: number, name: string | undefined): Promise<RawImage> {
  try {
    const { data, info } = await sharp(bytes, { failOn: 'error', limitInputPixels: maxPixels, pages: 1, page: 0 })
      .autoOrient()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
      throw new FerkitError('E_DECODE', `decoder returned ${info.channels} channels, ${data.length} bytes for ${info.width}x${info.height}; expected 3 channels`, name);
    }
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, channels: 3 };
  } catch (err) {
    if (err instanceof FerkitError) throw err;
    throw decodeError(err, sniffed, bytes, name, maxPixels);
  }
}
