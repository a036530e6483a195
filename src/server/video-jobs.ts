/**
 * Video jobs: an uploaded video is stored under the data folder, a row in `video_jobs` tracks it, and a bounded pool
 * of workers (default 1: N uploads never run N ffmpeg decoders) analyses queued jobs in upload order with
 * `analyzeVideoFile` of `ferkit/node`, writing `frames.jsonl`, `tracks.csv` and `summary.json` beside the upload.
 *
 * Restarts: a job that was running when the server stopped is queued again and re-run from the start (at most
 * {@link MAX_ATTEMPTS} starts, then marked failed with the reason); a queued job whose upload is missing is marked
 * failed. No job is lost silently. A graceful stop asks running jobs to stop and queues them again.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Worker } from 'node:worker_threads';
import type { FastifyBaseLogger } from 'fastify';
import { FerkitError, type FerkitErrorCode } from '../core/errors.js';
import type { LabelSetId } from '../core/labels.js';
import type { Db } from './db.js';
import { HttpProblem, formatBytes } from './problem.js';
import { guardStorage, isStorageError } from './sessions-store.js';

/** A job starts at most this many times (a crash during the last start marks it failed). */
export const MAX_ATTEMPTS = 3;

/** Result files of a done job. */
export const VIDEO_RESULTS = ['frames.jsonl', 'tracks.csv', 'summary.json'] as const;
export type VideoResultName = (typeof VIDEO_RESULTS)[number];

/** Options of a job (query of `POST /v1/videos`). */
export interface VideoJobOptions { fps?: number; labels?: LabelSetId }

/** What the main thread passes to a video thread (video-worker.ts). */
export interface VideoWorkerData { input: string; outDir: string; options: VideoJobOptions; stop: SharedArrayBuffer }

/** A message from the video thread. */
export type VideoWorkerMessage =
  | { type: 'start'; expected: number | null }
  | { type: 'frame'; done: number }
  | { type: 'end'; outcome: 'done' | 'stopped' }
  | { type: 'error'; error: { code?: string; message: string } };

/** Progress callbacks and the stop check a runner gets. */
export interface VideoRunHooks {
  onStart(expectedFrames: number | null): void;
  onFrame(framesDone: number): void;
  shouldStop(): boolean;
}

/**
 * Analyses `input` into `outDir` (`frames.jsonl`, `tracks.csv`, `summary.json`).
 * @returns `'done'`, or `'stopped'` when `shouldStop` ended it early.
 * @throws FerkitError (or any error) when the video cannot be analysed.
 */
export type VideoJobRunner = (input: string, outDir: string, options: VideoJobOptions, hooks: VideoRunHooks) => Promise<'done' | 'stopped'>;

/** A job as the API shows it. */
export interface VideoJob {
  id: string;
  status: 'queued' | 'running' | 'done' | 'failed';
  fileName: string;
  bytes: number;
  createdAt: string;
  updatedAt: string;
  attempts: number;
  progress: { framesDone: number; framesExpected: number | null; fraction: number | null };
  error: { code: string; message: string } | null;
  /** Result URLs (done jobs). */
  results: Record<string, string>;
}

/** Options of {@link createVideoJobs}. */
export interface VideoJobsOptions {
  db: Db;
  /** Folder for uploads and results; `null`: a temporary folder (removed at stop; jobs cannot outlive the process). */
  dataDir: string | null;
  workers: number;
  maxBytes: number;
  runner?: VideoJobRunner;
  log?: FastifyBaseLogger;
}

/** See the module comment. */
export interface VideoJobs {
  readonly maxBytes: number;
  /** Stores an upload and queues a job. @throws 413 over the size limit, 503 `E_STORAGE` when the disk refuses. */
  create(body: Readable, fileName: string, options: VideoJobOptions): Promise<VideoJob>;
  /** @throws 404 */
  get(id: string): VideoJob;
  /** Path of a result file. @throws 404 for an unknown job, 409 `E_CONFLICT` when the job has not produced it. */
  resultPath(id: string, name: VideoResultName): Promise<string>;
  /** Recovers jobs left by an earlier run, then starts the workers. */
  start(): void;
  /** Stops the workers (running jobs are queued again) and waits for them. */
  stop(): Promise<void>;
}

type Row = {
  id: string; status: VideoJob['status']; file_name: string; bytes: number; options: string; created_at: number; updated_at: number;
  attempts: number; frames_done: number; frames_expected: number | null; error_code: string | null; error_message: string | null;
};

/** Runs a job on the calling thread with `analyzeVideoFile` (the runner without threads; `video-worker.ts` calls it too). */
export const runVideoJob: VideoJobRunner = async (input, outDir, options, hooks) => {
  const { analyzeVideoFile } = await import('../node/index.js');
  let frames = 0;
  const result = await analyzeVideoFile(input, {
    ...(options.fps !== undefined ? { fps: options.fps } : {}),
    ...(options.labels ? { analysis: { labels: options.labels } } : {}),
    jsonl: join(outDir, 'frames.jsonl'),
    tracks: join(outDir, 'tracks.csv'),
    summaryDir: outDir,
    onStart: (_probe, expected) => hooks.onStart(expected),
    onFrame: () => hooks.onFrame(++frames),
    shouldStop: hooks.shouldStop,
  });
  return result.complete ? 'done' : 'stopped';
};

/**
 * A runner that runs each job in its own worker thread (`video-worker.ts`, compiled: `file`), so that the frames'
 * ONNX Runtime runs do not stop the server's event loop. A graceful stop reaches the thread through a shared flag;
 * the job's errors keep their `E_*` code; a thread that dies fails the job with `E_INFERENCE`.
 */
export function threadVideoRunner(file: string): VideoJobRunner {
  return (input, outDir, options, hooks) => new Promise((resolve, reject) => {
    const stop = new SharedArrayBuffer(4);
    const flag = new Int32Array(stop);
    const worker = new Worker(file, { workerData: { input, outDir, options, stop } satisfies VideoWorkerData });
    const poll = setInterval(() => { if (hooks.shouldStop()) Atomics.store(flag, 0, 1); }, 100);
    let settled = false;
    const settle = (f: () => void): void => {
      if (settled) return;
      settled = true;
      clearInterval(poll);
      f();
      void worker.terminate();
    };
    worker.on('message', (m: VideoWorkerMessage) => {
      if (m.type === 'start') hooks.onStart(m.expected);
      else if (m.type === 'frame') hooks.onFrame(m.done);
      else if (m.type === 'end') settle(() => resolve(m.outcome));
      else settle(() => reject(m.error.code ? new FerkitError(m.error.code as FerkitErrorCode, m.error.message) : new Error(m.error.message)));
    });
    worker.on('error', (err) => settle(() => reject(new FerkitError('E_INFERENCE', `the video thread failed: ${err.message}`))));
    worker.on('exit', (code) => settle(() => reject(new FerkitError('E_INFERENCE', `the video thread stopped (exit code ${code}) before the job ended`))));
  });
}

/** See {@link VideoJobs}. */
export async function createVideoJobs(options: VideoJobsOptions): Promise<VideoJobs> {
  const { db } = options;
  const runner = options.runner ?? runVideoJob;
  const temp = options.dataDir === null;
  const dataDir = options.dataDir ?? await mkdtemp(join(tmpdir(), 'ferkit-videos-'));
  await mkdir(dataDir, { recursive: true });
  const dirOf = (id: string): string => join(dataDir, id);
  const inputOf = (id: string): string => join(dirOf(id), 'input');

  const st = {
    insert: db.prepare("INSERT INTO video_jobs (id, status, file_name, bytes, options, created_at, updated_at) VALUES (?, 'queued', ?, ?, ?, ?, ?)"),
    get: db.prepare('SELECT * FROM video_jobs WHERE id = ?'),
    next: db.prepare("SELECT * FROM video_jobs WHERE status = 'queued' ORDER BY created_at, id LIMIT 1"),
    claim: db.prepare("UPDATE video_jobs SET status = 'running', attempts = attempts + 1, updated_at = ? WHERE id = ? AND status = 'queued'"),
    progress: db.prepare('UPDATE video_jobs SET frames_done = ?, frames_expected = COALESCE(?, frames_expected), updated_at = ? WHERE id = ?'),
    finish: db.prepare('UPDATE video_jobs SET status = ?, error_code = ?, error_message = ?, updated_at = ? WHERE id = ?'),
    requeue: db.prepare("UPDATE video_jobs SET status = 'queued', frames_done = 0, updated_at = ? WHERE id = ?"),
    byStatus: db.prepare('SELECT * FROM video_jobs WHERE status = ?'),
  };

  const view = (r: Row): VideoJob => ({
    id: r.id, status: r.status, fileName: r.file_name, bytes: r.bytes,
    createdAt: new Date(r.created_at).toISOString(), updatedAt: new Date(r.updated_at).toISOString(), attempts: r.attempts,
    progress: {
      framesDone: r.frames_done, framesExpected: r.frames_expected,
      fraction: r.status === 'done' ? 1 : r.frames_expected ? Math.min(1, r.frames_done / r.frames_expected) : null,
    },
    error: r.error_code ? { code: r.error_code, message: r.error_message ?? '' } : null,
    results: r.status === 'done' ? Object.fromEntries(VIDEO_RESULTS.map((n) => [n, `/v1/videos/${r.id}/${n}`])) : {},
  });
  const row = (id: string): Row => {
    const r = st.get.get(id) as Row | undefined;
    if (!r) throw new HttpProblem(404, 'E_NOT_FOUND', `no video job ${id}`);
    return r;
  };

  let running = 0;
  let stopping = false;
  let started = false;
  const active = new Set<Promise<void>>();

  const runOne = async (job: Row): Promise<void> => {
    const id = job.id;
    let lastWrite = 0;
    try {
      const outcome = await runner(inputOf(id), dirOf(id), JSON.parse(job.options) as VideoJobOptions, {
        onStart: (expected) => { st.progress.run(0, expected, Date.now(), id); },
        onFrame: (n) => {
          const now = Date.now();
          if (now - lastWrite >= 500) { lastWrite = now; st.progress.run(n, null, now, id); }
        },
        shouldStop: () => stopping,
      });
      if (outcome === 'stopped') {
        st.requeue.run(Date.now(), id);
        options.log?.info({ job: id }, 'video job stopped by shutdown; queued again');
      } else {
        st.finish.run('done', null, null, Date.now(), id);
      }
    } catch (err) {
      const e = err as { code?: string; message?: string };
      const code = typeof e.code === 'string' && e.code.startsWith('E_') ? e.code : 'E_INTERNAL';
      try {
        st.finish.run('failed', code, e.message ?? String(err), Date.now(), id);
      } catch (dbErr) {
        options.log?.error({ err: dbErr, job: id }, 'could not record a failed video job');
      }
      options.log?.warn({ job: id, code }, `video job failed: ${e.message ?? String(err)}`);
    }
  };

  const pump = (): void => {
    while (started && !stopping && running < options.workers) {
      let job: Row | undefined;
      try {
        job = st.next.get() as Row | undefined;
        if (!job || st.claim.run(Date.now(), job.id).changes !== 1) return;
      } catch (err) {
        options.log?.error({ err }, 'video job queue: database error');
        return;
      }
      running++;
      const p = runOne(job).finally(() => {
        running--;
        active.delete(p);
        pump();
      });
      active.add(p);
    }
  };

  const recover = (): void => {
    const now = Date.now();
    for (const r of st.byStatus.all('running') as Row[]) {
      if (r.attempts >= MAX_ATTEMPTS) {
        st.finish.run('failed', 'E_INTERNAL', `the server stopped while this job was running, ${r.attempts} times; giving up`, now, r.id);
      } else {
        st.requeue.run(now, r.id);
        options.log?.info({ job: r.id }, 'video job interrupted by a restart; queued again');
      }
    }
  };

  return {
    maxBytes: options.maxBytes,
    async create(body, fileName, jobOptions) {
      const id = randomUUID();
      await mkdir(dirOf(id), { recursive: true });
      let bytes = 0;
      const limit = options.maxBytes;
      let tooLarge = false;
      try {
        await pipeline(body, async function* (source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            bytes += chunk.length;
            if (bytes > limit) { tooLarge = true; throw new Error('too large'); }
            yield chunk;
          }
        }, createWriteStream(inputOf(id), { flags: 'wx' }));
        if ((body as Readable & { truncated?: boolean }).truncated) tooLarge = true; // multipart file stream cut at its limit
        if (tooLarge) throw new Error('too large');
      } catch (err) {
        await rm(dirOf(id), { recursive: true, force: true });
        if (tooLarge) throw new HttpProblem(413, 'E_TOO_LARGE', `video upload over the limit of ${formatBytes(limit)} (--max-video-mb)`);
        const code = (err as NodeJS.ErrnoException).code;
        // ENOSPC: disk full; EDQUOT: quota; EFBIG: the file-size limit (RLIMIT_FSIZE) or the file system's largest file.
        if (code === 'ENOSPC' || code === 'EROFS' || code === 'EDQUOT' || code === 'EFBIG' || code === 'EACCES' || code === 'EPERM') {
          throw new HttpProblem(503, 'E_STORAGE', `cannot store the upload (${code}); nothing was kept, retry later`, { 'Retry-After': '30' });
        }
        throw err;
      }
      if (bytes === 0) {
        await rm(dirOf(id), { recursive: true, force: true });
        throw new HttpProblem(422, 'E_INPUT_EMPTY', 'the video upload is empty (0 bytes)');
      }
      const now = Date.now();
      try {
        guardStorage(() => st.insert.run(id, fileName.slice(0, 200), bytes, JSON.stringify(jobOptions), now, now));
      } catch (err) {
        await rm(dirOf(id), { recursive: true, force: true });
        throw err;
      }
      pump();
      return view(row(id));
    },
    get: (id) => view(row(id)),
    async resultPath(id, name) {
      const r = row(id);
      const path = join(dirOf(id), name);
      if (r.status !== 'done' && !(r.status === 'failed' && (await stat(path).catch(() => null)))) {
        throw new HttpProblem(409, 'E_CONFLICT', `video job ${id} is ${r.status}; results are there once it is done`);
      }
      if (!(await stat(path).catch(() => null))?.isFile()) throw new HttpProblem(404, 'E_NOT_FOUND', `job ${id} has no ${name}`);
      return path;
    },
    start() {
      if (started) return;
      started = true;
      try {
        recover();
        for (const r of st.byStatus.all('queued') as Row[]) {
          let present = false;
          try { present = statSync(inputOf(r.id)).isFile(); } catch { present = false; }
          if (!present) st.finish.run('failed', 'E_INPUT_READ', 'the uploaded video is missing from the data folder after a restart', Date.now(), r.id);
        }
      } catch (err) {
        if (!isStorageError(err)) throw err;
        options.log?.error({ err }, 'video jobs: cannot recover (database not writable)');
      }
      pump();
    },
    async stop() {
      stopping = true;
      await Promise.all([...active]);
      if (temp) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
