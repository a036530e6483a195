/**
 * Output safety for every command that writes files: before any work, each output path is resolved with `realpath`
 * and refused when it would touch an input or another output or overwrite a file ferkit did not write; each output is
 * then locked (an advisory `proper-lockfile` lock) so a second run with the same output fails at once, and stale temp
 * files of dead ferkit processes are removed. See docs/cli-safety.md.
 */
import { lstat, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import lockfile from 'proper-lockfile';
import { isDynamicPattern } from 'tinyglobby';
import { FerkitError } from '../core/errors.js';
import { cleanStaleTempFiles, ensureDir, outputOwner, processAlive } from '../node/output.js';
import { UsageError } from './usage.js';

/** One output of a command. */
export interface OutputSpec {
  /** The option as the user typed it, for messages: `--out`, `--annotate`, … */
  option: string;
  /** The path as given (relative to the working folder). */
  path: string;
  /** A file, or a folder ferkit writes into. */
  kind: 'file' | 'folder';
  /**
   * For a folder whose files ferkit names itself (video `--summary`): those names. Each is checked like a file output.
   * Folders with input-dependent names (`--annotate DIR`) leave this out; their files are checked one by one as written.
   */
  files?: readonly string[];
}

/** An output after planning: its real path (symbolic links and `..` resolved). */
export interface PlannedOutput extends OutputSpec {
  real: string;
}

/** The result of {@link planOutputs}. */
export interface OutputPlan {
  outputs: PlannedOutput[];
  /** Real paths that input discovery must skip (every output file and folder), with the reason shown. */
  exclude: Map<string, string>;
  /** Real paths of the inputs that exist (files and folders). */
  inputReals: Set<string>;
  /** Stale temp files removed. */
  cleaned: string[];
  /** Releases every lock (idempotent). */
  release(): Promise<void>;
}

/** Options of {@link planOutputs}. */
export interface PlanOptions {
  /** Working folder relative paths are resolved against. */
  cwd: string;
  /** Allow replacing existing files that ferkit did not write (`--force`). Inputs are never overwritten. */
  force: boolean;
  /** Skip the advisory locks (tests of the checks alone). Default false. */
  noLock?: boolean;
  /** Lock staleness in ms: a lock not refreshed for this long (its process died) may be taken over. Default 10 s. */
  staleMs?: number;
}

/**
 * The real path `path` has or would have: `realpath` of its longest existing prefix, plus the rest. A symbolic link
 * at the end resolves to its target (ferkit then writes the target and keeps the link).
 */
export async function resolveRealPath(path: string, cwd: string): Promise<string> {
  const abs = resolve(cwd, path);
  const rest: string[] = [];
  let cur = abs;
  for (;;) {
    const real = await realpath(cur).catch(() => null);
    if (real !== null) return rest.length ? join(real, ...rest.reverse()) : real;
    const up = dirname(cur);
    if (up === cur) return abs;
    rest.push(basename(cur));
    cur = up;
  }
}

/** `true` when `child` is `parent` or lies inside it (both absolute, normalised). */
export function isInside(child: string, parent: string): boolean {
  if (child === parent) return true;
  const rel = relative(parent, child);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
}

/**
 * The folder an input's files are laid out from: a folder itself; a file's folder; a glob's static prefix
 * (`shots/2024/**\/*.png` → `shots/2024`). Absolute.
 */
export function inputRoot(input: string, cwd: string, isDir: boolean | null): string {
  if (isDir === true) return resolve(cwd, input);
  if (isDir === false) return dirname(resolve(cwd, input));
  const parts = input.split(/[\\/]/);
  const fixed: string[] = [];
  for (const p of parts.slice(0, -1)) {
    if (isDynamicPattern(p)) break;
    fixed.push(p);
  }
  const prefix = fixed.join('/') || (input.startsWith('/') ? '/' : '.');
  return resolve(cwd, prefix);
}

/** The deepest folder containing every path in `dirs` (absolute paths). */
export function commonBase(dirs: readonly string[]): string {
  if (dirs.length === 0) return sep;
  let base = dirs[0]!;
  for (const d of dirs.slice(1)) {
    while (!isInside(d, base)) {
      const up = dirname(base);
      if (up === base) return base;
      base = up;
    }
  }
  return base;
}

/** Facts about the inputs needed by {@link planOutputs} and the annotation layout. */
export interface InputFacts {
  /** Real paths of inputs that exist, with whether each is a folder. */
  reals: Map<string, boolean>;
  /** The common base of the inputs' roots ({@link inputRoot}), absolute (not resolved through links). */
  base: string;
  /** The same, through `realpath`. */
  realBase: string;
}

/** Stats every input (no reading) and computes their common base. */
export async function inputFacts(inputs: readonly string[], cwd: string): Promise<InputFacts> {
  const reals = new Map<string, boolean>();
  const roots: string[] = [];
  for (const input of inputs) {
    const st = await stat(resolve(cwd, input)).catch(() => null);
    if (st) {
      const real = await realpath(resolve(cwd, input)).catch(() => resolve(cwd, input));
      reals.set(real, st.isDirectory());
      roots.push(inputRoot(input, cwd, st.isDirectory()));
    } else {
      roots.push(inputRoot(input, cwd, null));
    }
  }
  const base = commonBase(roots.length ? roots : [cwd]);
  return { reals, base, realBase: await resolveRealPath(base, cwd) };
}

/**
 * Checks, locks and prepares the outputs of a run, before any work:
 * - each output's real path is computed ({@link resolveRealPath});
 * - refused (a {@link UsageError}, exit 2) when it is an input file or lies inside one, when a folder output is an
 *   input folder or the folder the inputs are laid out from (pictures would replace the inputs), when two outputs are
 *   the same path, when an existing file there was not written by ferkit (unless `force`), or when it is a FIFO or
 *   device;
 * - the parent folders are created (guarded: `/proc`, `/sys` and file-in-the-way give `E_OUTPUT` at once);
 * - an advisory lock `.<name>.ferkit-lock` is taken beside each output; when another run holds it, `E_OUTPUT` (exit 3)
 *   says so at once;
 * - stale `.<name>.ferkit-tmp-<pid>` files of dead processes beside each output are removed.
 * @throws {UsageError} or {FerkitError} `E_OUTPUT` as above; locks taken before the failure are released.
 */
export async function planOutputs(specs: readonly OutputSpec[], facts: InputFacts, options: PlanOptions): Promise<OutputPlan> {
  const { cwd, force } = options;
  const outputs: PlannedOutput[] = [];
  for (const spec of specs) outputs.push({ ...spec, real: await resolveRealPath(spec.path, cwd) });

  // Every concrete file path each output writes (folders with fixed names contribute theirs).
  const written: { option: string; real: string }[] = [];
  for (const o of outputs) {
    if (o.kind === 'file') written.push({ option: o.option, real: o.real });
    for (const f of o.files ?? []) written.push({ option: o.option, real: join(o.real, f) });
  }
  const shown = (o: { option: string }, p: string): string => `option '${o.option}': ${p}`;

  for (const o of outputs) {
    for (const [input, isDir] of facts.reals) {
      if (!isDir && isInside(o.real, input)) {
        throw new UsageError(`${shown(o, o.path)} is ${o.real === input ? '' : 'inside '}the input ${input}; refusing to overwrite an input`);
      }
      if (isDir && o.kind === 'file' && o.real === input) throw new UsageError(`${shown(o, o.path)} is the input folder ${input}; expected a file name`);
      if (isDir && o.kind === 'folder' && o.real === input) {
        throw new UsageError(`${shown(o, o.path)} is the input folder ${input}; its files would replace the inputs. Choose another folder`);
      }
    }
    if (o.kind === 'folder' && o.files === undefined && o.real === facts.realBase && facts.reals.size > 0) {
      throw new UsageError(`${shown(o, o.path)} is the folder the inputs are laid out from (${facts.realBase}); the pictures would `
        + 'replace the input images. Choose another folder');
    }
    const st = await lstat(o.real).catch(() => null);
    if (o.kind === 'folder' && st && !st.isDirectory()) throw new UsageError(`${shown(o, o.path)} is a file, expected a folder`);
    if (o.kind === 'file' && st?.isDirectory()) throw new UsageError(`${shown(o, o.path)} is a folder, expected a file name`);
  }
  for (let i = 0; i < written.length; i++) {
    for (let j = i + 1; j < written.length; j++) {
      if (written[i]!.real === written[j]!.real) {
        const a = written[i]!;
        const b = written[j]!;
        throw new UsageError(`options '${a.option}' and '${b.option}' write the same file ${a.real}; give each its own path`);
      }
    }
  }
  for (const w of written) {
    const owner = await outputOwner(w.real);
    if (owner === 'special') throw new UsageError(`${shown(w, w.real)} is not a regular file (a FIFO or device); ferkit writes regular files only`);
    if (owner === 'folder') throw new UsageError(`${shown(w, w.real)} is a folder, expected a file name`);
    if (owner === 'foreign' && !force) {
      throw new UsageError(`${shown(w, w.real)} exists and was not written by ferkit; refusing to overwrite it (pass --force to replace it)`);
    }
  }

  const exclude = new Map<string, string>();
  for (const o of outputs) exclude.set(o.real, `the ${o.option} output ${o.kind}`);

  const releases: (() => Promise<void>)[] = [];
  const release = async (): Promise<void> => {
    for (const r of releases.splice(0)) await r().catch(() => undefined);
  };
  const cleaned: string[] = [];
  try {
    for (const o of outputs) {
      const dir = o.kind === 'folder' ? o.real : dirname(o.real);
      await ensureDir(o.kind === 'folder' ? o.real : dirname(o.real), o.path);
      if (!options.noLock) releases.push(await lockOutput(o.real, o.path, options.staleMs ?? 10_000));
      cleaned.push(...await cleanStaleTempFiles(dir));
    }
  } catch (err) {
    await release();
    throw err;
  }
  return { outputs, exclude, inputReals: new Set(facts.reals.keys()), cleaned, release };
}

/**
 * The file beside a lock folder naming the process that holds it: `<hostname>\n<pid>\n` (beside, not inside: the
 * lock folder must stay empty for proper-lockfile's own removal).
 */
const ownerFile = (lockPath: string): string => `${lockPath}-owner`;


/**
 * Whether the lock folder `lockPath` was left by a ferkit process of this machine that no longer runs (a SIGKILL):
 * the owner file beside it names this host and a dead pid. A lock without an owner file (another tool, or taken a moment ago
 * and not yet signed) is never called stale here; proper-lockfile's own staleness (mtime) still applies to it.
 */
async function deadOwnerLock(lockPath: string): Promise<string | null> {
  const text = await readFile(ownerFile(lockPath), 'utf8').catch(() => null);
  const m = text === null ? null : /^(.*)\n(\d+)\n$/.exec(text);
  if (!m || m[1] !== hostname()) return null;
  const pid = Number(m[2]);
  return pid !== process.pid && !processAlive(pid) ? text : null;
}

/**
 * Takes the advisory lock `.<name>.ferkit-lock` beside output `real` and signs it with this process's host and pid,
 * so that a lock left by a killed run (SIGKILL) is taken over at once by the next run instead of blocking it until it
 * goes stale (`staleMs`, for locks of other machines on a shared disk).
 * @returns the release function.
 * @throws {FerkitError} `E_OUTPUT`: another live run holds the lock, or it cannot be created.
 */
async function lockOutput(real: string, shown: string, staleMs: number): Promise<() => Promise<void>> {
  const lockPath = join(dirname(real), `.${basename(real)}.ferkit-lock`);
  const take = (): Promise<() => Promise<void>> => lockfile.lock(real, {
    realpath: false, lockfilePath: lockPath, retries: 0, stale: staleMs,
    onCompromised: () => undefined, // the lock folder was removed or went stale under us: carry on, the write is still atomic
  });
  let release: () => Promise<void>;
  try {
    try {
      release = await take();
    } catch (err) {
      const dead = (err as NodeJS.ErrnoException).code === 'ELOCKED' ? await deadOwnerLock(lockPath) : null;
      // Re-read just before removing: a run that took the lock over in between has signed it with its own pid.
      if (dead === null || (await readFile(ownerFile(lockPath), 'utf8').catch(() => null)) !== dead) throw err;
      await rm(lockPath, { recursive: true, force: true });
      release = await take();
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOCKED') {
      throw new FerkitError('E_OUTPUT', `is being written by another ferkit run (lock ${lockPath}); wait for it to finish or choose `
        + 'another path (a lock left by a killed run is taken over by the next run)', shown);
    }
    throw new FerkitError('E_OUTPUT', `cannot lock the output (${lockPath}): ${(err as Error).message}`, shown, { cause: err });
  }
  await writeFile(ownerFile(lockPath), `${hostname()}\n${process.pid}\n`).catch(() => undefined);
  return async () => {
    await rm(ownerFile(lockPath), { force: true }).catch(() => undefined);
    await release();
  };
}
