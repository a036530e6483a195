/** Helpers of the server tests: a served folder, fake analyzers, raw HTTP on 127.0.0.1. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerAnalyzer, ServerAnalyzerFactory } from '../../src/server/inference.js';
import type { ImageAnalysis } from '../../src/core/types.js';
import { EXPRESSIONS } from '../../src/core/labels.js';
import type { AggregateBatch } from '../../src/server/sessions-store.js';
import { OK_QUALITY } from '../helpers/faces.js';

/** A temp folder with an app build stand-in (`index.html`, `ort/a.wasm`). */
export function makeRoot(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ferkit-srv-'));
  const root = join(dir, 'web');
  mkdirSync(join(root, 'ort'), { recursive: true });
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>app</title>');
  writeFileSync(join(root, 'ort', 'a.wasm'), Buffer.from([0, 97, 115, 109]));
  return root;
}

/** An analysis with one face, as the library returns it. */
export function fakeAnalysis(source: string | null, width = 64, height = 48): ImageAnalysis {
  return {
    source, width, height,
    faces: [{
      box: { x: 1, y: 2, width: 30, height: 30 },
      keypoints: { rightEye: { x: 5, y: 5 }, leftEye: { x: 20, y: 5 }, nose: { x: 12, y: 12 }, mouth: { x: 12, y: 20 }, rightEar: { x: 1, y: 8 }, leftEar: { x: 28, y: 8 } },
      score: 0.9,
      probabilities: { angry: 0.1, disgust: 0, fear: 0, happy: 0.7, sad: 0.1, surprise: 0, neutral: 0.1 },
      label: 'happy', labelScore: 0.7, valence: 'positive', valenceScore: 0.6, quality: OK_QUALITY,
    }],
    timingsMs: { decode: 1, detect: 1, classify: 1, total: 3 },
    models: { detector: 'fake', classifier: 'fake' },
  };
}

/** A fake analyzer factory: each call waits `delayMs`, then returns {@link fakeAnalysis}. Counts calls at once. */
export function fakeAnalyzers(delayMs = 0): ServerAnalyzerFactory & { maxConcurrent: number; calls: number } {
  let now = 0;
  const f = (async () => {
    const analyzer: ServerAnalyzer = {
      async analyze(_bytes, options) {
        f.calls++;
        now++;
        f.maxConcurrent = Math.max(f.maxConcurrent, now);
        try {
          if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
          return fakeAnalysis(options?.name ?? null);
        } finally {
          now--;
        }
      },
      async dispose() {},
    };
    return analyzer;
  }) as unknown as ServerAnalyzerFactory & { maxConcurrent: number; calls: number };
  f.maxConcurrent = 0;
  f.calls = 0;
  return f;
}

/** A raw HTTP/1.1 answer. */
export interface RawAnswer { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** A request with `http.request` to 127.0.0.1:port (which, unlike fetch, may set any Host header). */
export function rawRequest(port: number, path: string, options: { method?: string; headers?: Record<string, string>; body?: string | Buffer; localAddress?: string } = {}): Promise<RawAnswer> {
  return new Promise((ok, fail) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers, localAddress: options.localAddress, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', fail);
    });
    req.on('error', fail);
    req.end(options.body);
  });
}

/** Opens a TCP connection to 127.0.0.1:port that sends nothing (an idle client). */
export function idleSocket(port: number, localAddress?: string): Promise<Socket> {
  return new Promise((ok, fail) => {
    const s = connect({ host: '127.0.0.1', port, localAddress }, () => ok(s));
    s.on('error', fail);
  });
}

/** Writes `text` on a new socket and collects everything until the server closes it (or `maxMs`). */
export function socketExchange(port: number, chunks: { text: string; afterMs?: number }[], maxMs = 10_000): Promise<{ data: string; closedAfterMs: number; closedByServer: boolean }> {
  return new Promise((ok, fail) => {
    const t0 = Date.now();
    let data = '';
    let done = false;
    const s = connect({ host: '127.0.0.1', port });
    const finish = (byServer: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(guard);
      s.destroy();
      ok({ data, closedAfterMs: Date.now() - t0, closedByServer: byServer });
    };
    const guard = setTimeout(() => finish(false), maxMs);
    s.setEncoding('utf8');
    s.on('data', (c: string) => { data += c; });
    s.on('close', () => finish(true));
    s.on('end', () => finish(true));
    s.on('error', (e) => (done ? undefined : fail(e)));
    s.on('connect', async () => {
      for (const c of chunks) {
        if (c.afterMs) await new Promise((r) => setTimeout(r, c.afterMs));
        if (done || s.destroyed) return;
        s.write(c.text);
      }
    });
  });
}

/** Waits until `predicate()` is true (polling every 20 ms) or throws after `ms`. */
export async function waitFor(predicate: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!predicate()) {
    if (Date.now() - t0 > ms) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** `n` seconds of one device from `at0`: two tracks, one happy and one sad. */
export function batch(key: string, at0: number, n: number, label?: string): AggregateBatch {
  const probs = (top: string): Record<string, number> => Object.fromEntries(EXPRESSIONS.map((e) => [e, e === top ? 0.7 : 0.05]));
  return {
    device: { key, ...(label ? { label } : {}) },
    samples: Array.from({ length: n }, (_, i) => ({
      at: at0 + i * 1000, faces: 2, shares: { happy: 0.5, sad: 0.5 }, meanValence: 0.1,
      tracks: [
        { trackId: 1, label: 'happy', valence: 'positive' as const, valenceScore: 0.65, probabilities: probs('happy') as never },
        { trackId: 2, label: 'sad', valence: 'negative' as const, valenceScore: -0.45, probabilities: probs('sad') as never },
      ],
    })),
    notices: n >= 10 ? [{ at: at0 + 9000, trackId: 2, negativeForMs: 10_000, message: 'Person 2 has shown a negative expression for 10 s.' }] : [],
  };
}

