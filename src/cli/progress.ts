/**
 * Progress on stderr: a cli-progress bar on a terminal, a plain line every few seconds otherwise (logs, CI),
 * nothing with `--quiet`. Per-file error lines go through {@link Progress.log} so they never tear the bar.
 */
import type { Writable } from 'node:stream';
import cliProgress from 'cli-progress';

/** A progress display. */
export interface Progress {
  /** Sets the number of files, once known (counting runs beside the analysis). */
  setTotal(total: number): void;
  /** Reports `done` files finished so far, `failed` of them failed. */
  update(done: number, failed: number): void;
  /** Prints one line (a failed file) above the bar; printed even with `--quiet`. */
  log(line: string): void;
  /** Removes the bar / prints nothing more. */
  stop(): void;
}

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  stream: Writable;
  /** Whether `stream` is a terminal: a live bar there, plain lines otherwise. */
  isTTY: boolean;
  /** No progress at all (error lines still go out). */
  quiet: boolean;
  /** Milliseconds between plain progress lines; default 5000. */
  intervalMs?: number;
  /** Clock in milliseconds (tests); default `performance.now`. */
  now?: () => number;
  /** What is counted: `'files'` (default; rate in images/s, failures shown) or `'frames'` (video; rate in frames/s). */
  unit?: 'files' | 'frames';
  /** Called before each line is printed (the CLI ends an open stdout line there when both go to one terminal). */
  beforeLog?: () => void;
}

/** Formats seconds as `42 s`, `3 min 05 s`, `1 h 02 min`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${String(Math.round(seconds % 60)).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** Creates the progress display that fits `options`. */
export function createProgress(options: ProgressOptions): Progress {
  const { stream, quiet } = options;
  const now = options.now ?? (() => performance.now());
  const print = (line: string): void => { options.beforeLog?.(); stream.write(`${line}\n`); };
  if (quiet) return { setTotal() {}, update() {}, log: print, stop() {} };
  const frames = options.unit === 'frames';
  const rateUnit = frames ? 'frames/s' : 'images/s';

  const start = now();
  let total: number | undefined;
  if (!options.isTTY) {
    const interval = options.intervalMs ?? 5000;
    let last = start;
    return {
      setTotal(t) { total = t; },
      update(done, failed) {
        const t = now();
        if (t - last < interval) return;
        last = t;
        const secs = (t - start) / 1000;
        const rate = done / secs;
        const eta = total !== undefined && rate > 0 ? `, about ${formatDuration((total - done) / rate)} left` : '';
        print(`ferkit: ${done}/${total ?? '?'} ${frames ? 'frames' : `files, ${failed} failed`}, ${rate.toFixed(1)} ${rateUnit}, ${formatDuration(secs)}${eta}`);
      },
      log: print,
      stop() {},
    };
  }

  const multi = new cliProgress.MultiBar(
    {
      stream: stream as NodeJS.WritableStream,
      format: frames ? ' {bar} {value}/{total} frames | {rate} frames/s | ETA {eta_formatted}'
        : ' {bar} {value}/{total} files | {failed} failed | {rate} images/s | ETA {eta_formatted}',
      hideCursor: true,
      clearOnComplete: true,
      autopadding: true,
      etaBuffer: 50,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  let bar: cliProgress.SingleBar | undefined;
  let stopped = false;
  let state = { done: 0, failed: 0 };
  const payload = (): Record<string, string | number> => ({
    failed: state.failed,
    rate: (state.done / Math.max(1e-3, (now() - start) / 1000)).toFixed(1),
  });
  return {
    setTotal(t) {
      total = t;
      if (!bar) bar = multi.create(t, state.done, payload());
      else bar.setTotal(t);
    },
    update(done, failed) {
      state = { done, failed };
      bar?.update(done, payload());
    },
    log(line) {
      if (bar) { options.beforeLog?.(); multi.log(`${line}\n`); } else print(line);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      multi.update(); // flushes lines logged since the last redraw (stop() alone drops them)
      multi.stop();
    },
  };
}
