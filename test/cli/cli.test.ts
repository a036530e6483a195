/**
 * `ferkit analyze` behaviour with a fake analyzer (real decoding, fixed predictions): option errors, exit codes,
 * output formats, summary and ground truth from folder names. The real-model run is in e2e.test.ts.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { parse } from 'csv-parse/sync';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FerkitError } from '../../src/core/errors.js';
import { EXPRESSIONS, type Expression } from '../../src/core/labels.js';
import type { ImageAnalysis } from '../../src/core/types.js';
import { AnnotationNamer, annotationPath, type AnalyzerFactory, type CliAnalyzerOptions } from '../../src/cli/analyze.js';
import { orderedPool } from '../../src/cli/pool.js';
import { createProgress } from '../../src/cli/progress.js';
import { decodeImage } from '../../src/node/decode.js';
import type { BatchItem } from '../../src/node/output.js';
import type { RunSummary } from '../../src/cli/summary.js';
import { runCli, type CliRun } from '../helpers/cli.js';
import { OK_QUALITY } from '../helpers/faces.js';

let dir: string;
const p = (...parts: string[]): string => join(dir, ...parts);

/** A fake analyzer: decodes for real (so bad files fail for real), predicts `predict` for one centred face; files named *noface* have none. */
function fakeAnalyzer(predict: Expression = 'happy', delays = false) {
  const created: CliAnalyzerOptions[] = [];
  let disposed = 0;
  const factory: AnalyzerFactory = async (options) => {
    created.push(options);
    return {
      async analyze(path, call = {}): Promise<ImageAnalysis> {
        const img = await decodeImage(path, { name: call.name, maxPixels: options.maxPixels });
        if (delays) await new Promise((r) => setTimeout(r, Math.random() * 20));
        const probabilities = Object.fromEntries(EXPRESSIONS.map((e) => [e, e === predict ? 0.7 : 0.05])) as ImageAnalysis['faces'][number]['probabilities'];
        const c = { x: img.width / 2, y: img.height / 2 };
        const faces = path.includes('noface') ? [] : [{
          box: { x: img.width / 4, y: img.height / 4, width: img.width / 2, height: img.height / 2 }, score: 0.9,
          keypoints: { rightEye: c, leftEye: c, nose: c, mouth: c, rightEar: c, leftEar: c },
          probabilities, label: predict, labelScore: 0.7, valence: predict === 'happy' ? 'positive' as const : 'negative' as const, valenceScore: predict === 'happy' ? 0.7 : -0.7, quality: OK_QUALITY,
        }];
        return { source: call.name ?? path, width: img.width, height: img.height, faces, timingsMs: { decode: 0, detect: 0, classify: 0, total: 0 }, models: { detector: 'fake', classifier: 'fake' } };
      },
      async dispose() { disposed++; },
    };
  };
  return { factory, created, disposed: () => disposed };
}

const cli = (args: string[], factory: AnalyzerFactory = fakeAnalyzer().factory): Promise<CliRun> =>
  runCli(args, dir, { createAnalyzer: factory });

const png = (w: number, h: number, colour = '#888'): Promise<Buffer> =>
  sharp({ create: { width: w, height: h, channels: 3, background: colour } }).png().toBuffer();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferkit-cli-'));
  // Kaggle FER2013 layout: PublicTest/<expression>/<n>.png (48x48 grayscale crops)
  for (const [label, n] of [['happy', 3], ['sad', 2], ['angry', 1]] as const) {
    await mkdir(p('PublicTest', label), { recursive: true });
    for (let i = 0; i < n; i++) await writeFile(p('PublicTest', label, `${label === 'angry' ? 'noface' : 'img'}${i}.png`), await png(48, 48));
  }
  await mkdir(p('misc'));
  await writeFile(p('misc', 'ok.png'), await png(64, 40));
  await writeFile(p('misc', 'notes.jpg'), 'not an image\n');
});
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

describe('usage', () => {
  test('--help teaches: examples, output shape, exit codes', async () => {
    const r = await cli(['analyze', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: ferkit analyze \[options\] \[inputs\.\.\.\]/);
    expect(r.stdout).toMatch(/Examples:\n\s+\$ ferkit analyze /);
    expect(r.stdout).toMatch(/--cropped/);
    expect(r.stdout).toMatch(/Exit codes: 0 every file analysed, 1 at least one file failed, 2 bad command line/);
  });

  test('no command prints help to stderr and exits 2', async () => {
    const r = await cli([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Usage: ferkit/);
  });

  test.each([
    [['--format', 'xml'], /option '-f, --format <format>' argument 'xml' is invalid\. Allowed choices are json, jsonl, csv/],
    [['--labels', '9'], /option '--labels <set>' argument '9' is invalid/],
    [['--detector', 'side'], /option '--detector <model>' argument 'side' is invalid/],
    [['--min-score', '2'], /option '--min-score <p>' argument '2' is invalid\. expected a number from 0 to 1/],
    [['--min-face', '-3'], /option '--min-face <px>' argument '-3' is invalid\. expected a whole number/],
    [['--concurrency', '0'], /option '-j, --concurrency <n>' argument '0' is invalid/],
    [['--max-pixels', 'lots'], /option '--max-pixels <n>' argument 'lots' is invalid\. expected a pixel count/],
    [['--bogus'], /unknown option '--bogus'/],
  ])('BAD INPUT: %j exits 2 with one line naming the option, before any analysis', async (args, message) => {
    const fake = fakeAnalyzer();
    const r = await cli(['analyze', ...args, p('misc', 'ok.png')], fake.factory);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(fake.created).toHaveLength(0);
    expect(r.stdout).toBe('');
  });

  test('options reach the analyzer; --max-pixels takes megapixels; unset options are left to the analyzer', async () => {
    const fake = fakeAnalyzer();
    const r = await cli(['analyze', '--detector', 'front', '--min-score', '0.7', '--min-face', '30', '--model', 'm.onnx', '--labels', '5',
      '--max-pixels', '2M', '--cropped', '-q', p('misc', 'ok.png')], fake.factory);
    expect(r.code).toBe(0);
    const { pixelBudget, ...created } = fake.created[0]!;
    expect(created).toEqual({ detector: { model: 'front', minScore: 0.7, minFacePx: 30 }, classifier: { model: 'm.onnx' }, labels: '5', maxPixels: 2_000_000, cropsOnly: true });
    expect(pixelBudget?.limit).toBe(100_000_000); // max(--max-pixels, 100M), shared with annotation
    const fake2 = fakeAnalyzer();
    await cli(['analyze', '-q', '--max-bytes', '2M', '--pixel-budget', '300M', p('misc', 'ok.png')], fake2.factory);
    const { pixelBudget: budget2, ...created2 } = fake2.created[0]!;
    expect(created2).toEqual({ detector: { model: 'auto' }, labels: '7', maxPixels: 100_000_000, maxBytes: 2 * 1024 * 1024, cropsOnly: false });
    expect(budget2?.limit).toBe(300_000_000);
    expect(fake2.disposed()).toBe(1);
  });
});

describe('a batch', () => {
  test('results on stdout as a JSON array, in input order; summary on stderr; exit 0', async () => {
    const fake = fakeAnalyzer('happy', true);
    const r = await cli(['analyze', '-j', '3', p('PublicTest'), p('misc', 'ok.png')], fake.factory);
    expect(r.code).toBe(0);
    const items = JSON.parse(r.stdout) as BatchItem[];
    expect(items.map((i) => i.file.slice(dir.length + 1))).toEqual([
      'PublicTest/angry/noface0.png', 'PublicTest/happy/img0.png', 'PublicTest/happy/img1.png', 'PublicTest/happy/img2.png',
      'PublicTest/sad/img0.png', 'PublicTest/sad/img1.png', 'misc/ok.png',
    ]);
    expect(items.at(-1)).toMatchObject({ ok: true, width: 64, height: 40 });
    expect(r.stderr).toMatch(/ferkit analyze: 7 files in .* images\/s\): 7 ok, 0 failed, 6 faces, 1 image without a face/);
    expect(r.stderr).toMatch(/expressions \(label set 7\): happy 6/);
    expect(r.stderr).not.toMatch(/ground truth/); // misc/ok.png is not in an expression folder
    expect(fake.disposed()).toBe(1);
  });

  test('ground truth from FER2013 folder names: accuracy and confusion matrix on stderr and in --summary', async () => {
    const summaryPath = p('out', 'summary.json');
    const r = await cli(['analyze', '--cropped', '--summary', summaryPath, p('PublicTest')], fakeAnalyzer('happy').factory);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/ground truth from folder names: accuracy 50\.0% of 6 images \(1 without a face counted as wrong\)/);
    expect(r.stderr).toMatch(/confusion matrix \(rows: folder label, columns: predicted\):\n\s+angry\s+disgust\s+fear\s+happy\s+sad\s+surprise\s+neutral\s+no face\n/);
    expect(r.stderr).toMatch(/\n\s+sad\s+0\s+0\s+0\s+2\s+0\s+0\s+0\s+0\n/);
    const s = JSON.parse(await readFile(summaryPath, 'utf8')) as RunSummary;
    expect(s).toMatchObject({ files: 6, ok: 6, failed: 0, faces: 5, imagesWithoutFace: 1 });
    expect(s.expressions).toEqual({ angry: 0, disgust: 0, fear: 0, happy: 5, sad: 0, surprise: 0, neutral: 0 });
    const g = s.groundTruth!;
    expect(g.accuracy).toBe(0.5);
    expect(g.accuracyWithFace).toBe(0.6);
    expect(g.confusion[3]![3]).toBe(3); // happy -> happy
    expect(g.confusion[4]![3]).toBe(2); // sad -> happy
    expect(g.noFaceByLabel[0]).toBe(1); // angry, no face
    expect(await readdir(p('out'))).toEqual(['summary.json']);
  });

  test('ground truth in a merged label set: folder names are mapped (6: disgust -> angry)', async () => {
    await mkdir(p('Merged', 'disgust'), { recursive: true });
    await writeFile(p('Merged', 'disgust', 'a.png'), await png(48, 48));
    const summaryPath = p('out', 'merged.json');
    const r = await cli(['analyze', '-q', '--labels', '6', '--summary', summaryPath, p('Merged')], fakeAnalyzer('disgust').factory);
    expect(r.code).toBe(0);
    const g = (JSON.parse(await readFile(summaryPath, 'utf8')) as RunSummary).groundTruth!;
    expect(g.labels[0]).toBe('angry');
    expect(g.accuracy).toBe(1);
  });

  test('BAD INPUT: a failed file is listed on stderr with its code as it happens; exit 1; CSV output complete, no temp file', async () => {
    const outPath = p('out', 'faces.csv');
    const r = await cli(['analyze', '--out', outPath, p('misc'), p('missing.png')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`error E_UNSUPPORTED_FORMAT ${p('misc', 'notes.jpg')}: not an image (starts with text: "not an image")`);
    expect(r.stderr).toContain(`error E_INPUT_READ ${p('missing.png')}: cannot read: no such file or folder`);
    expect(r.stderr).toMatch(/3 files .* 1 ok, 2 failed/);
    expect(r.stderr).toMatch(/failed: E_UNSUPPORTED_FORMAT 1, E_INPUT_READ 1/);
    const rows = parse(await readFile(outPath, 'utf8'), { columns: true }) as Record<string, string>[];
    expect(rows.map((row) => [row.file!.slice(dir.length + 1), row.label, row.error_code])).toEqual([
      ['misc/notes.jpg', '', 'E_UNSUPPORTED_FORMAT'], ['misc/ok.png', 'happy', ''], ['missing.png', '', 'E_INPUT_READ'],
    ]);
    expect((await readdir(p('out'))).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  test('jsonl to stdout, and --format wins over the --out extension', async () => {
    const r = await cli(['analyze', '-q', '--format', 'jsonl', p('misc', 'ok.png'), p('misc', 'ok.png')]);
    expect(r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as BatchItem).ok)).toEqual([true, true]);
    const outPath = p('out', 'x.json');
    await cli(['analyze', '-q', '--format', 'csv', '--out', outPath, p('misc', 'ok.png')]);
    expect(await readFile(outPath, 'utf8')).toMatch(/^file,face,x,y/);
  });

  test('--annotate mirrors input paths below their common folder (absolute inputs too), and says where the pictures went', async () => {
    const r = await cli(['analyze', '--annotate', p('ann'), p('PublicTest', 'happy', 'img0.png'), p('PublicTest', 'sad')]);
    expect(r.code).toBe(0);
    const meta = await sharp(p('ann', 'happy', 'img0.png')).metadata();
    expect(meta.width).toBeGreaterThanOrEqual(480); // 48x48 crops are enlarged so labels are readable
    expect((await readdir(p('ann', 'sad'))).sort()).toEqual(['img0.png', 'img1.png']);
    expect(r.stderr).toMatch(new RegExp(`pictures: 3 in ${p('ann').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  });

  test('no input: a short usage with one example on stderr, exit 2 (no sample photo from a dev dependency)', async () => {
    const r = await cli(['analyze']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^usage: ferkit analyze .*\nexample: ferkit analyze photo\.jpg --annotate out\//);
  });

  test('EXPECTED FAILURE: a model that cannot load ends the run with exit 1 and leaves no output file', async () => {
    const outPath = p('out2', 'r.json');
    const r = await cli(['analyze', '--out', outPath, p('misc')], async () => {
      throw new FerkitError('E_MODEL_LOAD', 'cannot read the classifier model: ENOENT', 'm.onnx');
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('error: E_MODEL_LOAD m.onnx: cannot read the classifier model: ENOENT\n');
    expect(await readdir(p('out2'))).toEqual([]);
  });
});

describe('building blocks', () => {
  test('orderedPool keeps input order and never runs more than `concurrency` at once', async () => {
    let running = 0;
    let peak = 0;
    async function* source() { for (let i = 0; i < 40; i++) yield i; }
    const out: number[] = [];
    await orderedPool(source(), async (i) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, (i * 7) % 5));
      running--;
      return i * 2;
    }, async (r) => { out.push(r); }, { concurrency: 3 });
    expect(out).toEqual(Array.from({ length: 40 }, (_, i) => i * 2));
    expect(peak).toBe(3);
  });

  test('without a terminal, progress is a plain line every interval', () => {
    let t = 0;
    const lines: string[] = [];
    const stream = new PassThrough();
    stream.on('data', (c: Buffer) => lines.push(c.toString()));
    const progress = createProgress({ stream, isTTY: false, quiet: false, intervalMs: 5000, now: () => t });
    progress.setTotal(100);
    t = 1000; progress.update(10, 0);
    t = 5000; progress.update(50, 2);
    t = 6000; progress.update(60, 2);
    stream.end();
    expect(lines).toEqual(['ferkit: 50/100 files, 2 failed, 10.0 images/s, 5.0 s, about 5.0 s left\n']);
  });

  test('annotation names: relative to the inputs\' base, extension kept, clashes get -2, -3 (case-insensitive)', () => {
    expect(annotationPath('ann', 'a/b.jpg', '/w', '/w')).toBe('ann/a/b.jpg');
    expect(annotationPath('ann', '/data/x/c.webp', '/data', '/w')).toBe('ann/x/c.webp.jpg');
    expect(annotationPath('ann', '/elsewhere/d.PNG', '/elsewhere', '/w')).toBe('ann/d.PNG');
    const namer = new AnnotationNamer('ann', '/w', '/w');
    expect(['x.webp', 'x.webp.jpg', 'X.WEBP.JPG', 'y.jpg'].map((f) => namer.name(f))).toEqual(['ann/x.webp.jpg', 'ann/x.webp-2.jpg', 'ann/X.WEBP-3.JPG', 'ann/y.jpg']);
  });

});
