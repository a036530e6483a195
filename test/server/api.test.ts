/**
 * The /v1 API: OpenAPI 3.1 document and docs page, contract checks from the document (every route answers its
 * documented paths; bad input is a problem+json 4xx), POST /v1/analyze with the real models (same JSON as the
 * library/CLI) and its limits: upload size (413), pixel bomb (422), corrupt and non-image bodies (422), wrong content
 * types (415), malformed JSON (400), inference backpressure (503 + Retry-After) and the analysis time limit.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { crc32, deflateSync, gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createAnalyzer } from '../../src/node/index.js';
import { okItem } from '../../src/node/output.js';
import { startServer, type RunningServer } from '../../src/server/app.js';
import { fakeAnalyzers, makeRoot } from './helpers.js';

const SAMPLE = join(dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')), 'demo', 'sample1.jpg');
const PROBLEM_TYPE = 'application/problem+json; charset=utf-8';

/** A PNG whose header says width×height (a few hundred bytes: a decompression bomb as far as the header goes). */
async function headerBombPng(width: number, height: number): Promise<Buffer> {
  const png = Buffer.from(await sharp({ create: { width: 8, height: 8, channels: 3, background: '#fff' } }).png().toBuffer());
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
  return png;
}

describe('OpenAPI and contract', () => {
  let s: RunningServer;
  let doc: { openapi: string; paths: Record<string, Record<string, { parameters?: { in: string; name: string }[]; responses: Record<string, unknown>; requestBody?: unknown }>>; components: { schemas: Record<string, unknown> } };
  beforeAll(async () => {
    s = await startServer({ root: makeRoot(), port: 0, warmUp: false, createAnalyzer: fakeAnalyzers(), rateLimitPerMinute: 0 });
    doc = await (await fetch(`${s.url}openapi.json`)).json();
  });
  afterAll(async () => { await s.close(); });

  test('OpenAPI 3.1 with every /v1 route, shared schemas and problem+json error answers', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/healthz', '/readyz', '/v1/analyze', '/v1/join/{code}', '/v1/sessions', '/v1/sessions/{id}', '/v1/sessions/{id}/aggregates',
      '/v1/sessions/{id}/end', '/v1/sessions/{id}/events', '/v1/sessions/{id}/export.csv', '/v1/sessions/{id}/export.json',
      '/v1/videos', '/v1/videos/{id}', '/v1/videos/{id}/frames.jsonl', '/v1/videos/{id}/summary.json', '/v1/videos/{id}/tracks.csv',
    ]);
    expect(Object.keys(doc.components.schemas)).toEqual(expect.arrayContaining(['Problem', 'Session', 'VideoJob']));
    expect(doc.paths['/v1/analyze']!.post!.responses['413']).toMatchObject({ content: { 'application/problem+json': {} } });
    expect(Object.keys((doc.paths['/v1/analyze']!.post!.requestBody as { content: object }).content)).toEqual(expect.arrayContaining(['image/jpeg', 'multipart/form-data']));
  });

  test('the docs page and its scripts come from this server (no CDN)', async () => {
    const html = await (await fetch(`${s.url}docs/`)).text();
    const srcs = [...html.matchAll(/<(?:script|link)[^>]+(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(srcs.length).toBeGreaterThan(2);
    for (const src of srcs) {
      expect(src).not.toMatch(/^(https?:)?\/\//);
      expect((await fetch(new URL(src, `${s.url}docs/`))).status).toBe(200);
    }
  });

  test('every documented operation with a path parameter: a malformed id → 400, an unknown id → 404, both problem+json', async () => {
    let checked = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (!(op.parameters ?? []).some((p) => p.in === 'path')) continue;
        const isCode = path.includes('{code}');
        const bad = path.replace(/\{\w+\}/, isCode ? 'x' : 'not-an-id');
        const unknown = path.replace(/\{\w+\}/, isCode ? 'ZZZZZZ' : '00000000-0000-0000-0000-000000000000');
        const init = (): RequestInit => ({ method: method.toUpperCase(), ...(method === 'post' ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ device: { key: 'abcdefgh' }, samples: [] }) } : {}) });
        const r1 = await fetch(`${s.url}${bad.slice(1)}`, init());
        expect([r1.status, r1.headers.get('content-type')], `${method} ${bad}`).toEqual([400, PROBLEM_TYPE]);
        expect((await r1.json()).code).toBe('E_BAD_REQUEST');
        const r2 = await fetch(`${s.url}${unknown.slice(1)}`, init());
        expect([r2.status, r2.headers.get('content-type')], `${method} ${unknown}`).toEqual([404, PROBLEM_TYPE]);
        expect((await r2.json()).code).toBe('E_NOT_FOUND');
        checked++;
      }
    }
    expect(checked).toBe(12);
  });

  test('bad bodies: malformed JSON 400, schema violations 400 naming the field, wrong content type 415, unknown route 404', async () => {
    const post = (path: string, body: string, type = 'application/json'): Promise<Response> => fetch(`${s.url}${path}`, { method: 'POST', headers: { 'content-type': type }, body });
    const cases: [Response, number, string, RegExp][] = [
      [await post('v1/sessions', '{"name": "x",'), 400, 'E_BAD_REQUEST', /JSON/i],
      [await post('v1/sessions', '{}'), 400, 'E_BAD_REQUEST', /name/],
      [await post('v1/sessions', '{"name": "x", "extra": 1}'), 400, 'E_BAD_REQUEST', /additional/],
      [await post('v1/sessions', 'name=x', 'application/x-www-form-urlencoded'), 415, 'E_MEDIA_TYPE', /content-type|media type/i],
      [await post('v1/analyze', 'hello', 'text/plain'), 415, 'E_MEDIA_TYPE', /content type/i],
      [await post('v1/analyze?labels=9', 'x', 'image/jpeg'), 400, 'E_BAD_REQUEST', /labels/],
      [await post('v1/analyze?model=/etc/passwd', 'x', 'image/jpeg'), 400, 'E_BAD_REQUEST', /model/],
      [await fetch(`${s.url}v1/nope`), 404, 'E_NOT_FOUND', /not found/],
    ];
    for (const [res, status, code, detail] of cases) {
      expect(res.status).toBe(status);
      expect(res.headers.get('content-type')).toBe(PROBLEM_TYPE);
      const body = await res.json();
      expect(body).toMatchObject({ status, code, type: `urn:ferkit:problem:${code}` });
      expect(body.detail).toMatch(detail);
    }
  });

  test('/healthz and /readyz', async () => {
    expect(await (await fetch(`${s.url}healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${s.url}readyz`);
    // warmUp: false and no analysis yet: the models are not loaded, so not ready.
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ models: 'loading', database: 'ok' });
    await fetch(`${s.url}v1/analyze`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: 'x' });
    const again = await fetch(`${s.url}readyz`);
    expect([again.status, (await again.json()).models]).toEqual([200, 'loaded']);
  });
});

describe('POST /v1/analyze with the real models', () => {
  let s: RunningServer;
  const sample = readFileSync(SAMPLE);
  beforeAll(async () => {
    s = await startServer({ root: null, port: 0, rateLimitPerMinute: 0, maxUploadBytes: 512 * 1024, maxFiles: 3 });
  });
  afterAll(async () => { await s.close(); });

  test('a JPEG body gives the CLI\'s JSON item, equal to the library\'s analysis', async () => {
    const res = await fetch(`${s.url}v1/analyze?name=sample1.jpg`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: sample });
    expect(res.status).toBe(200);
    const items = await res.json();
    expect(items).toHaveLength(1);
    const analyzer = await createAnalyzer();
    try {
      const expected = JSON.parse(JSON.stringify(okItem('sample1.jpg', await analyzer.analyze(new Uint8Array(sample), { name: 'sample1.jpg' }))));
      delete expected.timingsMs;
      const { timingsMs, ...got } = items[0];
      expect(Object.keys(timingsMs).sort()).toEqual(['classify', 'decode', 'detect', 'total']);
      expect(got).toEqual(expected);
      expect(got.faces.length).toBeGreaterThanOrEqual(3);
    } finally {
      await analyzer.dispose();
    }
  });

  test('labels=valence adds the projection; cropped=true analyses the whole image as one face', async () => {
    const v = await (await fetch(`${s.url}v1/analyze?labels=valence`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: sample })).json();
    expect(v[0].faces[0].projected.labelSet).toBe('valence');
    const crop = await sharp(sample).extract({ left: 0, top: 0, width: 200, height: 200 }).png().toBuffer();
    const c = await (await fetch(`${s.url}v1/analyze?cropped=true`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: crop })).json();
    expect(c[0].faces).toHaveLength(1);
  });

  test('multipart with several files: one item per file, a corrupt one is an ok:false item with E_DECODE', async () => {
    const form = new FormData();
    form.append('files', new Blob([new Uint8Array(sample)], { type: 'image/jpeg' }), 'a.jpg');
    form.append('files', new Blob([new Uint8Array(sample.subarray(0, 3000))], { type: 'image/jpeg' }), 'truncated.jpg');
    form.append('files', new Blob(['just text'], { type: 'image/jpeg' }), 'text.jpg');
    const res = await fetch(`${s.url}v1/analyze`, { method: 'POST', body: form });
    expect(res.status).toBe(200);
    const items = await res.json();
    expect(items.map((i: { file: string; ok: boolean }) => [i.file, i.ok])).toEqual([['a.jpg', true], ['truncated.jpg', false], ['text.jpg', false]]);
    expect(items[1].error.code).toBe('E_DECODE');
    expect(items[2].error.code).toBe('E_UNSUPPORTED_FORMAT');
  });

  test('zip bombs in multipart: a PNG whose deflate data inflates to 101 MP and a gzip of 100 MB of zeros → per-file items, nothing inflated', async () => {
    // A real deflate bomb (not only a lying header): 10100×10000 gray pixels of zeros, about 100 kB compressed.
    const w = 10100;
    const h = 10000;
    const raw = Buffer.alloc((w + 1) * h); // filter byte 0 + one zero byte per pixel, per row
    const chunk = (type: string, data: Buffer): Buffer => {
      const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
      const out = Buffer.alloc(12 + data.length);
      out.writeUInt32BE(data.length, 0);
      body.copy(out, 4);
      out.writeUInt32BE(crc32(body), 8 + data.length);
      return out;
    };
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(w, 0);
    ihdr.writeUInt32BE(h, 4);
    ihdr[8] = 8; // bit depth; colour type 0 (gray), compression, filter, interlace 0
    const bombPng = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
    const gz = gzipSync(Buffer.alloc(100 * 1024 * 1024), { level: 9 });
    expect(bombPng.length).toBeLessThan(200 * 1024);
    expect(gz.length).toBeLessThan(200 * 1024);
    const form = new FormData();
    form.append('files', new Blob([new Uint8Array(sample)], { type: 'image/jpeg' }), 'a.jpg');
    form.append('files', new Blob([new Uint8Array(bombPng)], { type: 'image/png' }), 'bomb.png');
    form.append('files', new Blob([new Uint8Array(gz)], { type: 'application/gzip' }), 'zeros.gz');
    const res = await fetch(`${s.url}v1/analyze`, { method: 'POST', body: form });
    expect(res.status).toBe(200);
    const items = await res.json();
    expect(items.map((i: { file: string; ok: boolean; error?: { code: string } }) => [i.file, i.ok, i.error?.code])).toEqual([
      ['a.jpg', true, undefined], ['bomb.png', false, 'E_TOO_MANY_PIXELS'], ['zeros.gz', false, 'E_UNSUPPORTED_FORMAT'],
    ]);
    expect(items[1].error.message).toMatch(/10100x10000 = 101 MP exceeds the limit of 100 MP/);
    expect(items[2].error.message).toMatch(/gzip archive/);
  });

  test.each([
    ['empty', Buffer.alloc(0), 'E_INPUT_EMPTY'],
    ['truncated JPEG', readFileSync(SAMPLE).subarray(0, 5000), 'E_DECODE'],
    ['text', Buffer.from('hello, not an image'), 'E_UNSUPPORTED_FORMAT'],
    ['a zip file', Buffer.from([0x50, 0x4b, 0x03, 0x04, ...new Array(60).fill(0)]), 'E_UNSUPPORTED_FORMAT'],
  ])('a raw %s body → 422 with the CLI code', async (_what, body, code) => {
    const res = await fetch(`${s.url}v1/analyze`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body });
    expect([res.status, res.headers.get('content-type')]).toEqual([422, PROBLEM_TYPE]);
    expect((await res.json()).code).toBe(code);
  });

  test('a pixel bomb (60000×60000 in a tiny PNG) → 422 E_TOO_MANY_PIXELS with the limit, without decoding', async () => {
    const bomb = await headerBombPng(60000, 60000);
    expect(bomb.length).toBeLessThan(1000);
    const t0 = Date.now();
    const res = await fetch(`${s.url}v1/analyze`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: new Uint8Array(bomb) });
    expect(res.status).toBe(422);
    const p = await res.json();
    expect(p.code).toBe('E_TOO_MANY_PIXELS');
    expect(p.detail).toMatch(/60000x60000 = 3600 MP exceeds the limit of 100 MP/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  test('uploads over --max-upload-mb → 413 naming the limit (declared length, chunked body, multipart file); too many files → 413', async () => {
    const big = Buffer.alloc(600 * 1024, 1);
    const declared = await fetch(`${s.url}v1/analyze`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: big });
    expect(declared.status).toBe(413);
    expect((await declared.json()).detail).toMatch(/limit of 512 KiB/);
    const chunked = await fetch(`${s.url}v1/analyze`, {
      method: 'POST', headers: { 'content-type': 'image/jpeg' }, duplex: 'half',
      body: new ReadableStream({ start(c) { for (let i = 0; i < 10; i++) c.enqueue(new Uint8Array(100 * 1024)); c.close(); } }),
    } as RequestInit);
    expect(chunked.status).toBe(413);
    const form = new FormData();
    form.append('files', new Blob([new Uint8Array(big)], { type: 'image/jpeg' }), 'big.jpg');
    const multi = await fetch(`${s.url}v1/analyze`, { method: 'POST', body: form });
    expect(multi.status).toBe(413);
    expect((await multi.json()).detail).toMatch(/512 KiB/);
    const many = new FormData();
    for (let i = 0; i < 4; i++) many.append('files', new Blob([new Uint8Array(sample)], { type: 'image/jpeg' }), `${i}.jpg`);
    const tooMany = await fetch(`${s.url}v1/analyze`, { method: 'POST', body: many });
    expect(tooMany.status).toBe(413);
    // The server is fine afterwards.
    expect((await fetch(`${s.url}v1/analyze`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: sample })).status).toBe(200);
  });
});

describe('default model (fake analyzers)', () => {
  test('--model / defaultModel picks the classifier of requests that name none; a request\'s model= wins', async () => {
    const seen: (string | undefined)[] = [];
    const base = fakeAnalyzers();
    const spy: typeof base = Object.assign(async (o: Parameters<typeof base>[0]) => {
      seen.push(o.classifier?.model);
      return base(o);
    }, { maxConcurrent: 0, calls: 0 });
    const s = await startServer({ root: null, port: 0, warmUp: false, createAnalyzer: spy, defaultModel: 'ferkit-lite', rateLimitPerMinute: 0 });
    try {
      const post = (q: string): Promise<Response> => fetch(`${s.url}v1/analyze${q}`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: new Uint8Array([0xff, 0xd8, 0xff]) });
      expect((await post('')).status).toBe(200);
      expect((await post('?model=ferkit-resnet-s')).status).toBe(200);
      expect(seen).toEqual(['ferkit-lite', 'ferkit-resnet-s']);
    } finally {
      await s.close();
    }
  });
});

describe('backpressure and time limits (fake analyzers)', () => {
  test('workers=1, queue=2: at most one analysis at a time, 3 answered, the rest 503 E_BUSY with Retry-After', async () => {
    const fake = fakeAnalyzers(300);
    const s = await startServer({ root: null, port: 0, warmUp: false, createAnalyzer: fake, workers: 1, queueLimit: 2, rateLimitPerMinute: 0 });
    try {
      const answers = await Promise.all(Array.from({ length: 8 }, () => fetch(`${s.url}v1/analyze`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: 'x' })));
      const statuses = answers.map((r) => r.status).sort();
      expect(statuses).toEqual([200, 200, 200, 503, 503, 503, 503, 503]);
      const busy = answers.find((r) => r.status === 503)!;
      expect(busy.headers.get('retry-after')).toBe('2');
      expect(await busy.json()).toMatchObject({ code: 'E_BUSY', detail: expect.stringMatching(/limits 1 and 2/) });
      expect(fake.maxConcurrent).toBe(1);
    } finally {
      await s.close();
    }
  });

  test('an analysis over the time limit → 503 E_TIMEOUT; the slot stays taken until it really ends', async () => {
    const fake = fakeAnalyzers(1500);
    const s = await startServer({ root: null, port: 0, warmUp: false, createAnalyzer: fake, workers: 1, queueLimit: 0, analyzeTimeoutMs: 200, rateLimitPerMinute: 0 });
    try {
      const t0 = Date.now();
      const res = await fetch(`${s.url}v1/analyze`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: 'x' });
      expect(res.status).toBe(503);
      expect(Date.now() - t0).toBeLessThan(1200);
      expect((await res.json()).code).toBe('E_TIMEOUT');
      const meanwhile = await fetch(`${s.url}v1/analyze`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: 'x' });
      expect((await meanwhile.json()).code).toBe('E_BUSY');
    } finally {
      await s.close();
    }
  });
});
