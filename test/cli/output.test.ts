import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FerkitError } from '../../src/core/errors.js';
import { EXPRESSIONS, type Expression } from '../../src/core/labels.js';
import type { FaceAnalysis, ImageAnalysis } from '../../src/core/types.js';
import { OK_QUALITY } from '../helpers/faces.js';
import {
  createResultWriter, failureItem, okItem, openAtomicFile, streamSink, writeFileAtomic, type BatchItem,
} from '../../src/node/output.js';

let dir: string;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'ferkit-output-')); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

function face(label: Expression, p: number, x = 10): FaceAnalysis {
  const rest = (1 - p) / 6;
  const probabilities = Object.fromEntries(EXPRESSIONS.map((e) => [e, e === label ? p : rest])) as FaceAnalysis['probabilities'];
  const pt = { x: x + 5, y: 20 };
  return {
    box: { x, y: 12.5, width: 40, height: 41 }, score: 0.93,
    keypoints: { rightEye: pt, leftEye: pt, nose: pt, mouth: pt, rightEar: pt, leftEar: pt },
    probabilities, label, labelScore: p, valence: label === 'happy' ? 'positive' : 'negative', valenceScore: label === 'happy' ? p : -p, quality: OK_QUALITY,
  };
}
function analysis(faces: FaceAnalysis[]): ImageAnalysis {
  return { source: 'x', width: 100, height: 80, faces, timingsMs: { decode: 1, detect: 2, classify: 3, total: 6 }, models: { detector: 'd', classifier: 'c' } };
}
const items: BatchItem[] = [
  okItem('a.jpg', analysis([face('happy', 0.8), face('sad', 0.5, 60)])),
  okItem('empty.jpg', analysis([])),
  failureItem('bad, "quoted".jpg', new FerkitError('E_DECODE', 'truncated JPEG: the data ends early', 'bad, "quoted".jpg')),
];

async function writeAll(format: 'json' | 'jsonl' | 'csv', list: BatchItem[], labels?: '7' | '5b' | 'valence'): Promise<string> {
  const path = join(dir, `out-${format}-${list.length}-${labels ?? 7}.${format}`);
  const writer = createResultWriter(format, await openAtomicFile(path, { bufferBytes: 16 }), { labels });
  for (const item of list) await writer.write(item);
  await writer.end();
  return readFile(path, 'utf8');
}

describe('atomic files', () => {
  test('nothing appears at the final path before commit; the earlier file stays intact; no temp file after', async () => {
    const path = join(dir, 'atomic/res.json');
    await mkdir(join(dir, 'atomic'));
    await writeFile(path, 'old');
    const sink = await openAtomicFile(path, { bufferBytes: 1 });
    await sink.write('new ');
    await sink.write('content');
    expect(await readFile(path, 'utf8')).toBe('old');
    expect((await readdir(join(dir, 'atomic'))).sort()).toEqual([`.res.json.ferkit-tmp-${process.pid}`, 'res.json']);
    await sink.commit();
    expect(await readFile(path, 'utf8')).toBe('new content');
    expect(await readdir(join(dir, 'atomic'))).toEqual(['res.json']);
  });

  test('abort removes the temp file and leaves no output', async () => {
    const path = join(dir, 'aborted/res.csv');
    const sink = await openAtomicFile(path);
    await sink.write('half a row,');
    await sink.abort();
    await sink.abort(); // twice is fine
    expect(await readdir(join(dir, 'aborted'))).toEqual([]);
  });

  test('BAD INPUT: an output path that is a folder is E_OUTPUT before any work', async () => {
    await expect(openAtomicFile(dir)).rejects.toMatchObject({ code: 'E_OUTPUT', message: /output path is a folder/ });
  });

  test('writeFileAtomic writes bytes and creates the folder', async () => {
    const path = join(dir, 'deep/er/x.bin');
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    expect([...(await readFile(path))]).toEqual([1, 2, 3]);
    expect(await readdir(join(dir, 'deep/er'))).toEqual(['x.bin']);
  });
});

describe('result writers', () => {
  test('json: a valid array for 0, 1 and 3 items; failures carry {code, message} without the file prefix', async () => {
    expect(JSON.parse(await writeAll('json', []))).toEqual([]);
    expect(JSON.parse(await writeAll('json', items.slice(0, 1)))).toHaveLength(1);
    const parsed = JSON.parse(await writeAll('json', items)) as BatchItem[];
    expect(parsed).toEqual(JSON.parse(JSON.stringify(items)));
    expect(parsed[2]).toEqual({ file: 'bad, "quoted".jpg', ok: false, error: { code: 'E_DECODE', message: 'truncated JPEG: the data ends early' } });
    expect(parsed[0]).not.toHaveProperty('source');
  });

  test('jsonl: one parseable object per line', async () => {
    const lines = (await writeAll('jsonl', items)).trimEnd().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as BatchItem).file)).toEqual(['a.jpg', 'empty.jpg', 'bad, "quoted".jpg']);
  });

  test('csv: one row per face (numbered from 1, as on the pictures), one empty row for no face, one error row; 4 decimals', async () => {
    const rows = parse(await writeAll('csv', items), { columns: true }) as Record<string, string>[];
    expect(Object.keys(rows[0]!)).toEqual(['file', 'face', 'x', 'y', 'width', 'height', 'detection_score', 'label', 'label_score', 'valence',
      'valence_score', 'quality', 'quality_reasons', ...EXPRESSIONS.map((e) => `p_${e}`), 'error_code', 'error_message']);
    expect(rows).toHaveLength(4);
    expect(rows[0]).toMatchObject({ file: 'a.jpg', face: '1', x: '10', y: '12.5', width: '40', label: 'happy', label_score: '0.8', p_sad: '0.0333',
      valence_score: '0.8', quality: 'ok', quality_reasons: '' });
    expect(rows[1]).toMatchObject({ file: 'a.jpg', face: '2', x: '60', label: 'sad' });
    expect(rows[2]).toMatchObject({ file: 'empty.jpg', face: '', label: '', p_happy: '', error_code: '' });
    expect(rows[3]).toMatchObject({ file: 'bad, "quoted".jpg', face: '', error_code: 'E_DECODE', error_message: 'truncated JPEG: the data ends early' });
  });

  test('csv with another label set: its columns, projected labels; header alone when empty', async () => {
    const rows = parse(await writeAll('csv', items.slice(0, 1), 'valence'), { columns: true }) as Record<string, string>[];
    expect(Object.keys(rows[0]!).filter((k) => k.startsWith('p_'))).toEqual(['p_positive', 'p_neutral', 'p_negative']);
    expect(rows[0]!.label).toBe('positive');
    expect(Number(rows[0]!.label_score)).toBeCloseTo(0.8 + (1 - 0.8) / 6, 4);
    expect(rows[0]!.label_score).toBe('0.8333'); // rounded to 4 decimals by default
    expect((await writeAll('csv', [], '5b')).trim().split(',')).toContain('p_surprise');
  });

  test('a stream sink (stdout) gets the same bytes', async () => {
    const stream = new PassThrough();
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    const writer = createResultWriter('json', streamSink(stream));
    for (const item of items) await writer.write(item);
    await writer.end();
    expect(JSON.parse(Buffer.concat(chunks).toString('utf8'))).toHaveLength(3);
  });
});
