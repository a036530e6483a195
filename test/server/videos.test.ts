/**
 * Video jobs: upload (raw and multipart, size limit), a bounded worker pool (N uploads never run N decoders),
 * status and progress, results, failures recorded with their code, and restarts: a job running when the server was
 * killed (kill -9) is queued again and finished after the restart; a queued job whose upload vanished is marked
 * failed with the reason. With Debian's ffmpeg and ../shared/media/test.mp4, one real job end to end.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServeChild, VITE_NODE } from './fixtures/start-child.js';
import { describe, expect, test } from 'vitest';
import { FerkitError } from '../../src/core/errors.js';
import { openDatabase } from '../../src/server/db.js';
import { startServer, type ServerOptions } from '../../src/server/app.js';
import type { VideoJobRunner } from '../../src/server/video-jobs.js';
import { fakeAnalyzers } from './helpers.js';
import { HAS_MEDIA, MEDIA_DIR, NO_SHARED } from '../helpers/shared.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'ferkit-videos-'));
const HAS_FFMPEG = spawnSync('ffmpeg', ['-version']).status === 0;

/** A runner that takes `ms`, counts how many run at once, and fails for files named "bad". */
function fakeRunner(ms: number): VideoJobRunner & { maxConcurrent: number } {
  let now = 0;
  const r = (async (_input, outDir, _options, hooks) => {
    now++;
    r.maxConcurrent = Math.max(r.maxConcurrent, now);
    try {
      hooks.onStart(10);
      for (let i = 1; i <= 10; i++) {
        if (hooks.shouldStop()) return 'stopped';
        await new Promise((res) => setTimeout(res, ms / 10));
        hooks.onFrame(i);
      }
      if (readFileSync(join(outDir, 'input'), 'utf8').startsWith('bad')) throw new FerkitError('E_DECODE', 'corrupt video: moov atom not found');
      const { writeFile } = await import('node:fs/promises');
      for (const f of ['frames.jsonl', 'tracks.csv', 'summary.json']) await writeFile(join(outDir, f), f === 'summary.json' ? '{"frames":10}' : `${f}\n`);
      return 'done';
    } finally {
      now--;
    }
  }) as VideoJobRunner & { maxConcurrent: number };
  r.maxConcurrent = 0;
  return r;
}

const upload = (url: string, body: string, type = 'video/mp4', query = ''): Promise<Response> =>
  fetch(`${url}v1/videos${query}`, { method: 'POST', headers: { 'content-type': type }, body });

describe('video jobs (fake runner)', () => {
  test('5 uploads with 2 video workers: never more than 2 at once, all done, results served; a bad video fails with its code', async () => {
    const runner = fakeRunner(400);
    const dir = tmp();
    const s = await startServer({ root: null, port: 0, db: join(dir, 'v.db'), warmUp: false, createAnalyzer: fakeAnalyzers(), videoRunner: runner, videoWorkers: 2, rateLimitPerMinute: 0 });
    try {
      const jobs = await Promise.all([...['v0', 'v1', 'v2', 'v3'].map((n) => upload(s.url, `video ${n}`, 'video/mp4', `?name=${n}.mp4`)), upload(s.url, 'bad bytes', 'video/mp4', '?name=bad.mp4')]);
      expect(jobs.map((r) => r.status)).toEqual([202, 202, 202, 202, 202]);
      const ids: string[] = [];
      for (const r of jobs) {
        const j = await r.json();
        expect(r.headers.get('location')).toBe(`/v1/videos/${j.id}`);
        ids.push(j.id);
      }
      const early = await fetch(`${s.url}v1/videos/${ids[4]}/summary.json`);
      expect([early.status, (await early.json()).code]).toEqual([409, 'E_CONFLICT']);
      const status = async (id: string): Promise<{ status: string; progress: { fraction: number | null }; error: { code: string } | null }> => (await fetch(`${s.url}v1/videos/${id}`)).json();
      for (let i = 0; i < 200; i++) {
        const all = await Promise.all(ids.map(status));
        if (all.every((j) => j.status === 'done' || j.status === 'failed')) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const final = await Promise.all(ids.map(status));
      expect(final.map((j) => j.status)).toEqual(['done', 'done', 'done', 'done', 'failed']);
      expect(final[0]!.progress.fraction).toBe(1);
      expect(final[4]!.error).toEqual({ code: 'E_DECODE', message: 'corrupt video: moov atom not found' });
      expect(runner.maxConcurrent).toBe(2);
      const summary = await fetch(`${s.url}v1/videos/${ids[0]}/summary.json`);
      expect([summary.status, summary.headers.get('content-type')]).toEqual([200, 'application/json; charset=utf-8']);
      expect(await summary.json()).toEqual({ frames: 10 });
      expect(await (await fetch(`${s.url}v1/videos/${ids[0]}/tracks.csv`)).text()).toBe('tracks.csv\n');
    } finally {
      await s.close();
    }
  });

  test('upload limits and bad uploads: over --max-video-mb 413 (raw and multipart), empty 422, a text body 415', async () => {
    const s = await startServer({ root: null, port: 0, warmUp: false, createAnalyzer: fakeAnalyzers(), videoRunner: fakeRunner(10), maxVideoBytes: 100_000, rateLimitPerMinute: 0 });
    try {
      const big = 'x'.repeat(150_000);
      const raw = await upload(s.url, big);
      expect([raw.status, (await raw.json()).detail]).toEqual([413, expect.stringMatching(/limit of 97.66 KiB/)]);
      const form = new FormData();
      form.append('file', new Blob([big], { type: 'video/mp4' }), 'big.mp4');
      const multi = await fetch(`${s.url}v1/videos`, { method: 'POST', body: form });
      expect(multi.status).toBe(413);
      const empty = await upload(s.url, '');
      expect([empty.status, (await empty.json()).code]).toEqual([422, 'E_INPUT_EMPTY']);
      const text = await upload(s.url, 'abc', 'text/plain');
      expect(text.status).toBe(415);
      const okForm = new FormData();
      okForm.append('file', new Blob(['small video'], { type: 'video/mp4' }), 'small.mp4');
      const ok = await fetch(`${s.url}v1/videos`, { method: 'POST', body: okForm });
      expect([ok.status, (await ok.json()).fileName]).toEqual([202, 'small.mp4']);
    } finally {
      await s.close();
    }
  });
});

describe('video jobs across restarts', () => {
  const viteNode = VITE_NODE;
  const startChild = (dbFile: string, videoMs: number) => startServeChild([dbFile, String(videoMs)]);

  test.skipIf(!existsSync(viteNode))('kill -9 during a running job: after restart it is resumed and finishes; a queued job without its upload fails with the reason', async () => {
    const dir = tmp();
    const dbFile = join(dir, 'jobs.db');
    const first = await startChild(dbFile, 60_000);
    const running = await (await upload(first.url, 'video A')).json();
    const queued = await (await upload(first.url, 'video B')).json();
    const queued2 = await (await upload(first.url, 'video C')).json();
    for (let i = 0; i < 100; i++) {
      const j = await (await fetch(`${first.url}v1/videos/${running.id}`)).json();
      if (j.status === 'running' && j.progress.framesDone > 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    first.proc.kill('SIGKILL');
    await new Promise((r) => first.proc.once('exit', r));
    rmSync(join(`${dbFile}.data`, queued2.id, 'input'));

    const second = await startChild(dbFile, 300);
    try {
      const get = async (id: string): Promise<{ status: string; attempts: number; error: { code: string; message: string } | null }> => (await fetch(`${second.url}v1/videos/${id}`)).json();
      for (let i = 0; i < 100; i++) {
        if ((await get(running.id)).status === 'done' && (await get(queued.id)).status === 'done') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(await get(running.id)).toMatchObject({ status: 'done', attempts: 2 });
      expect(await get(queued.id)).toMatchObject({ status: 'done', attempts: 1 });
      expect(await get(queued2.id)).toMatchObject({ status: 'failed', error: { code: 'E_INPUT_READ', message: expect.stringMatching(/missing .* after a restart/) } });
    } finally {
      second.proc.kill('SIGTERM');
      await new Promise((r) => second.proc.once('exit', r));
    }
    const db = openDatabase(dbFile);
    expect(db.prepare("SELECT COUNT(*) AS n FROM video_jobs WHERE status IN ('queued', 'running')").get()).toEqual({ n: 0 });
    db.close();
  });

  test('a graceful stop queues the running job again (not failed, not lost)', async () => {
    const dir = tmp();
    const opts: ServerOptions = { root: null, port: 0, db: join(dir, 'g.db'), warmUp: false, createAnalyzer: fakeAnalyzers(), videoRunner: fakeRunner(5000), rateLimitPerMinute: 0 };
    const a = await startServer(opts);
    const job = await (await upload(a.url, 'video')).json();
    await new Promise((r) => setTimeout(r, 800));
    await a.close();
    const b = await startServer({ ...opts, videoRunner: fakeRunner(100) });
    try {
      for (let i = 0; i < 50 && (await (await fetch(`${b.url}v1/videos/${job.id}`)).json()).status !== 'done'; i++) await new Promise((r) => setTimeout(r, 100));
      expect(await (await fetch(`${b.url}v1/videos/${job.id}`)).json()).toMatchObject({ status: 'done', attempts: 2 });
    } finally {
      await b.close();
    }
  });
});

describe.skipIf(!HAS_FFMPEG || !HAS_MEDIA)('a real video job (ffmpeg + ../shared/media/test.mp4)', () => {
  test('test.mp4 → done, with frames.jsonl, tracks.csv and summary.json', async () => {
    const s = await startServer({ root: null, port: 0, warmUp: false, rateLimitPerMinute: 0 });
    try {
      const res = await fetch(`${s.url}v1/videos?fps=2`, { method: 'POST', headers: { 'content-type': 'video/mp4' }, body: new Uint8Array(readFileSync(join(MEDIA_DIR, 'test.mp4'))) });
      expect(res.status).toBe(202);
      const { id } = await res.json();
      let job: { status: string; error: unknown } = { status: 'queued', error: null };
      for (let i = 0; i < 600 && (job.status === 'queued' || job.status === 'running'); i++) {
        await new Promise((r) => setTimeout(r, 500));
        job = await (await fetch(`${s.url}v1/videos/${id}`)).json();
      }
      expect(job).toMatchObject({ status: 'done', error: null });
      const summary = await (await fetch(`${s.url}v1/videos/${id}/summary.json`)).json();
      expect(summary).toBeTypeOf('object');
      const lines = (await (await fetch(`${s.url}v1/videos/${id}/frames.jsonl`)).text()).trim().split('\n');
      expect(lines.length).toBeGreaterThan(0);
      expect(JSON.parse(lines[0]!)).toHaveProperty('frameIndex', 0);
    } finally {
      await s.close();
    }
  }, 600_000);

  test('a corrupt video fails in its thread with the error code, and the server answers meanwhile', async () => {
    const s = await startServer({ root: null, port: 0, warmUp: false, rateLimitPerMinute: 0 });
    try {
      const cut = new Uint8Array(readFileSync(join(MEDIA_DIR, 'test.mp4')).subarray(0, 4000));
      const { id } = await (await fetch(`${s.url}v1/videos`, { method: 'POST', headers: { 'content-type': 'video/mp4' }, body: cut })).json();
      let job: { status: string; error: { code: string; message: string } | null } = { status: 'queued', error: null };
      for (let i = 0; i < 600 && (job.status === 'queued' || job.status === 'running'); i++) {
        expect((await fetch(`${s.url}healthz`)).status).toBe(200);
        await new Promise((r) => setTimeout(r, 100));
        job = await (await fetch(`${s.url}v1/videos/${id}`)).json();
      }
      expect(job.status).toBe('failed');
      expect(job.error!.code).toMatch(/^E_[A-Z_]+$/);
      expect(job.error!.code).not.toBe('E_INFERENCE'); // the job's own error, not a dead thread
      expect(job.error!.message.length).toBeGreaterThan(10);
    } finally {
      await s.close();
    }
  }, 120_000);

  test('a graceful stop reaches the job\'s thread: the real job ends early and is queued again, not failed', async () => {
    const dbFile = join(tmp(), 'graceful.db');
    const s = await startServer({ root: null, port: 0, db: dbFile, warmUp: false, rateLimitPerMinute: 0 });
    let id = '';
    try {
      // Every frame (115; ≥ 0.8 s of work even on a fast machine), polled every 20 ms, so the stop lands while the job runs.
      // (With ?fps=2 the job was 10 frames and could finish between a poll and the stop on a quiet machine.)
      const res = await fetch(`${s.url}v1/videos`, { method: 'POST', headers: { 'content-type': 'video/mp4' }, body: new Uint8Array(readFileSync(join(MEDIA_DIR, 'test.mp4'))) });
      id = (await res.json()).id;
      for (let i = 0; i < 3000; i++) {
        const j = await (await fetch(`${s.url}v1/videos/${id}`)).json();
        if (j.status === 'running' && j.progress.framesDone > 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      await s.close();
    }
    const db = openDatabase(dbFile);
    try {
      expect(db.prepare('SELECT status, error_code FROM video_jobs WHERE id = ?').get(id)).toEqual({ status: 'queued', error_code: null });
    } finally {
      db.close();
    }
  }, 120_000);

  test.skipIf(!existsSync(VITE_NODE))('kill -9 during a real job (ffmpeg decoding): no ffmpeg left behind; after restart the job is resumed and done', async () => {
    const dbFile = join(tmp(), 'real.db');
    const first = await startServeChild([dbFile, 'real']);
    // Every frame (115), polled every 20 ms: with ?fps=2 the job was 10 frames, and on a loaded machine the decoder had
    // written its last frame and exited before the check below (the job still running on the frames it had read).
    const res = await fetch(`${first.url}v1/videos`, { method: 'POST', headers: { 'content-type': 'video/mp4' }, body: new Uint8Array(readFileSync(join(MEDIA_DIR, 'test.mp4'))) });
    expect(res.status).toBe(202);
    const { id } = await res.json();
    const get = async (url: string): Promise<{ status: string; attempts: number; progress: { framesDone: number } }> => (await fetch(`${url}v1/videos/${id}`)).json();
    for (let i = 0; i < 3000 && (await get(first.url)).progress.framesDone === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await get(first.url)).toMatchObject({ status: 'running' });
    const ffmpegOf = (): string[] => (spawnSync('pgrep', ['-f', `${id}/input`], { encoding: 'utf8' }).stdout ?? '').split('\n').filter(Boolean);
    expect(ffmpegOf().length).toBeGreaterThan(0); // the decoder is running
    first.proc.kill('SIGKILL');
    await new Promise((r) => first.proc.once('exit', r));
    // Its decoder loses its reader and ends (no orphan keeps decoding).
    for (let i = 0; i < 100 && ffmpegOf().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(ffmpegOf()).toEqual([]);

    const second = await startServeChild([dbFile, 'real']);
    try {
      let job = await get(second.url);
      for (let i = 0; i < 1200 && (job.status === 'queued' || job.status === 'running'); i++) {
        await new Promise((r) => setTimeout(r, 250));
        job = await get(second.url);
      }
      expect(job).toMatchObject({ status: 'done', attempts: 2 });
      const lines = (await (await fetch(`${second.url}v1/videos/${id}/frames.jsonl`)).text()).trim().split('\n');
      expect(JSON.parse(lines[0]!)).toHaveProperty('frameIndex', 0);
      expect(new Set(lines.map((l) => JSON.parse(l).frameIndex)).size).toBe(lines.length); // no frame twice after the restart
    } finally {
      second.proc.kill('SIGTERM');
      await new Promise((r) => second.proc.once('exit', r));
    }
  }, 600_000);
});

if (!HAS_FFMPEG) console.warn('skipped: the real video job needs Debian\'s ffmpeg on PATH');
if (!HAS_MEDIA) console.warn(NO_SHARED);
