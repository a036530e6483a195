/**
 * Expands command-line inputs (files, folders, globs) into image paths, as a stream.
 * A path that cannot be read is an item with an error, not an exception: the batch goes on.
 */
import { opendir, realpath, stat } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { glob, isDynamicPattern } from 'tinyglobby';
import { FerkitError } from '../core/errors.js';
import { IMAGE_EXTENSIONS } from './decode.js';

/**
 * One expanded input: a path to analyse; a path found but not analysable, with the reason (`error`, counted as a
 * failure); or a path deliberately left out (`skipped`, e.g. the `--annotate` output folder inside an input folder).
 */
export type InputEntry =
  | { path: string; error?: undefined; skipped?: undefined }
  | { path: string; error: FerkitError; skipped?: undefined }
  | { path: string; error?: undefined; skipped: string };

/** Options of {@link expandInputs}. */
export interface ExpandOptions {
  /** Extensions (lower case, with the dot) taken from folders and globs; default {@link IMAGE_EXTENSIONS}. */
  extensions?: ReadonlySet<string>;
  /**
   * Real paths (after `realpath`) never taken as inputs, with the reason shown (e.g. the output folder of `--annotate`
   * or the `--out` file): a folder among them is not searched, a file is not analysed; each yields one `skipped` entry.
   */
  exclude?: ReadonlyMap<string, string>;
}

const byCodePoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** What kind of non-regular file a stat result is, or `null` for a regular file or folder. */
export function specialFileKind(st: { isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): string | null {
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return null;
}

/** The `E_UNSUPPORTED_INPUT` error for a non-regular file (never opened: opening a FIFO blocks). */
export function notRegularError(path: string, kind: string): FerkitError {
  return new FerkitError('E_UNSUPPORTED_INPUT', `not a regular file (${kind}); only regular files are read`, path);
}

/**
 * Streams the image paths named by `inputs`, in order:
 * - a file is yielded as given, whatever its extension (so a `.bmp` or a text file gets its own decode error);
 *   a FIFO, socket or device is an `E_UNSUPPORTED_INPUT` error entry (it is never opened);
 * - a folder is walked recursively with `fs.opendir`: entries sorted by code point per folder, files with an image
 *   extension only, hidden entries (names starting with `.`, e.g. macOS `._x.jpg` and ferkit's own temp files)
 *   skipped, symbolic links followed once;
 * - a glob (`photos/**\/*.jpg`, when no file of that exact name exists) is expanded with tinyglobby, sorted, image
 *   extensions only.
 * Inside folders, every entry found and not analysed is reported, never dropped silently: a broken symbolic link, a
 * link loop (a link back to a folder already being searched), a folder that cannot be read (permissions) and a
 * non-regular file with an image extension are error entries (`E_INPUT_READ` / `E_UNSUPPORTED_INPUT`); paths in
 * `options.exclude` are `skipped` entries.
 * Only one folder's entries are held in memory at a time (a glob's matches are collected, then sorted).
 * @returns entries; never throws for a bad path.
 */
export async function* expandInputs(inputs: Iterable<string>, options: ExpandOptions = {}): AsyncGenerator<InputEntry> {
  const extensions = options.extensions ?? IMAGE_EXTENSIONS;
  const isImage = (name: string): boolean => extensions.has(extname(name).toLowerCase());
  const exclude = options.exclude ?? new Map<string, string>();
  // Only paths whose last name matches an excluded one pay for a realpath (one syscall per folder entry otherwise).
  const names = new Set([...exclude.keys()].map((k) => basename(k)));
  const excluded = async (path: string, isDir = true): Promise<string | undefined> => {
    if (exclude.size === 0 || (!isDir && !names.has(basename(path)))) return undefined;
    const real = await realpath(path).catch(() => null);
    return real === null ? undefined : exclude.get(real);
  };
  for (const input of inputs) {
    const st = await stat(input).catch((err: NodeJS.ErrnoException) => err);
    if (st instanceof Error) {
      if (st.code === 'ENOENT' && isDynamicPattern(input)) {
        const matches = (await glob(input, { onlyFiles: true, expandDirectories: false, dot: false })).filter(isImage).sort(byCodePoint);
        if (matches.length === 0) yield { path: input, error: new FerkitError('E_INPUT_READ', 'the pattern matches no image files', input) };
        for (const m of matches) {
          const why = await excluded(m, false);
          yield why ? { path: m, skipped: why } : { path: m };
        }
        continue;
      }
      yield { path: input, error: readError(input, st) };
      continue;
    }
    const why = await excluded(input);
    if (why) {
      yield { path: input, skipped: why };
    } else if (st.isDirectory()) {
      yield* walk(input, isImage, [await realpath(input)], excluded);
    } else {
      const kind = specialFileKind(st);
      yield kind ? { path: input, error: notRegularError(input, kind) } : { path: input };
    }
  }
}

/** The `E_INPUT_READ` error for a path that cannot be read, naming the reason. */
export function readError(path: string, err: NodeJS.ErrnoException): FerkitError {
  const what = err.code === 'ENOENT' ? 'no such file or folder'
    : err.code === 'EACCES' || err.code === 'EPERM' ? 'permission denied'
      : err.code === 'ELOOP' ? 'symbolic link loop (too many levels of links)'
        : err.code === 'ENOTDIR' ? 'a parent of this path is a file, not a folder'
          : `${err.code ?? 'error'} (${err.message})`;
  return new FerkitError('E_INPUT_READ', `cannot read: ${what}`, path, { cause: err });
}

async function* walk(
  dir: string, isImage: (name: string) => boolean, ancestors: string[], excluded: (path: string, isDir?: boolean) => Promise<string | undefined>,
): AsyncGenerator<InputEntry> {
  const entries: Dirent[] = [];
  try {
    for await (const d of await opendir(dir)) if (!d.name.startsWith('.')) entries.push(d);
  } catch (err) {
    yield { path: dir, error: readError(dir, err as NodeJS.ErrnoException) };
    return;
  }
  entries.sort((a, b) => byCodePoint(a.name, b.name));
  for (const d of entries) {
    const path = join(dir, d.name);
    let isDir = d.isDirectory();
    let isFile = d.isFile();
    let special = isDir || isFile ? null : specialFileKind(d);
    if (d.isSymbolicLink()) {
      const st = await stat(path).catch((err: NodeJS.ErrnoException) => err);
      if (st instanceof Error) {
        const what = st.code === 'ENOENT' ? 'broken symbolic link (its target does not exist)'
          : st.code === 'ELOOP' ? 'symbolic link loop (too many levels of links)'
            : st.code === 'EACCES' || st.code === 'EPERM' ? 'symbolic link to a path that cannot be read (permission denied)'
              : `symbolic link that cannot be followed: ${st.code ?? st.message}`;
        yield { path, error: new FerkitError('E_INPUT_READ', `cannot read: ${what}`, path, { cause: st }) };
        continue;
      }
      isDir = st.isDirectory();
      isFile = st.isFile();
      special = isDir || isFile ? null : specialFileKind(st);
    }
    if (isDir) {
      const why = await excluded(path);
      if (why) { yield { path, skipped: why }; continue; }
      const real = await realpath(path).catch((err: NodeJS.ErrnoException) => err);
      if (real instanceof Error) { yield { path, error: readError(path, real) }; continue; }
      if (ancestors.includes(real)) {
        yield { path, error: new FerkitError('E_INPUT_READ', `cannot read: symbolic link loop (leads back to ${real}, a folder already being searched); not followed`, path) };
        continue;
      }
      yield* walk(path, isImage, [...ancestors, real], excluded);
    } else if (isImage(d.name)) {
      if (special) { yield { path, error: notRegularError(path, special) }; continue; }
      if (!isFile) continue;
      const why = await excluded(path, false);
      yield why ? { path, skipped: why } : { path };
    }
  }
}

/** Counts the entries {@link expandInputs} would yield (errors included), holding no list in memory. */
export async function countInputs(inputs: Iterable<string>, options: ExpandOptions = {}): Promise<number> {
  let n = 0;
  for await (const _ of expandInputs(inputs, options)) n++;
  return n;
}
