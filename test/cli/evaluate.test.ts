/**
 * `ferkit evaluate` end to end with the bundled model on real FER2013 PublicTest faces (20 per class, copied into a
 * temporary Kaggle-layout folder and written into a fer2013.csv), plus the calibration and top-k metrics on hand examples.
 * The FER2013 tests are skipped, with a message, when ../shared is absent.
 */
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLValidator } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { EXPRESSIONS, LABEL_SETS, argmax, projectProbabilities, type Expression, type LabelSetId } from '../../src/core/labels.js';
import {
  EvaluationAccumulator, calibrationBins, expectedCalibrationError, inTopK, reportFromConfusion, topKAccuracy,
} from '../../src/core/metrics.js';
import { DEFAULT_CLASSIFIER, createAnalyzer, decodeImage, type ExpressionProbabilities } from '../../src/node/index.js';
import type { EvaluationReport } from '../../src/node/report.js';
import { FER2013_DIR, HAS_FER2013, NO_SHARED } from '../helpers/shared.js';
import { PassThrough } from 'node:stream';
import { run } from '../../src/cli/main.js';
import { captureIo, runCli, type CliRun } from '../helpers/cli.js';

const PER_CLASS = 20;
let dir: string;
const p = (...parts: string[]): string => join(dir, ...parts);

const cli = (...args: string[]): Promise<CliRun> => runCli(['evaluate', ...args], dir);
const json = (r: CliRun): EvaluationReport => JSON.parse(r.stdout) as EvaluationReport;

describe('calibration and ranking metrics', () => {
  test('ECE is 0 when every bin\'s accuracy equals its confidence', () => {
    const acc = new EvaluationAccumulator(['a', 'b', 'c']);
    // confidence 0.8: 8 of 10 right; confidence 0.5: 2 of 4 right
    for (let i = 0; i < 10; i++) acc.add(i < 8 ? 0 : 1, [0.8, 0.1, 0.1]);
    for (let i = 0; i < 4; i++) acc.add(i < 2 ? 2 : 0, [0.2, 0.3, 0.5]);
    const m = acc.result();
    expect(m.ece).toBeCloseTo(0, 12);
    expect(m.accuracy).toBeCloseTo(10 / 14, 12);
    expect(m.calibration).toHaveLength(15);
    const used = m.calibration.filter((b) => b.count > 0);
    expect(used.map((b) => b.count)).toEqual([4, 10]);
    for (const [b, v] of [[used[0]!, 0.5], [used[1]!, 0.8]] as const) {
      expect(b.confidence).toBeCloseTo(v, 12);
      expect(b.accuracy).toBeCloseTo(v, 12);
    }
  });

  test('ECE on a hand example: Σ n_b/n · |acc_b − conf_b|', () => {
    // bin (14/15, 1]: confidences 0.95, 0.95, one right → gap 0.45, weight 2/5
    // bin (8/15, 9/15]: confidences 0.55 ×3, two right → gap |2/3 − 0.55|, weight 3/5
    const bins = calibrationBins([0.95, 0.95, 0.55, 0.55, 0.55], [true, false, true, true, false]);
    expect(expectedCalibrationError(bins)).toBeCloseTo((2 / 5) * 0.45 + (3 / 5) * (2 / 3 - 0.55), 12);
    expect(bins[14]).toMatchObject({ count: 2, accuracy: 0.5 });
    expect(bins[8]!.confidence).toBeCloseTo(0.55, 12);
    expect(expectedCalibrationError(calibrationBins([], []))).toBe(0);
    expect(calibrationBins([0, 1], [false, true])[0]!.count).toBe(1); // confidence 0 goes to the first bin
  });

  test('top-2 accuracy; ties rank like argmax (the earlier class first)', () => {
    expect(topKAccuracy([[0.5, 0.3, 0.2], [0.5, 0.3, 0.2], [0.5, 0.3, 0.2]], [0, 1, 2], 2)).toBeCloseTo(2 / 3, 12);
    expect(inTopK([0.4, 0.4, 0.2], 1, 1)).toBe(false);
    expect(inTopK([0.4, 0.4, 0.2], 0, 1)).toBe(true);
    expect(inTopK([0.3, 0.3, 0.3, 0.1], 2, 2)).toBe(false);
  });

  test('macro-F1 averages over the classes present in truth or predictions (sklearn\'s average="macro")', () => {
    // class c never occurs: macro-F1 is the mean of a's and b's F1 only
    const r = reportFromConfusion([[2, 0, 0], [1, 1, 0], [0, 0, 0]], ['a', 'b', 'c']);
    expect(r.macroF1).toBeCloseTo((0.8 + 2 / 3) / 2, 12);
    expect(reportFromConfusion([[0, 0], [0, 0]], ['a', 'b']).macroF1).toBe(0);
  });

  test('samples without a prediction (no face) count as errors in support, recall and accuracy', () => {
    const r = reportFromConfusion([[3, 1], [0, 4]], ['a', 'b'], [2, 0]);
    expect(r.n).toBe(10);
    expect(r.accuracy).toBeCloseTo(0.7, 12);
    expect(r.perClass[0]).toMatchObject({ support: 6, recall: 0.5, precision: 1 });
    const acc = new EvaluationAccumulator(['a', 'b']);
    acc.add(0, null);
    acc.add(0, [0.9, 0.1]);
    expect(acc.result()).toMatchObject({ n: 2, accuracy: 0.5, top2Accuracy: 0.5, unpredicted: [1, 0] });
  });
});

describe.skipIf(!HAS_FER2013)('ferkit evaluate on real FER2013 faces', () => {
  /** Every copied image, its true class, and the 7-class probabilities from analyze(…, { cropped: true }). */
  const direct: { file: string; truth: Expression; probs: ExpressionProbabilities }[] = [];
  let csvLines: string[];
  let badLine: number;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferkit-evaluate-'));
    const analyzer = await createAnalyzer({ cropsOnly: true });
    const rows: string[] = [];
    try {
      for (const e of EXPRESSIONS) {
        await mkdir(p('kaggle', e), { recursive: true });
        const files = (await readdir(join(FER2013_DIR, 'PublicTest', e))).sort().slice(0, PER_CLASS);
        for (const f of files) {
          const file = p('kaggle', e, f);
          await copyFile(join(FER2013_DIR, 'PublicTest', e, f), file);
          const res = await analyzer.analyze(file, { cropped: true });
          direct.push({ file, truth: e, probs: res.faces[0]!.probabilities });
          const img = await decodeImage(file);
          const gray = Array.from({ length: img.width * img.height }, (_, i) =>
            Math.round(0.299 * img.data[3 * i]! + 0.587 * img.data[3 * i + 1]! + 0.114 * img.data[3 * i + 2]!));
          rows.push(`${EXPRESSIONS.indexOf(e)},"${gray.join(' ')}",PublicTest`);
        }
      }
    } finally {
      await analyzer.dispose();
    }
    // Other splits that --usage must leave out, and one malformed row (2303 pixels).
    const extra = rows.slice(0, 10).map((r) => r.replace(/PublicTest$/, 'Training'));
    const priv = rows.slice(20, 25).map((r) => r.replace(/PublicTest$/, 'PrivateTest'));
    const bad = `3,"${new Array(2303).fill(100).join(' ')}",PublicTest`;
    csvLines = ['emotion,pixels,Usage', ...extra, ...rows.slice(0, 70), bad, ...priv, ...rows.slice(70)];
    badLine = csvLines.indexOf(bad) + 1;
    await writeFile(p('fer2013.csv'), `${csvLines.join('\r\n')}\r\n`);
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Confusion matrix and accuracy from the direct per-image analyses, in label set `set`. */
  function expected(set: LabelSetId) {
    const ls = LABEL_SETS[set];
    const confusion = ls.labels.map(() => new Array<number>(ls.labels.length).fill(0));
    let correct = 0;
    let top2 = 0;
    for (const d of direct) {
      const t = ls.map[d.truth];
      if (t === null) continue;
      const q = projectProbabilities(d.probs, set);
      const pred = argmax(q).label;
      confusion[ls.labels.indexOf(t)]![ls.labels.indexOf(pred)]!++;
      if (pred === t) correct++;
      if (inTopK(ls.labels.map((l) => q[l]!), ls.labels.indexOf(t), 2)) top2++;
    }
    const n = confusion.flat().reduce((a, b) => a + b, 0);
    return { confusion, accuracy: correct / n, top2: top2 / n, n };
  }

  test('a Kaggle-layout folder gives the accuracy and confusion matrix of classifying each image with createAnalyzer', async () => {
    const r = await cli(p('kaggle'), '--json', '-q');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const rep = json(r);
    const want = expected('7');
    expect(rep.n).toBe(7 * PER_CLASS);
    expect(rep.confusion).toEqual(want.confusion);
    expect(rep.accuracy).toBeCloseTo(want.accuracy, 12);
    expect(rep.top2Accuracy).toBeCloseTo(want.top2, 12);
    expect(rep.perClass.map((c) => c.support)).toEqual(EXPRESSIONS.map(() => PER_CLASS));
    expect(rep.model).toMatchObject({ id: DEFAULT_CLASSIFIER, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(rep.dataset).toMatchObject({ kind: 'folder', source: p('kaggle') });
    expect(rep.ece).toBeGreaterThanOrEqual(0);
    expect(rep.calibration.reduce((a, b) => a + b.count, 0)).toBe(rep.n);
    expect(rep.timing.imagesPerSecond).toBeGreaterThan(0);
  });

  test('a model whose card carries a temperature: probabilities are calibrated, accuracy is unchanged, the raw ECE is shown beside it', async () => {
    const root = join(process.cwd(), 'models');
    const card = JSON.parse(await readFile(join(root, 'ferkit-lite.card.json'), 'utf8')) as Record<string, unknown>;
    await copyFile(join(root, 'ferkit-lite.onnx'), p('calibrated.onnx'));
    await writeFile(p('calibrated.card.json'), JSON.stringify({ ...card, calibration: {
      method: 'temperature-scaling', temperature: 2, fittedOn: 'test', n: 1, heldOut: true, nll: { before: 1, after: 1 }, ece: { before: 0, after: 0 },
    } }));
    await copyFile(join(root, 'ferkit-lite.onnx'), p('raw.onnx'));
    await writeFile(p('raw.card.json'), JSON.stringify({ ...card, calibration: undefined }));
    const plain = json(await cli(p('kaggle'), '--json', '-q', '--model', p('raw.onnx')));
    const calibrated = json(await cli(p('kaggle'), '--json', '-q', '--model', p('calibrated.onnx')));
    expect(plain.rawCalibration).toBeNull();
    expect(calibrated.accuracy).toBe(plain.accuracy);
    expect(calibrated.confusion).toEqual(plain.confusion);
    expect(calibrated.rawCalibration!.temperature).toBe(2);
    expect(calibrated.rawCalibration!.ece).toBeCloseTo(plain.ece, 6);
    expect(calibrated.ece).not.toBeCloseTo(plain.ece, 3);
    const table = await cli(p('kaggle'), '-q', '--model', p('calibrated.onnx'));
    expect(table.stdout).toMatch(/ECE \d\.\d{3} \(15 bins\), raw softmax \d\.\d{3} before temperature 2\.000/);
  });

  test('fer2013.csv with the same pixels gives identical metrics; the malformed row is named by line and skipped (exit 1)', async () => {
    const folder = json(await cli(p('kaggle'), '--json', '-q'));
    const r = await cli(p('fer2013.csv'), '--usage', 'PublicTest', '--json', '-q');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error E_DECODE ${p('fer2013.csv')} line ${badLine}: pixels has 2303 values`);
    const rep = json(r);
    expect(rep.dataset).toMatchObject({ kind: 'csv', usage: 'PublicTest' });
    expect(rep.counts).toMatchObject({ items: 7 * PER_CLASS + 1, scored: 7 * PER_CLASS, skipped: 1 });
    expect(rep.confusion).toEqual(folder.confusion);
    expect(rep.perClass).toEqual(folder.perClass);
    expect(rep.accuracy).toBe(folder.accuracy);
    expect(rep.top2Accuracy).toBe(folder.top2Accuracy);
    expect(rep.macroF1).toBe(folder.macroF1);
    expect(rep.ece).toBeCloseTo(folder.ece, 5);
  });

  test('--usage keeps only that split\'s rows', async () => {
    const training = json(await cli(p('fer2013.csv'), '--usage', 'Training', '--json', '-q'));
    expect(training.n).toBe(10);
    expect(training.perClass[0]!.support).toBe(10); // the first 10 rows are angry faces
    const priv = json(await cli(p('fer2013.csv'), '--usage', 'PrivateTest', '--json', '-q'));
    expect(priv.n).toBe(5);
    expect(priv.perClass[1]!.support).toBe(5); // rows 20–24: disgust
    const usageless = await cli(p('fer2013.csv'), '--json', '-q');
    expect(usageless.code).toBe(2);
    expect(usageless.stderr).toMatch(/choose one with --usage PublicTest\|PrivateTest\|Training/);
  });

  test('--labels 6 merges disgust into angry in both truth and prediction', async () => {
    const r = await cli(p('kaggle'), '--labels', '6', '--json', '-q');
    expect(r.code).toBe(0);
    const rep = json(r);
    const want = expected('6');
    expect(rep.labels).toEqual(['angry', 'fear', 'happy', 'sad', 'surprise', 'neutral']);
    expect(rep.perClass[0]).toMatchObject({ label: 'angry', support: 2 * PER_CLASS });
    expect(rep.confusion).toEqual(want.confusion);
    expect(rep.accuracy).toBeCloseTo(want.accuracy, 12);
    // 5b drops fear: its images are excluded and counted
    const b = json(await cli(p('kaggle'), '--labels', '5b', '--json', '-q'));
    expect(b.n).toBe(6 * PER_CLASS);
    expect(b.counts.excludedByLabelSet).toEqual({ fear: PER_CLASS });
  });

  test('a mapped CK+-style folder: anger → angry, sadness → sad, contempt dropped and counted', async () => {
    for (const [from, to] of [['anger', 'angry'], ['contempt', 'disgust'], ['sadness', 'sad']] as const) {
      await mkdir(p('ckplus', from), { recursive: true });
      for (const f of (await readdir(p('kaggle', to))).slice(0, 5)) await copyFile(p('kaggle', to, f), p('ckplus', from, f));
    }
    const refused = await cli(p('ckplus'), '-q');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/'anger', 'contempt', 'sadness' are not FER2013 expressions/);
    const rep = json(await cli(p('ckplus'), '--preset', 'ck+', '--json', '-q'));
    expect(rep.dataset.mapping).toEqual({ anger: 'angry', contempt: null, sadness: 'sad' });
    expect(rep.counts.droppedByMapping).toEqual({ contempt: 5 });
    expect(rep.n).toBe(10);
    expect(rep.perClass.find((c) => c.label === 'angry')!.support).toBe(5);
    expect(rep.perClass.find((c) => c.label === 'sad')!.support).toBe(5);
    const mapped = json(await cli(p('ckplus'), '--map', 'anger=angry,sadness=sad,contempt=disgust', '--json', '-q'));
    expect(mapped.n).toBe(15);
  });

  test('--report writes report.md, report.html, confusion.svg, reliability.svg and metrics.json; the SVGs are XML with the labels', async () => {
    const r = await cli(p('kaggle'), '--report', p('report'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/accuracy \d+\.\d%/);
    expect(r.stdout).toContain('true \\ predicted');
    expect((await readdir(p('report'))).sort()).toEqual(['confusion.svg', 'metrics.json', 'reliability.svg', 'report.html', 'report.md']);
    const metrics = JSON.parse(await readFile(p('report', 'metrics.json'), 'utf8')) as EvaluationReport;
    expect(metrics.n).toBe(7 * PER_CLASS);
    const svg = await readFile(p('report', 'confusion.svg'), 'utf8');
    expect(XMLValidator.validate(svg)).toBe(true);
    for (const e of EXPRESSIONS) expect(svg).toContain(`>${e}</text>`);
    expect(svg).toContain('>true</text>');
    expect(svg).toContain('>predicted</text>');
    expect(svg).toContain(`${DEFAULT_CLASSIFIER} on ${dir.split('/').pop()}/kaggle`);
    expect(svg).toContain(`accuracy ${(metrics.accuracy * 100).toFixed(1)}%`);
    const rel = await readFile(p('report', 'reliability.svg'), 'utf8');
    expect(XMLValidator.validate(rel)).toBe(true);
    expect(rel).toContain(`ECE ${metrics.ece.toFixed(3)}`);
    const html = await readFile(p('report', 'report.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(await readFile(p('report', 'report.md'), 'utf8')).toContain('![Confusion matrix](confusion.svg)');
    expect((await readdir(p('report'))).some((f) => f.includes('.tmp-'))).toBe(false);
  });

  test('BAD INPUT: a corrupt image is named on stderr, skipped and counted; exit code 1', async () => {
    await mkdir(p('withbad', 'happy'), { recursive: true });
    for (const f of (await readdir(p('kaggle', 'happy'))).slice(0, 3)) await copyFile(p('kaggle', 'happy', f), p('withbad', 'happy', f));
    const good = await readFile(p('kaggle', 'happy', (await readdir(p('kaggle', 'happy')))[0]!));
    await writeFile(p('withbad', 'happy', 'broken.jpg'), good.subarray(0, Math.floor(good.length / 2)));
    const r = await cli(p('withbad'), '--json', '-q');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`error E_DECODE ${p('withbad', 'happy', 'broken.jpg').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: (truncated|corrupt) JPEG`));
    const rep = json(r);
    expect(rep.n).toBe(3);
    expect(rep.counts.skipped).toBe(1);
    expect(rep.skipped[0]).toMatchObject({ name: p('withbad', 'happy', 'broken.jpg'), code: 'E_DECODE' });
  });

  test('BAD CALL: usage errors exit 2 with one line', async () => {
    await mkdir(p('splitroot', 'PublicTest', 'happy'), { recursive: true });
    await mkdir(p('splitroot', 'Training', 'happy'), { recursive: true });
    const noSplit = await cli(p('splitroot'));
    expect(noSplit.code).toBe(2);
    expect(noSplit.stderr).toMatch(/holds splits \(PublicTest, Training\); choose one with --split/);
    expect((await cli(p('missing'))).code).toBe(2);
    const badMap = await cli(p('kaggle'), '--map', 'joy');
    expect(badMap.code).toBe(2);
    expect(badMap.stderr).toMatch(/option '--map <pairs>' argument 'joy' is invalid/);
    expect((await cli(p('kaggle'), '--usage', 'PublicTest')).stderr).toMatch(/--usage is for fer2013.csv files/);
  });
});

if (!HAS_FER2013) test.skip(NO_SHARED, () => undefined);

describe('ferkit evaluate --report: the output rules of analyze (generated dataset, real model)', () => {
  let root: string;
  const q = (...parts: string[]): string => join(root, ...parts);
  const ev = (...args: string[]): Promise<CliRun> => runCli(['evaluate', ...args], root);
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'ferkit-evalrep-'));
    const sharp = (await import('sharp')).default;
    for (const [label, k] of [['happy', 0], ['sad', 1]] as const) {
      await mkdir(q('ds', label), { recursive: true });
      for (let i = 0; i < 3; i++) {
        const px = Buffer.alloc(48 * 48, 0);
        for (let j = 0; j < px.length; j++) px[j] = (j * (k + 1) + i * 37) % 256;
        await writeFile(q('ds', label, `${i}.png`), await sharp(px, { raw: { width: 48, height: 48, channels: 1 } }).png().toBuffer());
      }
    }
  });
  afterAll(async () => { await rm(root, { recursive: true, force: true }); });

  test('the dataset folder or a folder inside it is refused (exit 2) before any work; nothing is created', async () => {
    for (const target of ['ds', join('ds', 'rep'), join('ds', 'happy', 'rep')]) {
      const r = await ev('ds', '--report', target, '-q');
      expect(r.code, target).toBe(2);
      expect(r.stderr).toMatch(/option '--report': .* (is|is inside) the dataset folder .*; the report would mix with the images/);
    }
    expect((await readdir(q('ds'))).sort()).toEqual(['happy', 'sad']);
    expect((await readdir(q('ds', 'happy'))).sort()).toEqual(['0.png', '1.png', '2.png']);
  });

  test('a report file ferkit did not write is kept unless --force; a re-run replaces its own report without --force', async () => {
    await mkdir(q('rep'), { recursive: true });
    await writeFile(q('rep', 'report.md'), 'my own notes\n');
    const refused = await ev('ds', '--report', 'rep', '-q');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/rep\/report\.md exists and was not written by ferkit; refusing to overwrite it \(pass --force/);
    expect(await readFile(q('rep', 'report.md'), 'utf8')).toBe('my own notes\n');
    expect((await ev('ds', '--report', 'rep', '--force', '-q')).code).toBe(0);
    expect(await readFile(q('rep', 'report.md'), 'utf8')).toMatch(/^# ferkit evaluation: /);
    const again = await ev('ds', '--report', 'rep', '-q'); // every file is ferkit's own now
    expect(again.code).toBe(0);
    expect((await readdir(q('rep'))).sort()).toEqual(['confusion.svg', 'metrics.json', 'reliability.svg', 'report.html', 'report.md']);
    expect((await readdir(root)).filter((f) => f.includes('ferkit-lock'))).toEqual([]); // lock released
  });

  test('a second run with the same --report fails at once with exit 3 naming the lock', async () => {
    const lockfile = (await import('proper-lockfile')).default;
    const release = await lockfile.lock(q('rep'), { realpath: false, lockfilePath: q('.rep.ferkit-lock') });
    try {
      const t0 = performance.now();
      const r = await ev('ds', '--report', 'rep', '-q');
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/error: E_OUTPUT .*rep: is being written by another ferkit run \(lock .*\.rep\.ferkit-lock\)/);
      expect(performance.now() - t0).toBeLessThan(15_000);
    } finally {
      await release();
    }
  });

  test('a closed stdout (EPIPE) does not skip the report: it is written whole and the exit code is 3', async () => {
    await rm(q('rep2'), { recursive: true, force: true });
    const { io, finish } = captureIo(root);
    const stdout = io.stdout as PassThrough;
    stdout.write = ((_chunk: unknown, ...rest: unknown[]) => {
      const cb = rest.find((x) => typeof x === 'function') as ((err?: Error) => void) | undefined;
      const err = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
      setImmediate(() => { stdout.emit('error', err); cb?.(err); });
      return false;
    }) as typeof stdout.write;
    const r = finish(await run(['node', 'ferkit', 'evaluate', 'ds', '--report', 'rep2', '-q'], { io, handleSignals: false }));
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/stdout was closed early \(EPIPE\); the table was not delivered \(the report in rep2\/ is complete\)/);
    expect((await readdir(q('rep2'))).sort()).toEqual(['confusion.svg', 'metrics.json', 'reliability.svg', 'report.html', 'report.md']);
    expect(JSON.parse(await readFile(q('rep2', 'metrics.json'), 'utf8'))).toMatchObject({ n: 6 });
  });
});
