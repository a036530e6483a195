/**
 * Expands command-line inputs (files, folders, globs) into image paths, as a stream.
 * A path that cannot be read is an item with an error, not an exception: the batch goes on.
 */
import { opendir, realpath, stat } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import { extname, join } from 'node:path';
import { glob, isDynamicPattern } from 'tinyglobby';
import { FerkitError } from '../core/errors.js';
import { IMAGE_EXTENSIONS } from './decode.js';

/** One expanded input: a path to analyse, or a path that could not be expanded and why. */
export type InputEntry = { path: string; error?: undefined } | { path: string; error: FerkitError };

/** Options of {@link expandInputs}. */
export interface ExpandOptions {
  /** Extensions (lower case, with the dot) taken from folders and globs; default {@link IMAGE_EXTENSIONS}. */
  extensions?: ReadonlySet<string>;
}

const byCodePoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Streams the image paths named by `inputs`, in order:
 * - a file is yielded as given, whatever its extension (so a `.bmp` or a text file gets its own decode error);
 * - a folder is walked recursively with `fs.opendir`: entries sorted by code point per folder, files with an image
 *   extension only, hidden entries (names starting with `.`, e.g. macOS `._x.jpg`) skipped, symbolic links followed
 *   once (link loops are skipped);
 * - a glob (`photos/**\/*.jpg`, when no file of that exact name exists) is expanded with tinyglobby, sorted, image
 *   extensions only.
 * Only one folder's entries are held in memory at a time (a glob's matches are collected, then sorted).
 * @returns entries with `error` set (`E_INPUT_READ`) for a missing path, an unreadable folder, or a glob that matches
 *   no image; never throws for a bad path.
 */
export async function* expandInputs(inputs: Iterable<string>, options: ExpandOptions = {}): AsyncGenerator<InputEntry> {
  const extensions = options.extensions ?? IMAGE_EXTENSIONS;
  const isImage = (name: string): boolean => extensions.has(extname(name).toLowerCase());
  for (const input of inputs) {
    const st = await stat(input).catch((err: NodeJS.ErrnoException) => err);
    if (st instanceof Error) {
      if (st.code === 'ENOENT' && isDynamicPattern(input)) {
        const matches = (await glob(input, { onlyFiles: true, expandDirectories: false, dot: false })).filter(isImage).sort(byCodePoint);
        if (matches.length === 0) yield { path: input, error: new FerkitError('E_INPUT_READ', 'the pattern matches no image files', input) };
        for (const m of matches) yield { path: m };
        continue;
      }
      yield { path: input, error: readError(input, st) };
    } else if (st.isDirectory()) {
      yield* walk(input, isImage, new Set([await realpath(input)]));
    } else {
      yield { path: input };
    }
  }
}

function readError(path: string, err: NodeJS.ErrnoException): FerkitError {
  const what = err.code === 'ENOENT' ? 'no such file or folder'
    : err.code === 'EACCES' || err.code === 'EPERM' ? 'permission denied'
      : `${err.code ?? 'error'} (${err.message})`;
  return new FerkitError('E_INPUT_READ', `cannot read: ${what}`, path, { cause: err });
}

async function* walk(dir: string, isImage: (name: string) => boolean, seen: Set<string>): AsyncGenerator<InputEntry> {
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
    if (d.isSymbolicLink()) {
      const st = await stat(path).catch(() => null);
      if (!st) continue; // dangling link
      isDir = st.isDirectory();
      isFile = st.isFile();
    }
    if (isDir) {
      const real = await realpath(path).catch(() => path);
      if (seen.has(real)) continue;
      seen.add(real);
      yield* walk(path, isImage, seen);
    } else if (isFile && isImage(d.name)) {
      yield { path };
    }
  }
}

/** Counts the entries {@link expandInputs} would yield (errors included), holding no list in memory. */
export async function countInputs(inputs: Iterable<string>, options: ExpandOptions = {}): Promise<number> {
  let n = 0;
  for await (const _ of expandInputs(inputs, options)) n++;
  return n;
}
