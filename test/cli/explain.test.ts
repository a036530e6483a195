import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { runCli } from '../helpers/cli.js';

const SAMPLES = join(process.cwd(), 'node_modules', '@vladmandic', 'face-api', 'demo');
let dir: string;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'ferkit-explain-')); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

test('ferkit analyze --explain DIR writes one heatmap PNG per face, named after the image and the face number', async () => {
  const out = join(dir, 'ex');
  const r = await runCli(['analyze', '--model', 'ferkit-lite', '--explain', out, '-f', 'json', join(SAMPLES, 'sample2.jpg')], process.cwd());
  expect(r.code, r.stderr).toBe(0);
  const faces = (JSON.parse(r.stdout) as { faces: unknown[] }[])[0]!.faces.length;
  expect(faces).toBeGreaterThan(0);
  const files = (await readdir(out)).sort();
  expect(files).toEqual(Array.from({ length: faces }, (_, i) => `sample2.face${i + 1}.explain.png`));
  const meta = await sharp(join(out, files[0]!)).metadata();
  expect(meta.format).toBe('png');
  expect(meta.width).toBeGreaterThan(2 * 48);
  expect(r.stderr).toMatch(/explanations \(one heatmap per face\)/);
});

test('--explain with an analyzer that exposes no classifier is a usage error (exit 2), nothing written', async () => {
  const out = join(dir, 'none');
  const r = await runCli(['analyze', '--explain', out, join(SAMPLES, 'sample2.jpg')], process.cwd(), {
    createAnalyzer: async () => ({ analyze: async () => { throw new Error('not called'); }, dispose: async () => undefined }),
  });
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/--explain needs the analyzer's classifier/);
});
