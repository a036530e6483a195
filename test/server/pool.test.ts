/**
 * The analysis thread pool (src/server/analysis-pool.ts) with the real models: results equal the library's, work is
 * spread over the threads, errors keep their E_* code and file name across the thread boundary, a thread that dies
 * fails only its own analyses (E_INFERENCE) and is replaced; the server's Server-Timing header names the stages.
 * The worker script is the compiled one (`npm run build` writes dist/src/server/analysis-worker.js); without it the
 * tests skip with a message.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createAnalyzer } from '../../src/node/index.js';
import { analysisWorkerFile, createAnalysisPool, type AnalysisPool } from '../../src/server/analysis-pool.js';
import { startServer } from '../../src/server/app.js';
import type { ServerAnalyzer } from '../../src/server/inference.js';

const SAMPLE = join(dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')), 'demo', 'sample1.jpg');
const WORKER = analysisWorkerFile();
if (!WORKER) console.warn('skipped: the analysis pool tests need the compiled worker (npm run build)');

describe.skipIf(!WORKER)('analysis pool (2 threads, real models)', () => {
  const bytes = new Uint8Array(readFileSync(SAMPLE));
  let pool: AnalysisPool;
  let analyzer: ServerAnalyzer;
  beforeAll(async () => {
    pool = createAnalysisPool(2, WORKER!);
    analyzer = await pool.factory({ labels: '7', threads: 1 });
  }, 120_000);
  afterAll(async () => { await pool?.close(); });

  test('an analysis in a thread equals the library\'s on the main thread', async () => {
    const got = await analyzer.analyze(bytes, { name: 'sample1.jpg' });
    const lib = await createAnalyzer({ labels: '7', threads: 1 });
    try {
      const want = await lib.analyze(bytes, { name: 'sample1.jpg' });
      const strip = (a: typeof got): unknown => JSON.parse(JSON.stringify({ ...a, timingsMs: null }));
      expect(strip(got)).toEqual(strip(want));
      expect(got.faces.length).toBeGreaterThanOrEqual(3);
    } finally {
      await lib.dispose();
    }
  });

  test('concurrent analyses are spread over both threads', async () => {
    const runs = Array.from({ length: 4 }, (_, i) => analyzer.analyze(bytes, { name: `copy-${i}.jpg` }));
    expect(pool.busy()).toEqual([2, 2]);
    const results = await Promise.all(runs);
    expect(results.map((r) => r.source)).toEqual(['copy-0.jpg', 'copy-1.jpg', 'copy-2.jpg', 'copy-3.jpg']);
    expect(pool.busy()).toEqual([0, 0]);
  });

  test('a bad image is a FerkitError with its code and the file name, as on the main thread', async () => {
    await expect(analyzer.analyze(new Uint8Array(Buffer.from('hello, not an image')), { name: 'notes.txt' }))
      .rejects.toMatchObject({ name: 'FerkitError', code: 'E_UNSUPPORTED_FORMAT', file: 'notes.txt', message: /^notes\.txt: not an image/ });
    await expect(analyzer.analyze(bytes.subarray(0, 5000), { name: 'cut.jpg' }))
      .rejects.toMatchObject({ code: 'E_DECODE', message: /^cut\.jpg: truncated JPEG/ });
  });

  test('a thread that dies fails its own analysis (503 E_INFERENCE, Retry-After) and is replaced; later analyses work', async () => {
    const [first] = pool.threads();
    const doomed = analyzer.analyze(bytes, { name: 'doomed.jpg' }); // goes to thread 0 (both idle: the first wins)
    await first!.terminate();
    await expect(doomed).rejects.toMatchObject({ status: 503, code: 'E_INFERENCE', headers: { 'Retry-After': '2' }, message: /analysis thread stopped/ });
    expect(pool.threads()[0]).not.toBe(first);
    const again = await Promise.all([analyzer.analyze(bytes, { name: 'a.jpg' }), analyzer.analyze(bytes, { name: 'b.jpg' })]);
    expect(again.every((r) => r.faces.length >= 3)).toBe(true);
  }, 60_000);
});

describe.skipIf(!WORKER)('runaway analyses are stopped', () => {
  test('an analysis past stopAfterMs has its thread stopped (503 E_INFERENCE naming the file) and replaced', async () => {
    const pool = createAnalysisPool(1, WORKER!, { stopAfterMs: 5 });
    try {
      const analyzer = await pool.factory({ labels: '7', threads: 1 });
      const [first] = pool.threads();
      // A 1920×1280 photo takes far longer than 5 ms to decode and detect.
      await expect(analyzer.analyze(new Uint8Array(readFileSync(SAMPLE)), { name: 'slow.jpg' }))
        .rejects.toMatchObject({ status: 503, code: 'E_INFERENCE', message: /analysis of slow\.jpg was still running after 5 ms: its thread was stopped/ });
      await expect.poll(() => pool.stats().replaced).toBe(1);
      expect(pool.threads()[0]).not.toBe(first);
      expect(pool.stats()).toMatchObject({ threads: 1, busy: 0 });
    } finally {
      await pool.close();
    }
  }, 120_000);

  test('in the server: the answer is 503 E_TIMEOUT at the time limit, then the thread is stopped, which /readyz counts', async () => {
    const s = await startServer({ root: null, port: 0, rateLimitPerMinute: 0, workers: 1, analyzeTimeoutMs: 1, stopAnalysisAfterMs: 20 });
    try {
      await expect.poll(async () => (await fetch(`${s.url}readyz`)).status, { timeout: 60_000, interval: 200 }).toBe(200);
      const res = await fetch(`${s.url}v1/analyze`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: readFileSync(SAMPLE) });
      expect([res.status, (await res.json()).code]).toEqual([503, 'E_TIMEOUT']);
      await expect.poll(async () => (await (await fetch(`${s.url}readyz`)).json()).analysisThreads, { timeout: 10_000 })
        .toMatchObject({ threads: 1, busy: 0, replaced: 1 });
      expect((await (await fetch(`${s.url}readyz`)).json()).inference).toMatchObject({ running: 0, queued: 0 });
    } finally {
      await s.close();
    }
  }, 120_000);
});

describe.skipIf(!WORKER)('Server-Timing on /v1/analyze', () => {
  test('the answer says where the time went: queue, decode, detect, classify (ms)', async () => {
    const s = await startServer({ root: null, port: 0, rateLimitPerMinute: 0, workers: 2 });
    try {
      const res = await fetch(`${s.url}v1/analyze`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: readFileSync(SAMPLE) });
      expect(res.status).toBe(200);
      const timing = res.headers.get('server-timing') ?? '';
      expect(timing).toMatch(/^queue;dur=[\d.]+, decode;dur=[\d.]+, detect;dur=[\d.]+, classify;dur=[\d.]+$/);
      const [item] = await res.json();
      const detect = Number(/detect;dur=([\d.]+)/.exec(timing)![1]);
      expect(detect).toBeCloseTo(item.timingsMs.detect, 0);
    } finally {
      await s.close();
    }
  }, 120_000);
});
