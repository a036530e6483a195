/**
 * `ferkit serve` with the server options (--db, --token / FERKIT_TOKEN, --max-upload-mb, --workers, --log-level),
 * refusal of a non-loopback host without a token, request logs without bodies, and graceful shutdown (an in-flight
 * request finishes; the WAL is checkpointed).
 */
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { textSink } from '../helpers/cli.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, test } from 'vitest';
import { registerServeCommand, runServe } from '../../src/cli/serve.js';
import { analysisWorkerFile } from '../../src/server/analysis-pool.js';
import { startServer } from '../../src/server/app.js';
import { fakeAnalyzers, makeRoot } from './helpers.js';

const sink = textSink;
const TOKEN = 'cli-test-token-0123456789abcdef';

describe('ferkit serve options', () => {
  test('--db, --token, --max-upload-mb, --workers, --threads: API behind the token, limit in the 413, one analysis thread, sessions kept in the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferkit-serve-cli-'));
    const db = join(dir, 'class.db');
    const stdout = sink();
    const stderr = sink();
    const program = new Command('ferkit').exitOverride();
    let code = -1;
    const seen: Record<string, number> = {};
    registerServeCommand(program, {
      stdout, stderr, setExitCode: (c) => { code = c; },
      untilStopped: async (s) => {
        seen.noToken = (await fetch(`${s.url}v1/sessions`)).status;
        const auth = { authorization: `Bearer ${TOKEN}` };
        seen.created = (await fetch(`${s.url}v1/sessions`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"name":"kept"}' })).status;
        const big = await fetch(`${s.url}v1/analyze`, { method: 'POST', headers: { ...auth, 'content-type': 'image/jpeg' }, body: new Uint8Array(2 * 1024 * 1024) });
        seen.big = big.status;
        seen.bigSaysLimit = /limit of 1 MiB/.test((await big.json()).detail) ? 1 : 0;
        const ready = await (await fetch(`${s.url}readyz`)).json();
        seen.analysisThreads = ready.analysisThreads?.threads ?? -1;
      },
    });
    await program.parseAsync(['node', 'ferkit', 'serve', '--port', '0', '--dir', makeRoot(), '--db', db, '--token', TOKEN,
      '--max-upload-mb', '1', '--workers', '1', '--threads', '1', '--log-level', 'silent']);
    expect(code).toBe(0);
    expect(seen).toEqual({ noToken: 401, created: 201, big: 413, bigSaysLimit: 1, analysisThreads: analysisWorkerFile() ? 1 : -1 });
    expect(stderr.text()).toMatch(new RegExp(`sessions in ${db.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    expect(existsSync(db)).toBe(true);
    expect(existsSync(`${db}-wal`) ? statSync(`${db}-wal`).size : 0).toBe(0); // checkpointed on shutdown
    const again = await startServer({ root: null, port: 0, db, token: TOKEN, warmUp: false, createAnalyzer: fakeAnalyzers() });
    try {
      const list = await (await fetch(`${again.url}v1/sessions`, { headers: { authorization: `Bearer ${TOKEN}` } })).json();
      expect(list.sessions.map((s: { name: string }) => s.name)).toEqual(['kept']);
    } finally {
      await again.close();
    }
  });

  test('FERKIT_TOKEN is the default of --token; a non-loopback host without a token exits 1 with the reason', async () => {
    const stderr = sink();
    expect(await runServe({ port: 0, host: '0.0.0.0', dir: makeRoot(), logLevel: 'silent' }, { stdout: sink(), stderr, untilStopped: async () => {} })).toBe(1);
    expect(stderr.text()).toMatch(/needs a token: pass --token or set FERKIT_TOKEN/);
    const program = new Command('ferkit').exitOverride();
    const status: number[] = [];
    process.env.FERKIT_TOKEN = TOKEN;
    try {
      registerServeCommand(program, {
        stdout: sink(), stderr: sink(), setExitCode: () => undefined,
        untilStopped: async (s) => {
          status.push((await fetch(`${s.url}v1/sessions`)).status, (await fetch(`${s.url}v1/sessions`, { headers: { authorization: `Bearer ${TOKEN}` } })).status);
        },
      });
      await program.parseAsync(['node', 'ferkit', 'serve', '--port', '0', '--dir', makeRoot(), '--log-level', 'silent', '--no-api']);
    } finally {
      delete process.env.FERKIT_TOKEN;
    }
    // The token from the environment guards /v1 (401 without it); with it, --no-api has no /v1 routes (404).
    expect(status).toEqual([401, 404]);
  });
});

describe('logging and shutdown', () => {
  test('request logs: method, URL, status and time, never the body', async () => {
    const log = sink();
    const s = await startServer({ root: null, port: 0, warmUp: false, createAnalyzer: fakeAnalyzers(), logger: { level: 'info', stream: log } });
    try {
      const marker = 'IMAGE-BYTES-MARKER-0123456789';
      await fetch(`${s.url}v1/analyze?name=x.jpg`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: marker.repeat(100) });
    } finally {
      await s.close();
    }
    const lines = log.text().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const done = lines.find((l) => l.msg === 'request completed') as { res: { statusCode: number }; responseTime: number } | undefined;
    expect(done?.res.statusCode).toBe(200);
    expect(typeof done?.responseTime).toBe('number');
    expect(lines.some((l) => (l.req as { url?: string } | undefined)?.url === '/v1/analyze?name=x.jpg')).toBe(true);
    expect(log.text()).not.toContain('IMAGE-BYTES-MARKER');
  });

  test('graceful shutdown: a request in flight when close() starts is answered; new connections are refused', async () => {
    const s = await startServer({ root: null, port: 0, warmUp: false, createAnalyzer: fakeAnalyzers(800), rateLimitPerMinute: 0 });
    const inflight = fetch(`${s.url}v1/analyze`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: 'x' });
    await new Promise((r) => setTimeout(r, 200));
    const closing = s.close();
    const res = await inflight;
    expect(res.status).toBe(200);
    expect((await res.json())[0].ok).toBe(true);
    await closing;
    await expect(fetch(`${s.url}healthz`)).rejects.toThrow();
  });
});
