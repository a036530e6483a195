/**
 * Building blocks of the CLI's data safety (issue 13): CSV formula escaping (round trip), the pixel budget, guarded
 * folder creation, output ownership, output planning (realpath, overlaps, --force) and exit codes of a closed stdout.
 */
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { parse } from 'csv-parse/sync';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { EXPRESSIONS } from '../../src/core/labels.js';
import type { ImageAnalysis } from '../../src/core/types.js';
import { inputFacts, planOutputs } from '../../src/cli/outputs.js';
import { createProgress } from '../../src/cli/progress.js';
import { EXIT, UsageError } from '../../src/cli/usage.js';
import { PixelBudget } from '../../src/node/decode.js';
import { cleanStaleTempFiles, csvText, ensureDir, escapeCsvCell, outputOwner, unescapeCsvCell } from '../../src/node/output.js';
import { captureIo } from '../helpers/cli.js';
import { run } from '../../src/cli/main.js';
import type { AnalyzerFactory } from '../../src/cli/analyze.js';
import { OK_QUALITY } from '../helpers/faces.js';

let dir: string;
const p = (...parts: string[]): string => join(dir, ...parts);
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'ferkit-safety-')); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

describe('CSV for spreadsheets', () => {
  test('formula-leading cells get a quote; numbers do not; the round trip restores every value', () => {
    const hostile = ['=1+1', '+SUM(A1)', '-2+3', '@cmd', '\tx', '\rx', "'quoted", 'plain', '=HYPERLINK("http://x","y")', 'a,b "c"\nd', ''];
    expect(hostile.map(escapeCsvCell).slice(0, 8)).toEqual(["'=1+1", "'+SUM(A1)", "'-2+3", "'@cmd", "'\tx", "'\rx", "''quoted", 'plain']);
    const text = csvText([['file', 'valence_score'], ...hostile.map((h, i) => [h, -0.123456 * i])]);
    const rows = parse(text) as string[][];
    expect(rows.slice(1).map((r) => unescapeCsvCell(r[0]!))).toEqual(hostile);
    expect(rows.slice(1).every((r) => !/^[=+\-@\t\r]/.test(r[0]!))).toBe(true);
    expect(rows[2]![1]).toBe('-0.1235'); // numbers rounded to 4 decimals, never quoted
    expect(parse(csvText([[0.123456789]], null))).toEqual([['0.123456789']]);
    expect(parse(csvText([[0.123456789]], 2))).toEqual([['0.12']]);
  });
});

describe('pixel budget', () => {
  test('concurrent holders never exceed the limit; an image larger than the budget runs alone; order is kept', async () => {
    const budget = new PixelBudget(100);
    let peak = 0;
    const order: number[] = [];
    const job = async (id: number, n: number): Promise<void> => {
      const release = await budget.acquire(n);
      order.push(id);
      peak = Math.max(peak, budget.used);
      await new Promise((r) => setTimeout(r, 5));
      release();
    };
    await Promise.all([job(1, 60), job(2, 60), job(3, 30), job(4, 250), job(5, 10)]);
    expect(peak).toBe(250); // the 250-pixel image, alone
    expect(order).toEqual([1, 2, 3, 4, 5]);
    expect(budget.used).toBe(0);
  });
});

describe('output paths', () => {
  test('ensureDir refuses /proc at once (no hang) and a file in the way', async () => {
    await expect(ensureDir('/proc/nope/x')).rejects.toMatchObject({ code: 'E_OUTPUT', message: /pseudo file system/ });
    await writeFile(p('file'), 'x');
    await expect(ensureDir(p('file', 'sub'))).rejects.toMatchObject({ code: 'E_OUTPUT', message: /is a file, not a folder/ });
    await ensureDir(p('a', 'b', 'c'));
  });

  test('outputOwner recognises ferkit outputs, and nothing else', async () => {
    const cases: [string, string | Buffer, string][] = [
      ['r.json', '[\n{"file":"a.jpg","ok":true}\n]\n', 'ferkit'], ['r.csv', 'file,face,x,y,width\n', 'ferkit'],
      ['t.csv', 'track_id,frame,time_ms,box\n', 'ferkit'], ['s.json', '{\n  "files": 3,\n', 'ferkit'], ['e.txt', '', 'empty'],
      ['mine.json', '{"name":"my data"}', 'foreign'], ['photo.jpg', await sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } }).jpeg().toBuffer(), 'foreign'],
      ['ann.jpg', await sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } }).withExif({ IFD0: { Software: 'ferkit annotate' } }).jpeg().toBuffer(), 'ferkit'],
    ];
    for (const [name, body] of cases) await writeFile(p(name), body);
    expect(await Promise.all(cases.map(([name]) => outputOwner(p(name))))).toEqual(cases.map(([, , want]) => want));
    expect(await outputOwner(p('none'))).toBe('absent');
    expect(await outputOwner('/dev/null')).toBe('special');
  });

  test('planOutputs: symlinked outputs resolve to the input they point at; inside an input file; same file twice', async () => {
    await mkdir(p('in'));
    await writeFile(p('in', 'x.jpg'), 'x');
    await symlink(p('in', 'x.jpg'), p('link.json'));
    const facts = await inputFacts(['in'], dir);
    const plan = (specs: Parameters<typeof planOutputs>[0]) => planOutputs(specs, facts, { cwd: dir, force: false, noLock: true });
    const factsFile = await inputFacts(['in/x.jpg'], dir);
    await expect(planOutputs([{ option: '--out', path: 'link.json', kind: 'file' }], factsFile, { cwd: dir, force: true, noLock: true }))
      .rejects.toThrow(/link\.json is the input .*x\.jpg; refusing to overwrite an input/);
    await expect(plan([{ option: '--annotate', path: 'in', kind: 'folder' }])).rejects.toBeInstanceOf(UsageError);
    await expect(plan([{ option: '--out', path: 'a.json', kind: 'file' }, { option: '--summary', path: './a.json', kind: 'file' }]))
      .rejects.toThrow(/write the same file/);
    await expect(plan([{ option: '--tracks', path: 'o/summary.json', kind: 'file' }, { option: '--summary', path: 'o', kind: 'folder', files: ['summary.json'] }]))
      .rejects.toThrow(/'--tracks' and '--summary' write the same file/);
    const ok = await plan([{ option: '--annotate', path: 'in/ann', kind: 'folder' }]);
    expect([...ok.exclude.values()]).toEqual(['the --annotate output folder']);
  });

  test('stale temp files of dead processes are removed, those of live ones kept', async () => {
    await mkdir(p('tmp'));
    await writeFile(p('tmp', '.r.json.ferkit-tmp-999999'), 'x');
    await writeFile(p('tmp', `.r.json.ferkit-tmp-${process.ppid}`), 'x');
    await writeFile(p('tmp', '.other'), 'x');
    expect(await cleanStaleTempFiles(p('tmp'))).toEqual([p('tmp', '.r.json.ferkit-tmp-999999')]);
  });
});

describe('exit codes and terminals', () => {
  const fake: AnalyzerFactory = async () => ({
    async analyze(path) {
      const probabilities = Object.fromEntries(EXPRESSIONS.map((e) => [e, 1 / 7])) as ImageAnalysis['faces'][number]['probabilities'];
      return { source: path, width: 10, height: 10, faces: [{ box: { x: 0, y: 0, width: 5, height: 5 }, score: 1, keypoints: {} as never, probabilities, label: 'happy', labelScore: 1 / 7, valence: 'positive', valenceScore: 0, quality: OK_QUALITY }], timingsMs: { decode: 0, detect: 0, classify: 0, total: 0 }, models: { detector: 'f', classifier: 'f' } };
    },
    async dispose() {},
  });

  test('a closed stdout (EPIPE) with --summary: the summary is still written and the exit code is 3', async () => {
    await mkdir(p('pics'));
    for (let i = 0; i < 6; i++) await writeFile(p('pics', `${i}.png`), await sharp({ create: { width: 10, height: 10, channels: 3, background: '#888' } }).png().toBuffer());
    const { io, finish } = captureIo(dir);
    const stdout = io.stdout as PassThrough;
    let writes = 0;
    const origWrite = stdout.write.bind(stdout);
    stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (++writes === 2) setImmediate(() => stdout.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })));
      return (origWrite as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof stdout.write;
    const r = finish(await run(['node', 'ferkit', 'analyze', p('pics'), '-j', '1', '--summary', p('s.json')], { io, createAnalyzer: fake, handleSignals: false }));
    expect(r.code).toBe(EXIT.OUTPUT_FAILED);
    expect(r.stderr).toMatch(/stdout was closed early \(EPIPE\).*the file outputs are complete/);
    expect(JSON.parse(await readFile(p('s.json'), 'utf8'))).toMatchObject({ files: 6, ok: 6 });
  });

  test('in a terminal, an open stdout line is ended before an error line', async () => {
    await writeFile(p('pics', 'bad.png'), 'not an image');
    const { io, finish } = captureIo(dir);
    const failing: AnalyzerFactory = async (o) => {
      const f = await fake(o);
      return { ...f, analyze: async (path) => { if (path.endsWith('bad.png')) { const { FerkitError } = await import('../../src/core/errors.js'); throw new FerkitError('E_DECODE', 'bad', path); } return f.analyze(path); } };
    };
    const merged: string[] = [];
    io.stdout.on('data', (c: Buffer) => merged.push(c.toString()));
    io.stderr.on('data', (c: Buffer) => merged.push(c.toString()));
    const r = finish(await run(['node', 'ferkit', 'analyze', p('pics'), '-j', '1', '-q'], { io: { ...io, stdoutIsTTY: true }, createAnalyzer: failing, handleSignals: false }));
    expect(r.code).toBe(EXIT.INPUT_FAILED);
    const text = merged.join('');
    expect(text).toMatch(/\}\nerror E_DECODE .*bad\.png: bad\n/);
    expect(JSON.parse(r.stdout)).toHaveLength(7); // still valid JSON
  });

  test('video progress counts frames, not files', () => {
    const out: string[] = [];
    let t = 0;
    const progress = createProgress({ stream: { write: (s: string) => out.push(s) } as never, isTTY: false, quiet: false, unit: 'frames', intervalMs: 1, now: () => (t += 1000) });
    progress.setTotal(30);
    progress.update(10, 0);
    expect(out.join('')).toMatch(/^ferkit: 10\/30 frames, [\d.]+ frames\/s/);
  });
});

describe('a file that disappears mid-run', () => {
  test('an image deleted between discovery and reading: an E_INPUT_READ line naming it, counted as failed, the batch goes on', async () => {
    // The real analyzer (crops only, real decoding); the hook deletes each "victim" file just before it is read, i.e.
    // after discovery listed it: exactly the window in which another process can remove it.
    const { createAnalyzer } = await import('../../src/node/index.js');
    await mkdir(p('vanish'));
    const crop = await sharp({ create: { width: 48, height: 48, channels: 3, background: '#777' } }).png().toBuffer();
    for (let i = 0; i < 12; i++) await writeFile(p('vanish', `${String(i).padStart(2, '0')}.png`), crop);
    const victims = new Set(['03.png', '08.png']);
    const deleting: AnalyzerFactory = async (o) => {
      const real = await createAnalyzer(o);
      return {
        analyze: async (path, opts) => {
          if (victims.has(path.split('/').pop()!)) await rm(path);
          return real.analyze(path, opts);
        },
        dispose: () => real.dispose(),
      };
    };
    const { io, finish } = captureIo(dir);
    const r = finish(await run(['node', 'ferkit', 'analyze', p('vanish'), '--cropped', '-j', '2', '--summary', p('vanish-summary.json'), '-q'],
      { io, createAnalyzer: deleting, handleSignals: false }));
    expect(r.code).toBe(EXIT.INPUT_FAILED);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('error '));
    expect(errors).toHaveLength(2);
    for (const v of victims) expect(errors.some((l) => new RegExp(`^error E_INPUT_READ .*${v.replace('.', '\\.')}: .*(no such file|disappeared|ENOENT)`, 'i').test(l))).toBe(true);
    const items = JSON.parse(r.stdout) as { file: string; ok: boolean; error?: { code: string } }[];
    expect(items).toHaveLength(12);
    expect(items.filter((i) => !i.ok).map((i) => [i.file.split('/').pop(), i.error?.code])).toEqual([['03.png', 'E_INPUT_READ'], ['08.png', 'E_INPUT_READ']]);
    expect(JSON.parse(await readFile(p('vanish-summary.json'), 'utf8'))).toMatchObject({ files: 12, ok: 10, failed: 2 });
  });
});
