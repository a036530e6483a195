/**
 * The app server (`ferkit serve`): cross-origin isolation and CSP headers, MIME types, GET/HEAD only, no path escape.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { brotliCompressSync, brotliDecompressSync, gzipSync } from 'node:zlib';
import { textSink } from '../helpers/cli.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { registerServeCommand, runServe } from '../../src/cli/serve.js';
import { APP_HEADERS, isLoopbackHost, startStaticServer, type StaticServer } from '../../src/server/static.js';

let dir: string;
let server: StaticServer;
const BIG = Buffer.from(Array.from({ length: 4000 }, (_, i) => `(func $f${i % 97} (result i32) i32.const ${i % 13})\n`).join(''));

/** A raw GET (no automatic decompression, headers as given): status, headers and the body bytes as sent. */
function rawGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((ok, fail) => {
    const req = httpRequest(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', fail);
    });
    req.on('error', fail);
    req.end();
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferkit-serve-'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>x</title>');
  mkdirSync(join(dir, 'ort'));
  writeFileSync(join(dir, 'ort', 'a.wasm'), Buffer.from([0, 97, 115, 109]));
  writeFileSync(join(dir, 'ort', 'a.mjs'), 'export {}');
  // A compressible runtime file with the .br/.gz siblings `npm run build:web` writes.
  writeFileSync(join(dir, 'ort', 'big.wasm'), BIG);
  writeFileSync(join(dir, 'ort', 'big.wasm.br'), brotliCompressSync(BIG));
  writeFileSync(join(dir, 'ort', 'big.wasm.gz'), gzipSync(BIG));
  writeFileSync(join(dir, '..', 'ferkit-serve-secret.txt'), 'secret');
  server = await startStaticServer({ root: dir, port: 0 });
});

afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
  rmSync(join(dir, '..', 'ferkit-serve-secret.txt'), { force: true });
});

describe('static server', () => {
  test('listens on 127.0.0.1 by default', () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
  });

  test('serves index.html for / with COOP/COEP (cross-origin isolation) and a same-origin CSP', async () => {
    const res = await fetch(server.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(res.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
    expect(res.headers.get('content-security-policy')).toContain("connect-src 'self'");
    expect(res.headers.get('content-security-policy')).toBe(APP_HEADERS['Content-Security-Policy']);
    expect(await res.text()).toContain('<title>x</title>');
  });

  test('sends WASM and ES modules with their MIME types, and answers If-Modified-Since with 304', async () => {
    const wasm = await fetch(`${server.url}ort/a.wasm`);
    expect(wasm.headers.get('content-type')).toBe('application/wasm');
    expect(new Uint8Array(await wasm.arrayBuffer())).toEqual(new Uint8Array([0, 97, 115, 109]));
    const mjs = await fetch(`${server.url}ort/a.mjs`);
    expect(mjs.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    // fetch() adds "Cache-Control: no-cache" to conditional requests unless one is given (a forced reload: 200).
    const since = mjs.headers.get('last-modified')!;
    const again = await fetch(`${server.url}ort/a.mjs`, { headers: { 'if-modified-since': since, 'cache-control': 'max-age=0' } });
    expect(again.status).toBe(304);
    expect((await fetch(`${server.url}ort/a.mjs`, { headers: { 'if-modified-since': since } })).status).toBe(200);
  });

  test('HEAD answers the headers of GET without a body', async () => {
    const res = await fetch(`${server.url}ort/a.wasm`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/wasm');
    expect(res.headers.get('content-length')).toBe('4');
    expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect((await res.arrayBuffer()).byteLength).toBe(0);
  });

  test('pre-compressed siblings: brotli or gzip by Accept-Encoding, with the original MIME type and Vary; plain otherwise', async () => {
    const url = `${server.url}ort/big.wasm`;
    const br = await rawGet(url, { 'accept-encoding': 'gzip, deflate, br' });
    expect(br.status).toBe(200);
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.headers['content-type']).toBe('application/wasm');
    expect(String(br.headers.vary)).toMatch(/accept-encoding/i);
    expect(br.headers['cross-origin-embedder-policy']).toBe('require-corp');
    expect(br.body.length).toBeLessThan(BIG.length / 5);
    expect(brotliDecompressSync(br.body).equals(BIG)).toBe(true);
    const gz = await rawGet(url, { 'accept-encoding': 'gzip' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gz.headers['content-type']).toBe('application/wasm');
    const plain = await rawGet(url);
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body.equals(BIG)).toBe(true);
  });

  test('ETag: 304 on If-None-Match (per encoding); Range: 206 with the asked bytes, 416 past the end', async () => {
    const url = `${server.url}ort/big.wasm`;
    const first = await rawGet(url, { 'accept-encoding': 'br' });
    const etag = String(first.headers.etag);
    expect(etag).toMatch(/^(W\/)?"/);
    expect((await rawGet(url, { 'accept-encoding': 'br', 'if-none-match': etag })).status).toBe(304);
    const plainEtag = String((await rawGet(url)).headers.etag);
    expect(plainEtag).not.toBe(etag); // another representation, another validator
    const part = await rawGet(url, { range: 'bytes=100-199' });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 100-199/${BIG.length}`);
    expect(part.body.equals(BIG.subarray(100, 200))).toBe(true);
    expect(part.headers['accept-ranges']).toBe('bytes');
    expect((await rawGet(url, { range: `bytes=${BIG.length + 10}-` })).status).toBe(416);
  });

  test('BAD INPUT: POST is refused (nothing can be uploaded), missing files are 404, paths cannot leave the root', async () => {
    const post = await fetch(server.url, { method: 'POST', body: 'frame' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect((await fetch(`${server.url}nope.js`)).status).toBe(404);
    const escape = await fetch(`${server.url}..%2Fferkit-serve-secret.txt`);
    expect([403, 404]).toContain(escape.status);
    expect(await escape.text()).not.toContain('secret');
  });

  test('EXPECTED FAILURE: a folder without index.html is refused with a hint to build', async () => {
    await expect(startStaticServer({ root: join(dir, 'ort'), port: 0 })).rejects.toMatchObject({
      name: 'FerkitError', code: 'E_INPUT_READ', message: /npm run build:web/,
    });
  });

  test('loopback hosts', () => {
    expect(['127.0.0.1', 'localhost', '::1', '127.1.2.3'].every(isLoopbackHost)).toBe(true);
    expect(isLoopbackHost('0.0.0.0')).toBe(false);
  });
});

describe('ferkit serve', () => {
  const sink = textSink;

  test('prints the URL on stdout, serves until stopped, exits 0', async () => {
    const stdout = sink();
    const stderr = sink();
    let served = '';
    const code = await runServe({ port: 0, host: '127.0.0.1', dir }, {
      stdout, stderr,
      untilStopped: async (s) => { served = await (await fetch(s.url)).text(); },
    });
    expect(code).toBe(0);
    expect(stdout.text()).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\n$/);
    expect(stderr.text()).toMatch(/no camera frame or photo is sent/);
    expect(served).toContain('<title>x</title>');
  });

  test('EXPECTED FAILURE: exit code 1 and a hint when the app is not built or the port is taken', async () => {
    const stderr = sink();
    expect(await runServe({ port: 0, host: '127.0.0.1', dir: join(dir, 'missing') }, { stdout: sink(), stderr, untilStopped: async () => {} })).toBe(1);
    expect(stderr.text()).toMatch(/build the web app first/);
    const taken = sink();
    expect(await runServe({ port: server.port, host: '127.0.0.1', dir }, { stdout: sink(), stderr: taken, untilStopped: async () => {} })).toBe(1);
    expect(taken.text()).toMatch(/in use; pick another with --port/);
  });

  test('registers as a commander subcommand with --port, --host and --dir', async () => {
    const program = new Command('ferkit').exitOverride().configureOutput({ writeErr: () => undefined });
    const stdout = sink();
    let code = -1;
    registerServeCommand(program, { stdout, stderr: sink(), untilStopped: async () => {}, setExitCode: (c) => { code = c; } });
    await program.parseAsync(['node', 'ferkit', 'serve', '--port', '0', '--dir', dir]);
    expect(code).toBe(0);
    expect(stdout.text()).toMatch(/^http:\/\/127\.0\.0\.1:/);
    await expect(program.parseAsync(['node', 'ferkit', 'serve', '--port', 'x'])).rejects.toThrow();
  });
});
