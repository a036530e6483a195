/**
 * `ferkit serve`: serves the built browser app (webcam, monitoring session, photo batch) on this machine, with the
 * cross-origin isolation headers that multi-threaded WebAssembly needs. Inference runs in the browser; the server
 * only hands out the app, the models and the ONNX Runtime files (GET/HEAD only).
 */
import { join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { Option } from 'commander';
import { FerkitError } from '../core/errors.js';
import { packageRoot } from '../node/models.js';
import { isLoopbackHost, startStaticServer, type StaticServer } from '../server/static.js';
import { parseInteger } from './options.js';

/** Where `ferkit serve` writes, and how it waits; tests pass their own. */
export interface ServeDeps {
  stdout: Writable;
  stderr: Writable;
  /** Resolves when the server should stop. Default: the first SIGINT or SIGTERM. */
  untilStopped: (server: StaticServer) => Promise<void>;
}

/** Options of `ferkit serve`. */
export interface ServeCliOptions { port: number; host: string; dir?: string }

/** The app build folder: `dist/web` in the ferkit package (`npm run build:web` writes it). */
export function defaultWebDir(): string {
  return join(packageRoot(), 'dist', 'web');
}

const untilSignal = (): Promise<void> => new Promise((ok) => {
  const stop = (): void => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    ok();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
});

/**
 * Serves the app until stopped.
 * @returns the exit code: 0 after a clean stop, 1 when the app is not built or the port is taken.
 */
export async function runServe(options: ServeCliOptions, deps: ServeDeps): Promise<number> {
  const root = resolve(options.dir ?? defaultWebDir());
  let server: StaticServer;
  try {
    server = await startStaticServer({ root, host: options.host, port: options.port, onError: (line) => void deps.stderr.write(`${line}\n`) });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (err instanceof FerkitError) deps.stderr.write(`ferkit serve: ${err.message}\n`);
    else if (e.code === 'EADDRINUSE') deps.stderr.write(`ferkit serve: port ${options.port} on ${options.host} is in use; pick another with --port\n`);
    else deps.stderr.write(`ferkit serve: ${e.message}\n`);
    return 1;
  }
  deps.stdout.write(`${server.url}\n`);
  deps.stderr.write(`ferkit web app on ${server.url} (serving ${root}); Ctrl+C stops it.\n`
    + 'Inference runs in the browser: no camera frame or photo is sent to this server.\n');
  if (!isLoopbackHost(options.host)) {
    deps.stderr.write(`note: browsers only allow the camera on https:// or localhost pages; ${options.host} over http will show the camera as unavailable.\n`);
  }
  await deps.untilStopped(server);
  await server.close();
  return 0;
}

/**
 * Adds `ferkit serve` to the program. The action stores its exit code through `setExitCode`.
 * @param deps - streams and stop condition (default: process streams, stop on SIGINT/SIGTERM).
 */
export function registerServeCommand(
  program: Command,
  deps: Partial<ServeDeps> & { setExitCode?: (code: number) => void } = {},
): Command {
  const full: ServeDeps = {
    stdout: deps.stdout ?? process.stdout,
    stderr: deps.stderr ?? process.stderr,
    untilStopped: deps.untilStopped ?? untilSignal,
  };
  return program
    .command('serve')
    .summary('serve the browser app (webcam, monitoring, photos) on this machine')
    .description('Serve the built browser app: live webcam analysis, a monitoring session with CSV/JSON export, and a '
      + 'photo batch tab. Everything runs in the browser tab; no frame or photo leaves the device. Build it first with '
      + '`npm run build:web` (or use `npm start`, which builds and serves).')
    .addOption(new Option('-p, --port <n>', 'TCP port (0: any free port)').argParser(parseInteger(0, 65535)).default(8080))
    .option('--host <address>', 'address to listen on (the camera needs localhost or https)', '127.0.0.1')
    .option('--dir <folder>', 'app build to serve (default: dist/web in the ferkit package)')
    .action(async (opts: ServeCliOptions) => {
      const code = await runServe(opts, full);
      if (deps.setExitCode) deps.setExitCode(code);
      else if (code !== 0) process.exitCode = code;
    });
}
