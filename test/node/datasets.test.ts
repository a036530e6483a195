/**
 * Dataset layouts (Kaggle folders, fer2013.csv, mapped folders of CK+ and JAFFE) and the evaluation loop, with a tiny
 * stand-in classifier so that the expected metrics are known exactly. The real model runs in test/cli/evaluate.test.ts.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ExpressionClassifier } from '../../src/core/classifier/expression.js';
import { EXPRESSIONS, toExpressionRecord } from '../../src/core/labels.js';
import {
  evaluateDataset, openDataset, parseLabelMap, parsePixels, type Dataset, type DatasetItem, type DatasetSample,
} from '../../src/node/datasets.js';

let dir: string;
const p = (...parts: string[]): string => join(dir, ...parts);

/** A 48×48 gray PNG whose every pixel is `value`. */
const png = (value: number): Promise<Buffer> =>
  sharp(Buffer.alloc(48 * 48, value), { raw: { width: 48, height: 48, channels: 1 } }).png().toBuffer();

async function images(folder: string, names: string[], value = 128): Promise<void> {
  await mkdir(folder, { recursive: true });
  for (const n of names) await writeFile(join(folder, n), await png(value));
}

/**
 * A stand-in classifier: predicts the expression whose index is `round(mean pixel / 32)` (clamped to 0–6) with
 * probability 0.7, the rest spread evenly. So a crop of value 32·i is classified as EXPRESSIONS[i].
 */
function meanClassifier(): ExpressionClassifier & { runs: number[] } {
  const runs: number[] = [];
  return {
    id: 'mean-stub', card: {} as ExpressionClassifier['card'], inputSize: 48, temperature: 1, runs,
    async classify(crops) {
      return (await this.logits(crops)).map((z) => toExpressionRecord(Array.from(z, Math.exp)));
    },
    // log-probabilities are logits whose softmax is the probabilities themselves
    async logits(crops) {
      runs.push(crops.length);
      return crops.map((c) => {
        const mean = c.reduce((a, b) => a + b, 0) / c.length;
        const k = Math.min(6, Math.max(0, Math.round(mean / 32)));
        return Float32Array.from(EXPRESSIONS.map((_, i) => Math.log(i === k ? 0.7 : 0.05)));
      });
    },
    async dispose() {},
  };
}

async function collect(ds: Dataset): Promise<DatasetItem[]> {
  const out: DatasetItem[] = [];
  for await (const it of ds.samples()) out.push(it);
  return out;
}

/** A FER2013-style CSV row: `emotion,"pixels",Usage` with every pixel `value`. */
const row = (emotion: number | string, value: number, usage: string): string =>
  `${emotion},"${new Array(48 * 48).fill(value).join(' ')}",${usage}`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferkit-datasets-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('label mappings', () => {
  test('--map pairs parse case-insensitively; drop means null', () => {
    expect(parseLabelMap('Anger=angry, sadness=SAD,contempt=drop')).toEqual({ anger: 'angry', sadness: 'sad', contempt: null });
  });
  test('BAD INPUT: a target that is not an expression is named', () => {
    expect(() => parseLabelMap('joy=glad')).toThrow(/target must be one of .* or drop, got "glad"/);
    expect(() => parseLabelMap('joy')).toThrow(/source=target/);
  });
});

describe('folder datasets', () => {
  test('Kaggle layout: class folders named like the expressions, sorted, each file labelled by its folder', async () => {
    await images(p('kaggle', 'happy'), ['b.png', 'a.png']);
    await images(p('kaggle', 'Sad'), ['c.png']);
    const ds = await openDataset(p('kaggle'));
    expect(ds.kind).toBe('folder');
    expect(ds.mapping).toEqual({ Sad: 'sad', happy: 'happy' });
    const items = (await collect(ds)) as DatasetSample[];
    expect(items.map((i) => [i.name.slice(dir.length + 1), i.label])).toEqual([
      [join('kaggle', 'Sad', 'c.png'), 'sad'], [join('kaggle', 'happy', 'a.png'), 'happy'], [join('kaggle', 'happy', 'b.png'), 'happy'],
    ]);
    expect(await ds.count()).toBe(3);
    const img = await items[0]!.load();
    expect([img.width, img.height]).toEqual([48, 48]);
  });

  test('a root with split folders needs --split; --split picks one', async () => {
    await images(p('splits', 'Training', 'angry'), ['x.png']);
    await images(p('splits', 'PublicTest', 'fear'), ['y.png', 'z.png']);
    await expect(openDataset(p('splits'))).rejects.toMatchObject({ code: 'E_OPTION', message: /holds splits \(PublicTest, Training\); choose one with --split/ });
    const ds = await openDataset(p('splits'), { split: 'PublicTest' });
    expect(ds.source).toBe(p('splits', 'PublicTest'));
    expect(await ds.count()).toBe(2);
    await expect(openDataset(p('splits'), { split: 'PrivateTest' })).rejects.toThrow(/--split PrivateTest: no such subfolder; subfolders are PublicTest, Training/);
  });

  test('BAD INPUT: class folders that are not expressions are listed with a --map hint', async () => {
    await images(p('ckplus', 'anger'), ['1.png', '2.png']);
    await images(p('ckplus', 'contempt'), ['3.png']);
    await images(p('ckplus', 'sadness'), ['4.png']);
    await expect(openDataset(p('ckplus'))).rejects.toMatchObject({
      code: 'E_OPTION', message: /'anger', 'contempt', 'sadness' are not FER2013 expressions .* --map anger=<expression\|drop>, or use --preset ck\+/,
    });
  });

  test('the ck+ preset maps anger → angry, sadness → sad and drops contempt; --map overrides it', async () => {
    const ds = await openDataset(p('ckplus'), { preset: 'ck+' });
    expect(ds.mapping).toEqual({ anger: 'angry', contempt: null, sadness: 'sad' });
    const labels = ((await collect(ds)) as DatasetSample[]).map((i) => [i.sourceLabel, i.label]);
    expect(labels).toEqual([['anger', 'angry'], ['anger', 'angry'], ['contempt', null], ['sadness', 'sad']]);
    const over = await openDataset(p('ckplus'), { preset: 'ck+', map: { contempt: 'disgust', joy: 'happy' } });
    expect(over.mapping.contempt).toBe('disgust');
    expect(over.unusedMapKeys).toEqual(['joy']);
  });

  test('the jaffe preset reads the expression code from flat JAFFE file names', async () => {
    await images(p('jaffe'), ['KA.AN1.39.tiff', 'KA.HA2.30.tiff', 'YM.NE1.49.tiff', 'README.png']);
    await expect(openDataset(p('jaffe'))).rejects.toThrow(/found 4 images and no subfolders; for flat JAFFE files use --preset jaffe/);
    const ds = await openDataset(p('jaffe'), { preset: 'jaffe' });
    const items = await collect(ds);
    expect(items.map((i) => (i.error ? i.error.code : [(i as DatasetSample).sourceLabel, (i as DatasetSample).label]))).toEqual([
      ['AN', 'angry'], ['HA', 'happy'], 'E_INPUT_READ', ['NE', 'neutral'],
    ]);
  });
});

describe('fer2013.csv datasets', () => {
  let csv: string;
  beforeAll(async () => {
    csv = p('fer2013.csv');
    await writeFile(csv, [
      'emotion,pixels,Usage',
      row(3, 96, 'Training'), // line 2
      row(3, 96, 'PublicTest'), // line 3
      row(0, 0, 'PublicTest'), // line 4
      '9,"1 2 3",PublicTest', // line 5: bad emotion
      row(6, 192, 'PrivateTest'), // line 6
      `4,"${new Array(2303).fill(7).join(' ')}",PublicTest`, // line 7: 2303 pixels
      row(4, 128, 'PublicTest'), // line 8
      '',
    ].join('\n'));
  });

  test('a CSV with a Usage column needs --usage', async () => {
    await expect(openDataset(csv)).rejects.toMatchObject({ code: 'E_OPTION', message: /choose one with --usage PublicTest\|PrivateTest\|Training/ });
    await expect(openDataset(csv, { split: 'PublicTest' })).rejects.toThrow(/--split is for dataset folders/);
  });

  test('--usage keeps the rows of one split, streamed in file order with their line numbers', async () => {
    const ds = await openDataset(csv, { usage: 'PublicTest' });
    const items = await collect(ds);
    expect(items.map((i) => [i.name.slice(csv.length + 1), i.error?.code ?? (i as DatasetSample).label])).toEqual([
      ['line 3', 'happy'], ['line 4', 'angry'], ['line 5', 'E_DECODE'], ['line 7', 'sad'], ['line 8', 'sad'],
    ]);
    expect(items[2]!.error!.message).toMatch(/line 5: emotion is "9", expected a FER2013 class index 0–6/);
    await expect((items[3] as DatasetSample).load()).rejects.toThrow(/line 7: pixels has 2303 values, expected 2304 \(48x48\)/);
    expect(await ds.count()).toBe(5);
    expect(await (await openDataset(csv, { usage: 'PrivateTest' })).count()).toBe(1);
    expect(await (await openDataset(csv, { usage: 'all' })).count()).toBe(7);
    const img = await (items[0] as DatasetSample).load();
    expect(img).toMatchObject({ width: 48, height: 48, channels: 1 });
    expect(img.data[100]).toBe(96);
  });

  test('BAD INPUT: a CSV without emotion/pixels columns is refused before any work', async () => {
    await writeFile(p('other.csv'), 'a,b\n1,2\n');
    await expect(openDataset(p('other.csv'))).rejects.toThrow(/header row naming the columns emotion,pixels\[,Usage\]/);
  });

  test('parsePixels rejects values outside 0–255 and non-square counts', () => {
    expect(() => parsePixels('1 2 300 4', 'x')).toThrow(/pixel 3 is "300", expected a whole number from 0 to 255/);
    expect(() => parsePixels('1 2 3', 'x')).toThrow(/3 values/);
    expect(parsePixels(' 1 2\t3 4 ', 'x')).toMatchObject({ width: 2, height: 2, channels: 1 });
  });
});

describe('evaluateDataset', () => {
  test('scores every sample in batches, skips unreadable ones, and counts mapped and excluded labels', async () => {
    // values 96 → happy (index 3), 0 → angry (0), 128 → sad (4), 192 → neutral (6)
    await images(p('eval', 'happy'), ['h1.png', 'h2.png', 'h3.png'], 96);
    await images(p('eval', 'happy'), ['h4.png'], 128); // wrong: predicted sad
    await images(p('eval', 'anger'), ['a1.png'], 0);
    await images(p('eval', 'surprise'), ['s1.png'], 160); // predicted surprise (5)
    await images(p('eval', 'contempt'), ['c1.png'], 0);
    await writeFile(p('eval', 'happy', 'broken.png'), (await png(10)).subarray(0, 40)); // truncated PNG
    const ds = await openDataset(p('eval'), { preset: 'ck+' });
    const clf = meanClassifier();
    const skipped: string[] = [];
    const r = await evaluateDataset({ classifier: clf, detector: null }, ds, { batchSize: 2, concurrency: 3, onSkip: (s) => skipped.push(s.name) });
    expect(r.counts).toMatchObject({ items: 8, scored: 6, skipped: 1, droppedByMapping: { contempt: 1 }, excludedByLabelSet: {} });
    expect(skipped).toEqual([p('eval', 'happy', 'broken.png')]);
    expect(r.skipped[0]).toMatchObject({ code: 'E_DECODE' });
    expect(clf.runs.every((n) => n <= 2)).toBe(true);
    expect(clf.runs.reduce((a, b) => a + b, 0)).toBe(6);
    expect(r.metrics.accuracy).toBeCloseTo(5 / 6, 12);
    const m = r.metrics.confusion;
    expect(m[3]![3]).toBe(3);
    expect(m[3]![4]).toBe(1);
    expect(m[0]![0]).toBe(1);
    expect(m[5]![5]).toBe(1);
    // every prediction has confidence 0.7: one bin, accuracy 5/6 → ECE = |5/6 − 0.7|
    expect(r.metrics.ece).toBeCloseTo(5 / 6 - 0.7, 6); // float32 logits
    expect(r.complete).toBe(true);

    const five = await evaluateDataset({ classifier: meanClassifier(), detector: null }, ds, { labels: '5' });
    expect(five.counts.excludedByLabelSet).toEqual({ surprise: 1 });
    expect(five.metrics.n).toBe(5);
  });

  test('detect: true without a detector is a programmer error', async () => {
    const ds = await openDataset(p('kaggle'));
    await expect(evaluateDataset({ classifier: meanClassifier(), detector: null }, ds, { detect: true })).rejects.toMatchObject({ code: 'E_MODE' });
  });

  test('a fatal classifier error ends the evaluation', async () => {
    const clf = meanClassifier();
    clf.logits = async () => { throw Object.assign(new Error('runtime broke'), { code: 'X' }); };
    const ds = await openDataset(p('kaggle'));
    await expect(evaluateDataset({ classifier: clf, detector: null }, ds)).rejects.toThrow('runtime broke');
  });
});
