/**
 * End to end with the real models: `ferkit analyze` over a folder that mixes good images in every awkward encoding
 * with broken files. Every good file must be in the output, every bad one named on stderr with its code.
 */
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { BatchItem, BatchOk } from '../../src/node/output.js';
import { runCli, type CliRun } from '../helpers/cli.js';

const demo = join(dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')), 'demo');
const root = resolve(import.meta.dirname, '../..');
let dir: string;
const p = (...parts: string[]): string => join(dir, ...parts);

const cli = (args: string[]): Promise<CliRun> => runCli(args, dir);

/** Good files: name → expected decoded size (after EXIF orientation). */
const GOOD: Record<string, [number, number]> = {
  'photo.jpg': [1920, 1280],
  'alpha.png': [640, 427],
  'deep16.png': [640, 427],
  'cmyk.jpg': [640, 427],
  'gray.png': [640, 427],
  'rotated.jpg': [427, 640], // stored 640x427 with EXIF orientation 6
};
/** Bad files: name → error code. */
const BAD: Record<string, string> = {
  'empty.jpg': 'E_INPUT_EMPTY',
  'notes.jpg': 'E_UNSUPPORTED_FORMAT',
  'truncated.jpg': 'E_DECODE',
  'bomb.png': 'E_TOO_MANY_PIXELS',
  'image.bmp': 'E_UNSUPPORTED_FORMAT',
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferkit-e2e-'));
  await mkdir(p('in'));
  const photo = join(demo, 'sample1.jpg');
  const small = sharp(photo).resize(640); // 640x427
  await copyFile(photo, p('in', 'photo.jpg'));
  await small.clone().ensureAlpha(0.6).png().toFile(p('in', 'alpha.png'));
  await small.clone().toColourspace('rgb16').png().toFile(p('in', 'deep16.png'));
  await small.clone().toColourspace('cmyk').jpeg().toFile(p('in', 'cmyk.jpg'));
  await small.clone().toColourspace('b-w').png().toFile(p('in', 'gray.png'));
  await small.clone().jpeg().withMetadata({ orientation: 6 }).toFile(p('in', 'rotated.jpg'));
  await writeFile(p('in', 'empty.jpg'), '');
  await writeFile(p('in', 'notes.jpg'), 'these are my notes, not a photo\n');
  const jpg = await readFile(photo);
  await writeFile(p('in', 'truncated.jpg'), jpg.subarray(0, Math.floor(jpg.length / 2)));
  const bomb = Buffer.from(await sharp({ create: { width: 1, height: 1, channels: 3, background: '#000' } }).png().toBuffer());
  bomb.writeUInt32BE(30000, 16);
  bomb.writeUInt32BE(30000, 20);
  bomb.writeUInt32BE(crc32(bomb.subarray(12, 29)), 29);
  await writeFile(p('in', 'bomb.png'), bomb);
  const bmp = Buffer.alloc(70);
  bmp.write('BM', 0, 'latin1');
  bmp.writeUInt32LE(70, 2);
  bmp.writeUInt32LE(54, 10);
  bmp.writeUInt32LE(40, 14);
  bmp.writeInt32LE(2, 18);
  bmp.writeInt32LE(2, 22);
  bmp.writeUInt16LE(1, 26);
  bmp.writeUInt16LE(24, 28);
  await writeFile(p('in', 'image.bmp'), bmp);
});
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

describe('ferkit analyze with the real models', () => {
  test('BAD INPUT: a mixed folder: exit 1, every bad file named with its code, every good file analysed, output complete', async () => {
    const outPath = p('out', 'results.json');
    const r = await cli(['analyze', '--out', outPath, '--summary', p('out', 'summary.json'), p('in')]);
    expect(r.code, r.stderr).toBe(1);
    for (const [name, code] of Object.entries(BAD)) expect(r.stderr).toContain(`error ${code} ${p('in', name)}: `);
    expect(r.stderr).toContain('30000x30000 = 900 MP exceeds the limit of 100 MP');
    expect(r.stderr).toMatch(/11 files .*: 6 ok, 5 failed/);

    const items = JSON.parse(await readFile(outPath, 'utf8')) as BatchItem[];
    expect(items.map((i) => i.file)).toEqual(Object.keys({ ...GOOD, ...BAD }).sort().map((n) => p('in', n)));
    for (const item of items) {
      const name = item.file.slice(p('in').length + 1);
      if (name in BAD) {
        expect(item, name).toMatchObject({ ok: false, error: { code: BAD[name] } });
      } else {
        expect(item.ok, name).toBe(true);
        expect([(item as BatchOk).width, (item as BatchOk).height], name).toEqual(GOOD[name]);
      }
    }
    const photo = items.find((i) => i.file.endsWith('photo.jpg')) as BatchOk;
    expect(photo.faces.length).toBeGreaterThanOrEqual(1);
    for (const f of photo.faces) expect(Object.values(f.probabilities).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect((await readdir(p('out'))).sort()).toEqual(['results.json', 'summary.json']);
    const summary = JSON.parse(await readFile(p('out', 'summary.json'), 'utf8')) as { failed: number; groundTruth: unknown };
    expect(summary.failed).toBe(5);
    expect(summary.groundTruth).toBeNull();
  });

  test('--cropped classifies each whole image as one face (FER2013-style 48x48 crops)', async () => {
    await mkdir(p('crops', 'happy'), { recursive: true });
    const face = (await sharp(join(demo, 'sample1.jpg')).metadata()).width;
    expect(face).toBe(1920);
    await sharp(join(demo, 'sample1.jpg')).extract({ left: 1460, top: 200, width: 240, height: 240 }).resize(48, 48).grayscale().png().toFile(p('crops', 'happy', 'a.png'));
    const r = await cli(['analyze', '--cropped', '--format', 'jsonl', p('crops')]);
    expect(r.code, r.stderr).toBe(0);
    const [item] = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as BatchOk);
    expect(item!.faces).toHaveLength(1);
    expect(item!.faces[0]!.box).toMatchObject({ x: 0, y: 0, width: 48, height: 48 });
    expect(r.stderr).toMatch(/ground truth from folder names: accuracy (0\.0|100\.0)% of 1 image/);
  });

  test('EXPECTED FAILURE: an annotation that cannot be written is reported, the analysis is kept, exit 3 (output failed)', async () => {
    // a folder sits where the annotated picture would be written (DIR/<path below the inputs' folder>)
    await mkdir(p('ann-blocked', 'photo.jpg'), { recursive: true });
    const r = await cli(['analyze', p('in', 'photo.jpg'), '--annotate', p('ann-blocked'), '-q']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/error E_OUTPUT .*photo\.jpg: .*photo\.jpg exists and is not a regular file; not overwritten/);
    const items = JSON.parse(r.stdout) as { ok: boolean; faces?: unknown[] }[];
    expect(items).toHaveLength(1);
    expect(items[0]!.ok).toBe(true);
    expect(items[0]!.faces!.length).toBeGreaterThan(0);
  });

  test('--max-pixels is applied to real photos', async () => {
    const r = await cli(['analyze', '-q', '--max-pixels', '1M', p('in', 'photo.jpg')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('1920x1280 = 2.5 MP exceeds the limit of 1 MP');
  });

  test('the installed bin: --help exits 0, a bad option exits 2', () => {
    const bin = join(root, 'bin', 'ferkit.js');
    if (!existsSync(join(root, 'dist', 'src', 'cli', 'main.js'))) {
      console.warn('skipped: dist/ is not built (npm test builds it first)');
      return;
    }
    const help = spawnSync(process.execPath, [bin, 'analyze', '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/Examples:/);
    const bad = spawnSync(process.execPath, [bin, 'analyze', '--labels', '8'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toBe("error: option '--labels <set>' argument '8' is invalid. Allowed choices are 7, 6, 5, 5b, valence.");
  });
});
