/**
 * Contract test from the OpenAPI document: one good request per documented operation (every operation must be
 * covered), each answer checked against the response schema the document gives for its status and content type
 * (JSON Schema 2020-12, as OpenAPI 3.1 uses), plus the problem+json schema for error answers.
 */
import { createRequire } from 'node:module';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startServer, type RunningServer } from '../../src/server/app.js';
import type { VideoJobRunner } from '../../src/server/video-jobs.js';
import { batch, fakeAnalyzers, makeRoot } from './helpers.js';

// Ajv is Fastify's own validator (a dependency of fastify), loaded from there.
const fromFastify = createRequire(createRequire(import.meta.url).resolve('fastify'));
type AjvLike = { addSchema(s: object, key: string): void; compile(s: object): ((d: unknown) => boolean) & { errors?: unknown } };
const Ajv2020 = (fromFastify('ajv/dist/2020') as { default: new (o: object) => AjvLike }).default;
const addFormats = (fromFastify('ajv-formats') as { default: (a: AjvLike) => void }).default;

type Op = { responses: Record<string, { content?: Record<string, { schema: object }> }> };
let s: RunningServer;
let doc: { paths: Record<string, Record<string, Op>>; components: { schemas: Record<string, object> } };
let ajv: AjvLike;

const quickRunner: VideoJobRunner = async (_input, outDir, _o, hooks) => {
  hooks.onStart(1);
  hooks.onFrame(1);
  const { writeFile } = await import('node:fs/promises');
  for (const f of ['frames.jsonl', 'tracks.csv', 'summary.json']) await writeFile(join(outDir, f), f === 'summary.json' ? '{}' : 'x\n');
  return 'done';
};

beforeAll(async () => {
  s = await startServer({ root: makeRoot(), port: 0, db: join(mkdtempSync(join(tmpdir(), 'ferkit-contract-')), 'c.db'), warmUp: false, createAnalyzer: fakeAnalyzers(), videoRunner: quickRunner, rateLimitPerMinute: 0 });
  doc = await (await fetch(`${s.url}openapi.json`)).json();
  ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  for (const [name, schema] of Object.entries(doc.components.schemas)) ajv.addSchema(schema, `#/components/schemas/${name}`);
});
afterAll(async () => { await s.close(); });

/** Checks `res` against the documented schema of (path, method, status); returns the parsed body. */
async function conforms(path: string, method: string, res: Response): Promise<unknown> {
  const op = doc.paths[path]?.[method];
  expect(op, `${method} ${path} is documented`).toBeDefined();
  const documented = op!.responses[String(res.status)];
  expect(documented, `${method.toUpperCase()} ${path} → ${res.status} is documented`).toBeDefined();
  const type = (res.headers.get('content-type') ?? '').split(';')[0]!;
  if (res.status === 204) return null;
  const media = documented!.content?.[type];
  expect(media, `${method} ${path} ${res.status} documents ${type}`).toBeDefined();
  if (!type.endsWith('json')) return res.text();
  const body = await res.json();
  const validate = ajv.compile(media!.schema);
  expect(validate(body) ? null : validate.errors, `${method} ${path} ${res.status} body`).toBeNull();
  return body;
}

test('every documented operation, good input: the answer matches its documented schema', async () => {
  const covered = new Set<string>();
  const call = async (path: string, method: string, url: string, init: RequestInit = {}): Promise<unknown> => {
    covered.add(`${method} ${path}`);
    return conforms(path, method, await fetch(`${s.url}${url}`, { method: method.toUpperCase(), ...init }));
  };
  const json = (b: unknown): RequestInit => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(b) });

  await call('/healthz', 'get', 'healthz');
  await call('/readyz', 'get', 'readyz');
  await call('/v1/analyze', 'post', 'v1/analyze?labels=valence', { headers: { 'content-type': 'image/jpeg' }, body: 'x' });
  const session = await call('/v1/sessions', 'post', 'v1/sessions', json({ name: 'contract' })) as { id: string; code: string };
  await call('/v1/sessions', 'get', 'v1/sessions?limit=5');
  await call('/v1/join/{code}', 'get', `v1/join/${session.code}`);
  await call('/v1/sessions/{id}/aggregates', 'post', `v1/sessions/${session.id}/aggregates`, json(batch('device-contract', 1000, 10)));
  await call('/v1/sessions/{id}', 'get', `v1/sessions/${session.id}`);
  const ac = new AbortController();
  covered.add('get /v1/sessions/{id}/events');
  const ev = await fetch(`${s.url}v1/sessions/${session.id}/events`, { signal: ac.signal });
  expect([ev.status, ev.headers.get('content-type')]).toEqual([200, 'text/event-stream; charset=utf-8']);
  expect(doc.paths['/v1/sessions/{id}/events']!.get!.responses['200']!.content!['text/event-stream']).toBeDefined();
  ac.abort();
  await call('/v1/sessions/{id}/export.json', 'get', `v1/sessions/${session.id}/export.json`);
  expect(await call('/v1/sessions/{id}/export.csv', 'get', `v1/sessions/${session.id}/export.csv`)).toMatch(/^time,at_ms,device/);
  await call('/v1/sessions/{id}/end', 'post', `v1/sessions/${session.id}/end`);
  await call('/v1/sessions/{id}', 'delete', `v1/sessions/${session.id}`);

  const job = await call('/v1/videos', 'post', 'v1/videos?fps=2', { headers: { 'content-type': 'video/mp4' }, body: 'video bytes' }) as { id: string };
  let status = '';
  for (let i = 0; i < 50 && status !== 'done'; i++) {
    status = ((await call('/v1/videos/{id}', 'get', `v1/videos/${job.id}`)) as { status: string }).status;
    if (status !== 'done') await new Promise((r) => setTimeout(r, 50));
  }
  expect(status).toBe('done');
  await call('/v1/videos/{id}/summary.json', 'get', `v1/videos/${job.id}/summary.json`);
  await call('/v1/videos/{id}/tracks.csv', 'get', `v1/videos/${job.id}/tracks.csv`);
  expect(await call('/v1/videos/{id}/frames.jsonl', 'get', `v1/videos/${job.id}/frames.jsonl`)).toBe('x\n');

  const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`));
  expect(documented.filter((o) => !covered.has(o))).toEqual([]);
});

test('error answers match the documented Problem schema', async () => {
  await conforms('/v1/analyze', 'post', await fetch(`${s.url}v1/analyze?minScore=2`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: 'x' }));
  await conforms('/v1/sessions', 'post', await fetch(`${s.url}v1/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' }));
  await conforms('/v1/sessions/{id}', 'get', await fetch(`${s.url}v1/sessions/00000000-0000-0000-0000-000000000000`));
  await conforms('/v1/videos/{id}', 'get', await fetch(`${s.url}v1/videos/nope`));
});
