/** Runs the ferkit CLI in-process with captured stdout/stderr (no TTY, no signal handlers). */
import { PassThrough } from 'node:stream';
import { run, type CliDeps } from '../../src/cli/main.js';

export interface CliRun { code: number; stdout: string; stderr: string }

/** CLI streams for `cwd` that record what is written; `finish(code)` returns the run's result. */
export function captureIo(cwd: string): { io: CliDeps['io']; finish(code: number): CliRun } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  return {
    io: { stdout, stderr, stderrIsTTY: false, cwd },
    finish: (code) => ({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
  };
}

/** `args` follow `ferkit` (e.g. `['analyze', 'x.jpg']`); `cwd` is the working folder the CLI sees. */
export async function runCli(args: readonly string[], cwd: string, deps: Partial<Omit<CliDeps, 'io'>> = {}): Promise<CliRun> {
  const { io, finish } = captureIo(cwd);
  return finish(await run(['node', 'ferkit', ...args], { handleSignals: false, ...deps, io }));
}

/** A writable stream that records what is written; `text()` returns it so far. */
export function textSink(): PassThrough & { text: () => string } {
  const s = new PassThrough() as PassThrough & { text: () => string };
  let buf = '';
  s.on('data', (c: Buffer) => { buf += c.toString(); });
  s.text = () => buf;
  return s;
}
