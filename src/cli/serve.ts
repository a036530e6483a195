/**
 * `ferkit serve`: the browser app (webcam, monitoring session, photo batch) and the HTTP API (`/v1`: server-side
 * analysis, monitoring sessions in SQLite, video jobs, live dashboard; OpenAPI at `/openapi.json`, docs at `/docs`).
 * Bound to 127.0.0.1 by default; any other address needs a token (`--token` or `FERKIT_TOKEN`).
 */
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { Option } from 'commander';
import { FerkitError } from '../core/errors.js';
import { BUNDLED_CLASSIFIERS, BUNDLED_CLASSIFIER_IDS, type BundledClassifierId } from '../core/classifier/expression.js';
import { packageRoot } from '../node/models.js';
import type { startServer } from '../server/app.js';
import { isLoopbackHost } from '../server/headers.js';
import type { StaticServer } from '../server/static.js';
import { parseInteger } from './options.js';

/** Where `ferkit serve` writes, and how it waits; tests pass their own. */
export interface ServeDeps {
  stdout: Writable;
  stderr: Writable;
  /** Resolves when the server should stop. Default: the first SIGINT or SIGTERM. */
  untilStopped: (server: StaticServer) => Promise<void>;
}

/** Options of `ferkit serve`. Only `port` and `host` are required (the rest have defaults). */
export interface ServeCliOptions {
  port: number;
  host: string;
  /** App build folder (default `dist/web` of the package). */
  dir?: string;
  /** SQLite file for sessions and video jobs (default: in memory, nothing kept). */
  db?: string;
  /** Bearer token (default: `FERKIT_TOKEN`); required for a non-loopback host. */
  token?: string;
  /** Largest image upload, MiB (default 20). */
  maxUploadMb?: number;
  /** Largest video upload, MiB (default 1024). */
  maxVideoMb?: number;
  /** Analyses at once (default: the number of CPU cores). */
  workers?: number;
  /** ONNX Runtime threads per analysis (default 1). */
  threads?: number;
  /** Classifier of /v1/analyze when a request names none (default `BUNDLED_CLASSIFIERS.default`, ferkit-resnet-s-int8-ensemble). */
  model?: BundledClassifierId;
  /** Video jobs at once (default 1). */
  videoWorkers?: number;
  /** Requests per minute per client, 0 = off (default 1200). */
  rateLimit?: number;
  /** Extra host names allowed in the Host header. */
  allowHost?: string[];
  /** pino log level (default `info`; `silent` for none). */
  logLevel?: string;
  /** `false` (from `--no-api`): serve the app only. */
  api?: boolean;
}

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

const MiB = 1024 * 1024;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * Serves the app and the API until stopped, then shuts down gracefully (in-flight requests finish, the WAL is
 * checkpointed).
 * @returns the exit code: 0 after a clean stop, 1 when the app is not built, the port is taken, an option is bad
 *   (e.g. a non-loopback host without a token) or the database cannot be opened.
 */
export async function runServe(options: ServeCliOptions, deps: ServeDeps): Promise<number> {
  const root = resolve(options.dir ?? defaultWebDir());
  const level = options.logLevel ?? 'info';
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await (await import('../server/app.js')).startServer({
      root, host: options.host, port: options.port,
      ...(options.api === false ? { api: false } : {}),
      ...(options.db !== undefined ? { db: resolve(options.db) } : {}),
      ...(options.token ? { token: options.token } : {}),
      ...(options.maxUploadMb !== undefined ? { maxUploadBytes: options.maxUploadMb * MiB } : {}),
      ...(options.maxVideoMb !== undefined ? { maxVideoBytes: options.maxVideoMb * MiB } : {}),
      ...(options.workers !== undefined ? { workers: options.workers } : {}),
      ...(options.threads !== undefined ? { threadsPerAnalysis: options.threads } : {}),
      ...(options.model !== undefined ? { defaultModel: options.model } : {}),
      ...(options.videoWorkers !== undefined ? { videoWorkers: options.videoWorkers } : {}),
      ...(options.rateLimit !== undefined ? { rateLimitPerMinute: options.rateLimit } : {}),
      ...(options.allowHost?.length ? { allowedHosts: options.allowHost } : {}),
      logger: level === 'silent' ? false : { level, stream: deps.stderr },
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (err instanceof FerkitError) deps.stderr.write(`ferkit serve: ${err.message}\n`);
    else if (e.code === 'EADDRINUSE') deps.stderr.write(`ferkit serve: port ${options.port} on ${options.host} is in use; pick another with --port\n`);
    else deps.stderr.write(`ferkit serve: ${e.message}\n`);
    return 1;
  }
  deps.stdout.write(`${server.url}\n`);
  deps.stderr.write(`ferkit web app on ${server.url} (serving ${root}); Ctrl+C stops it.\n`
    + 'The browser app runs inference in the tab: no camera frame or photo is sent to this server. '
    + (options.api === false ? 'API off (--no-api).\n'
      : `API: ${server.url}v1/ (docs ${server.url}docs, OpenAPI ${server.url}openapi.json), dashboard ${server.url}dashboard; `
        + `sessions ${options.db ? `in ${resolve(options.db)}` : 'in memory (use --db FILE to keep them)'}.\n`));
  if (!isLoopbackHost(options.host)) {
    deps.stderr.write(`note: browsers only allow the camera on https:// or localhost pages; ${options.host} over http will show the camera as unavailable.\n`);
  }
  await deps.untilStopped(server);
  await server.close();
  return 0;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

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
    .summary('serve the browser app and the HTTP API (analysis, sessions, dashboard) on this machine')
    .description('Serve the built browser app (live webcam analysis, monitoring session, photo batch; inference in the tab) and the '
      + 'HTTP API under /v1 (server-side analysis, monitoring sessions kept in SQLite, video jobs, a live class dashboard at '
      + '/dashboard; OpenAPI at /openapi.json, docs at /docs). Build the app first with `npm run build:web` (or use `npm start`).\n\n'
      + 'Listens on 127.0.0.1 by default. Any other address needs a token (--token or FERKIT_TOKEN, 16+ characters); '
      + 'API clients then send "Authorization: Bearer <token>".')
    .addOption(new Option('-p, --port <n>', 'TCP port (0: any free port)').argParser(parseInteger(0, 65535)).default(8080))
    .option('--host <address>', 'address to listen on (the camera needs localhost or https)', '127.0.0.1')
    .option('--dir <folder>', 'app build to serve (default: dist/web in the ferkit package)')
    .option('--db <file>', 'SQLite file for monitoring sessions and video jobs (default: in memory)')
    .addOption(new Option('--token <token>', 'bearer token for the API (needed for a non-loopback --host)').env('FERKIT_TOKEN'))
    .addOption(new Option('--max-upload-mb <n>', 'largest image upload, MiB').argParser(parseInteger(1, 4096)).default(20))
    .addOption(new Option('--max-video-mb <n>', 'largest video upload, MiB').argParser(parseInteger(1, 65536)).default(1024))
    .addOption(new Option('--workers <n>', 'image analyses at once (more wait in a bounded queue; beyond it, 503)').argParser(parseInteger(1, 64))
      .default(availableParallelism(), 'the number of CPU cores'))
    .addOption(new Option('--threads <n>', 'ONNX Runtime threads per analysis (parallelism comes from --workers; more threads per run oversubscribe the cores)')
      .argParser(parseInteger(1, 64)).default(1))
    .addOption(new Option('--model <id>', 'classifier of /v1/analyze when a request names none (default ferkit-resnet-s-int8-ensemble, two int8 networks; ferkit-resnet-s-int8: the better network alone, half the CPU per face, 1.5 points less accurate; ferkit-resnet-s: its float network; ferkit-lite: for weak devices)')
      .choices([...BUNDLED_CLASSIFIER_IDS]).default(BUNDLED_CLASSIFIERS.default))
    .addOption(new Option('--video-workers <n>', 'video jobs at once').argParser(parseInteger(1, 16)).default(1))
    .addOption(new Option('--rate-limit <n>', 'requests per minute per client (0: off)').argParser(parseInteger(0, 1_000_000)).default(1200))
    .option('--allow-host <name>', 'another host name the server answers to (repeatable; DNS-rebinding guard)', collect, [])
    .addOption(new Option('--log-level <level>', 'request log level (pino, on stderr)').choices(LOG_LEVELS).default('info'))
    .option('--no-api', 'serve the browser app only (no /v1 API, no database)')
    .action(async (opts: ServeCliOptions) => {
      const code = await runServe(opts, full);
      if (deps.setExitCode) deps.setExitCode(code);
      else if (code !== 0) process.exitCode = code;
    });
}
