/**
 * The hostile-input suite (issue 13): generates (never commits) bad inputs and dangerous command lines, runs them
 * through the real CLI (`node bin/ferkit.js`, built) and the library, and asserts the outcome of each case: a clear
 * error code, the batch going on, outputs intact, no hang.
 *
 * Table mode: `FERKIT_HOSTILE_BIN=/path/to/other/bin/ferkit.js` runs the CLI cases against another build (e.g. an
 * older commit) without asserting; `FERKIT_HOSTILE_TABLE=out.json` writes every case's outcome (both modes).
 */
import { spawn, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, deflateSync } from 'node:zlib';
import lockfile from 'proper-lockfile';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = process.env.FERKIT_HOSTILE_BIN ?? join(ROOT, 'bin', 'ferkit.js');
const TABLE_MODE = process.env.FERKIT_HOSTILE_BIN !== undefined;
const built = existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'));
const hasFfmpeg = (() => { try { execFileSync('ffmpeg', ['-version'], { stdio: 'ignore' }); return true; } catch { return false; } })();
if (!hasFfmpeg) console.warn('skipped: the hostile video cases need ffmpeg and ffprobe on the PATH (Debian/Ubuntu: apt-get install ffmpeg)');
const SAMPLE = join(ROOT, 'node_modules', '@vladmandic', 'face-api', 'demo', 'sample1.jpg');

let dir: string;
const p = (...parts: string[]): string => join(dir, ...parts);

interface Run { code: number | null; signal: string | null; stdout: string; stderr: string; ms: number; timedOut: boolean }

/** Runs the CLI; `kill` sends a signal after `killAfterMs`; `timeoutMs` kills a hang (reported as `timedOut`). */
function ferkit(args: string[], opts: { cwd?: string; timeoutMs?: number; shell?: string; kill?: { signal: NodeJS.Signals; afterMs: number } } = {}): Promise<Run> {
  const t0 = performance.now();
  return new Promise((resolveRun) => {
    const child = opts.shell
      ? spawn('bash', ['-c', opts.shell], { cwd: opts.cwd ?? dir, env: { ...process.env, FERKIT: `node ${BIN}` } })
      : spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? dir });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, opts.timeoutMs ?? 60_000);
    const killer = opts.kill ? setTimeout(() => child.kill(opts.kill!.signal), opts.kill.afterMs) : undefined;
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (killer) clearTimeout(killer);
      resolveRun({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), ms: performance.now() - t0, timedOut });
    });
  });
}

const outcome = (r: Run): string => (r.timedOut ? 'HANG (killed after timeout)' : `exit ${r.code ?? r.signal}`);

/** A PNG whose header states `w × h` pixels, with almost no data (a decompression bomb as far as the header goes). */
function pngHeaderOnly(w: number, h: number): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td) >>> 0);
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4); ihdr[8] = 8; ihdr[9] = 2;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(64))), chunk('IEND', Buffer.alloc(0))]);
}

/** One case: what was done, the outcome seen, the outcome expected. */
interface CaseResult { case: string; outcome: string; expected: string; ok: boolean }
const results: CaseResult[] = [];
function record(name: string, seen: string, expected: string): void {
  results.push({ case: name, outcome: seen, expected, ok: seen === expected });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferkit-hostile-'));
});
afterAll(async () => {
  if (process.env.FERKIT_HOSTILE_TABLE) await writeFile(process.env.FERKIT_HOSTILE_TABLE, `${JSON.stringify({ bin: BIN, cases: results }, null, 2)}\n`);
  await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!built || !existsSync(SAMPLE))('hostile inputs through the CLI', () => {
  test('a folder of hostile images: every file gets its own outcome, the batch goes on, nothing hangs', async () => {
    const photo = await readFile(SAMPLE);
    const small = await sharp(photo).resize(320).jpeg().toBuffer();
    const png = await sharp(photo).resize(200).png().toBuffer();
    const files: [string, Buffer | string, string][] = [];
    // Truncations at many cut points.
    for (const frac of [0.02, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 0.97, 0.995]) {
      files.push([`trunc-jpg-${frac}.jpg`, small.subarray(0, Math.floor(small.length * frac)), 'E_DECODE']);
    }
    for (const frac of [0.05, 0.3, 0.5, 0.8, 0.99]) files.push([`trunc-png-${frac}.png`, png.subarray(0, Math.floor(png.length * frac)), 'E_DECODE']);
    // Magic-byte lies.
    files.push(['text.jpg', 'hello, I am text\n', 'E_UNSUPPORTED_FORMAT']);
    files.push(['png-named.jpg', png, 'ok']);
    files.push(['jpeg-head-garbage.jpg', Buffer.concat([small.subarray(0, 20), Buffer.alloc(4000, 0x5a)]), 'E_DECODE']);
    files.push(['zip.png', Buffer.from([0x50, 0x4b, 0x03, 0x04, 1, 2, 3, 4, 5, 6]), 'E_UNSUPPORTED_FORMAT']);
    files.push(['bmp.jpg', Buffer.concat([Buffer.from('BM'), Buffer.alloc(60)]), 'E_UNSUPPORTED_FORMAT']);
    files.push(['svg.png', '<svg xmlns="http://www.w3.org/2000/svg" width="99999" height="99999"/>', 'E_UNSUPPORTED_FORMAT']);
    files.push(['empty.jpg', '', 'E_INPUT_EMPTY']);
    // Pixel bombs: headers stating 10 gigapixels and 100 MP + 1.
    files.push(['bomb-10gp.png', pngHeaderOnly(100_000, 100_000), 'E_TOO_MANY_PIXELS']);
    files.push(['bomb-wide.png', pngHeaderOnly(1_000_000, 101), 'E_TOO_MANY_PIXELS']);
    // EXIF bomb: a 60 kB EXIF block; animated GIF; multi-page TIFF (first frame/page is analysed).
    files.push(['exif-bomb.jpg', await sharp(photo).resize(200).withExif({ IFD0: { ImageDescription: 'x'.repeat(60_000), Copyright: '=HYPERLINK("x")' } }).jpeg().toBuffer(), 'ok']);
    const frame = (c: string) => sharp({ create: { width: 64, height: 64, channels: 3, background: c } }).png().toBuffer();
    files.push(['animated.gif', await sharp([await frame('#f00'), await frame('#0f0')], { join: { animated: true } }).gif().toBuffer(), 'ok']);
    files.push(['multipage.tiff', await sharp([await frame('#00f'), await frame('#ff0')], { join: { animated: true } }).tiff().toBuffer().catch(() => Buffer.from(png)), 'ok']);
    // Names: a newline, a leading dash, protocol prefixes, spreadsheet formulas.
    files.push(['new\nline.jpg', small, 'ok']);
    files.push(['-dash.jpg', small, 'ok']);
    files.push(['concat:a.jpg|b.jpg', small, 'ok']);
    files.push(['file:x.jpg', small, 'ok']);
    files.push(['=cmd()+1.jpg', small, 'ok']);
    // A file above the --max-bytes cap (2 MiB, given below).
    files.push(['big-junk.jpg', Buffer.concat([small.subarray(0, 4), Buffer.alloc(3 * 1024 * 1024)]), 'E_INPUT_TOO_LARGE']);
    await mkdir(p('batch'));
    for (const [name, body] of files) await writeFile(p('batch', name), body);
    // Non-regular and unreachable entries: a FIFO, a broken link, a link loop, a file that disappears (link to a deleted file).
    execFileSync('mkfifo', [p('batch', 'fifo.jpg')]);
    await symlink(p('batch', 'missing.jpg'), p('batch', 'broken.jpg'));
    await symlink(p('batch'), p('batch', 'loop'));
    await writeFile(p('gone.jpg'), small);
    await symlink(p('gone.jpg'), p('batch', 'vanished.jpg'));
    await rm(p('gone.jpg'));
    const special: [string, string][] = [['fifo.jpg', 'E_UNSUPPORTED_INPUT'], ['broken.jpg', 'E_INPUT_READ'], ['loop', 'E_INPUT_READ'], ['vanished.jpg', 'E_INPUT_READ']];

    // Table mode may run an older build without --max-bytes: leave the option out there (big-junk.jpg then shows the old outcome).
    const cap = TABLE_MODE ? [] : ['--max-bytes', '2M'];
    const r = await ferkit(['analyze', 'batch', '--format', 'jsonl', ...cap, '-j', '2', '--cropped', '-q'], { timeoutMs: 120_000 });
    const items = new Map<string, string>();
    for (const line of r.stdout.split('\n').filter(Boolean)) {
      const item = JSON.parse(line) as { file: string; ok: boolean; error?: { code: string } };
      items.set(item.file.slice('batch/'.length), item.ok ? 'ok' : item.error!.code);
    }
    record('folder run as a whole', outcome(r), 'exit 1');
    for (const [name, , want] of files) record(`image: ${JSON.stringify(name)}`, items.get(name) ?? (r.timedOut ? 'HANG' : 'not reported'), want);
    for (const [name, want] of special) record(`entry: ${name}`, items.get(name) ?? (r.timedOut ? 'HANG' : 'not reported'), want);
    if (!TABLE_MODE) {
      expect(r.timedOut).toBe(false);
      expect(results.filter((x) => !x.ok)).toEqual([]);
    }
  });

  test('devices, huge junk and a FIFO given directly: refused at once, never read', async () => {
    const zero = await ferkit(['analyze', '/dev/zero', '-q'], { timeoutMs: 20_000 });
    record('analyze /dev/zero', `${outcome(zero)} ${/E_UNSUPPORTED_INPUT/.test(zero.stdout) ? 'E_UNSUPPORTED_INPUT' : ''}`.trim(), 'exit 1 E_UNSUPPORTED_INPUT');
    execFileSync('mkfifo', [p('f.jpg')]);
    const fifo = await ferkit(['analyze', 'f.jpg', '-q'], { timeoutMs: 20_000 });
    record('analyze f.jpg (a FIFO)', `${outcome(fifo)} ${/E_UNSUPPORTED_INPUT/.test(fifo.stdout) ? 'E_UNSUPPORTED_INPUT' : ''}`.trim(), 'exit 1 E_UNSUPPORTED_INPUT');
    const dash = await ferkit(['analyze', '-q', '--', '-x.jpg'], { timeoutMs: 20_000 });
    record('analyze -- -x.jpg (missing, leading dash)', `${outcome(dash)} ${/E_INPUT_READ/.test(dash.stdout) ? 'E_INPUT_READ' : ''}`.trim(), 'exit 1 E_INPUT_READ');
    if (!TABLE_MODE) expect(results.filter((x) => !x.ok)).toEqual([]);
  });

  test('outputs never touch inputs; foreign files need --force; two outputs never share a path', async () => {
    const photo = await readFile(SAMPLE);
    await mkdir(p('o', 'photos'), { recursive: true });
    await writeFile(p('o', 'photo.jpg'), photo);
    for (let i = 0; i < 3; i++) await writeFile(p('o', 'photos', `p${i}.jpg`), await sharp(photo).resize(160).jpeg().toBuffer());
    const before = await readFile(p('o', 'photo.jpg'));
    const same = async (): Promise<string> => ((await readFile(p('o', 'photo.jpg'))).equals(before) ? 'input intact' : 'INPUT REPLACED');
    const o = p('o');

    let r = await ferkit(['analyze', 'photo.jpg', '--annotate', '.', '-q'], { cwd: o });
    record('analyze photo.jpg --annotate .', `${outcome(r)}, ${await same()}`, 'exit 2, input intact');
    r = await ferkit(['analyze', 'photo.jpg', '--out', 'photo.jpg', '-q'], { cwd: o });
    record('analyze photo.jpg --out photo.jpg', `${outcome(r)}, ${await same()}`, 'exit 2, input intact');
    r = await ferkit(['analyze', 'photos', '--out', 'r.json', '--summary', 'r.json', '-q'], { cwd: o });
    record('--out r.json --summary r.json', outcome(r), 'exit 2');
    const p0 = await readFile(p('o', 'photos', 'p0.jpg'));
    r = await ferkit(['analyze', 'photos', '--annotate', 'photos', '-q'], { cwd: o });
    record('analyze photos --annotate photos', `${outcome(r)}, ${(await readFile(p('o', 'photos', 'p0.jpg'))).equals(p0) ? 'inputs intact' : 'INPUTS REPLACED'}`, 'exit 2, inputs intact');
    r = await ferkit(['analyze', 'photos', '--annotate', 'photos/ann', '--format', 'jsonl', '-q'], { cwd: o });
    const n = r.stdout.split('\n').filter(Boolean).length;
    r = await ferkit(['analyze', 'photos', '--annotate', 'photos/ann', '--format', 'jsonl', '-q'], { cwd: o });
    const n2 = r.stdout.split('\n').filter(Boolean).length;
    const nested = existsSync(p('o', 'photos', 'ann', 'photos')) || existsSync(p('o', 'photos', 'ann', 'ann'));
    record('analyze photos --annotate photos/ann, run twice', `${outcome(r)}, ${n}/${n2} results for 3 photos${nested ? ', nested ann/ann' : ''}`, 'exit 0, 3/3 results for 3 photos');
    await writeFile(p('o', 'notes.json'), 'my own notes\n');
    r = await ferkit(['analyze', 'photos', '--out', 'notes.json', '-q'], { cwd: o });
    const kept = (await readFile(p('o', 'notes.json'), 'utf8')) === 'my own notes\n';
    record('--out onto a foreign file', `${outcome(r)}, ${kept ? 'file kept' : 'FILE REPLACED'}`, 'exit 2, file kept');
    r = await ferkit(['analyze', 'photos', '--out', 'notes.json', '--force', '-q'], { cwd: o });
    record('--out onto a foreign file with --force', outcome(r), 'exit 0');
    r = await ferkit(['analyze', 'photos', '--out', 'notes.json', '-q'], { cwd: o });
    record('--out onto ferkit\'s own earlier output', outcome(r), 'exit 0');
    // Name clashes: x.webp and x.webp.jpg.
    await mkdir(p('o', 'clash'));
    await writeFile(p('o', 'clash', 'x.webp'), await sharp(photo).resize(120).webp().toBuffer());
    await writeFile(p('o', 'clash', 'x.webp.jpg'), await sharp(photo).resize(120).jpeg().toBuffer());
    r = await ferkit(['analyze', 'clash', '--annotate', 'clash-ann', '--summary', 'clash.json', '-q'], { cwd: o });
    const pics = existsSync(p('o', 'clash-ann')) ? (await readdir(p('o', 'clash-ann'))).filter((f) => !f.startsWith('.')).length : 0;
    record('x.webp + x.webp.jpg --annotate', `${outcome(r)}, ${pics} pictures`, 'exit 0, 2 pictures');
    r = await ferkit(['analyze', 'photo.jpg', '--out', '/proc/nope/out.json', '-q'], { cwd: o, timeoutMs: 20_000 });
    record('--out /proc/nope/out.json', outcome(r), 'exit 3');
    r = await ferkit(['analyze', 'photo.jpg', '--model', 'nosuch', '-q'], { cwd: o });
    record('--model nosuch', `${outcome(r)}${/ferkit-resnet-s/.test(r.stderr) ? ', lists ids' : ''}`, 'exit 2, lists ids');
    if (!TABLE_MODE) expect(results.filter((x) => !x.ok)).toEqual([]);
  });

  test('locks, stale temp files, closed stdout', async () => {
    const o = p('o');
    await writeFile(p('o', 'locked.json'), '[]\n');
    const release = await lockfile.lock(p('o', 'locked.json'), { realpath: false, lockfilePath: p('o', '.locked.json.ferkit-lock') });
    let r = await ferkit(['analyze', 'photos', '--out', 'locked.json', '-q'], { cwd: o });
    await release();
    record('a second run with the same --out (lock held)', `${outcome(r)}${r.ms < 15_000 ? ', at once' : ''}`, 'exit 3, at once');
    await writeFile(p('o', '.r2.json.ferkit-tmp-999999'), 'stale');
    r = await ferkit(['analyze', 'photos', '--out', 'r2.json', '-q'], { cwd: o });
    record('stale temp file of a dead pid beside --out', `${outcome(r)}, ${existsSync(p('o', '.r2.json.ferkit-tmp-999999')) ? 'temp kept' : 'temp removed'}`, 'exit 0, temp removed');
    r = await ferkit([], { cwd: o, shell: '$FERKIT analyze photos --summary s.json | head -c 1 >/dev/null; echo "rc=${PIPESTATUS[0]}" >&2' });
    const rc = /rc=(\d+)/.exec(r.stderr)?.[1];
    record('analyze photos --summary s.json | head -c 1', `exit ${rc}, ${existsSync(p('o', 's.json')) ? 'summary written' : 'NO SUMMARY'}`, 'exit 3, summary written');
    if (!TABLE_MODE) expect(results.filter((x) => !x.ok)).toEqual([]);
  });

  test.skipIf(!hasFfmpeg)('video: no protocol names, the input is never an output, a closed stdout still completes the files', async () => {
    const o = p('v');
    await mkdir(o, { recursive: true });
    // A real clip when ../shared is there (a face in every frame), else a generated one (no face; the paths are the same).
    const shared = join(ROOT, '..', 'shared', 'media', 'test.mp4');
    if (existsSync(shared)) await writeFile(join(o, 'test.mp4'), await readFile(shared));
    else execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=25', '-t', '2', '-pix_fmt', 'yuv420p', join(o, 'test.mp4')]);
    execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=64x64:rate=10', '-t', '1', '-pix_fmt', 'yuv420p', join(o, 'noface.mp4')]);
    // Read as a protocol, this name would be the bytes of noface.mp4 then test.mp4 (ffmpeg's concat: protocol): a video.
    await writeFile(join(o, 'concat:noface.mp4|test.mp4'), 'not a video\n');
    let r = await ferkit(['video', 'concat:noface.mp4|test.mp4', '--jsonl', 'c.jsonl', '-q'], { cwd: o, timeoutMs: 60_000 });
    record('video "concat:noface.mp4|test.mp4" (a text file beside both videos)',
      `${outcome(r)}${/E_DECODE .*concat:noface\.mp4\|test\.mp4: cannot read the video/.test(r.stderr) ? ', refused as not a video' : ''}, `
      + `${existsSync(join(o, 'c.jsonl')) ? `${(await readFile(join(o, 'c.jsonl'), 'utf8')).split('\n').filter(Boolean).length} frames analysed` : 'no output'}`,
      'exit 1, refused as not a video, no output');
    await writeFile(join(o, 'clip.mp4'), await readFile(join(o, 'test.mp4')));
    const original = await readFile(join(o, 'clip.mp4'));
    const intact = async (): Promise<string> => ((await readFile(join(o, 'clip.mp4'))).equals(original) ? 'input intact' : 'INPUT REPLACED');
    r = await ferkit(['video', 'clip.mp4', '--jsonl', 'clip.mp4', '-q'], { cwd: o });
    record('video clip.mp4 --jsonl clip.mp4', `${outcome(r)}, ${await intact()}`, 'exit 2, input intact');
    r = await ferkit(['video', 'clip.mp4', '--annotate', 'clip.mp4', '--no-jsonl', '-q'], { cwd: o });
    record('video clip.mp4 --annotate clip.mp4', `${outcome(r)}, ${await intact()}`, 'exit 2, input intact');
    r = await ferkit(['video', 'clip.mp4', '--tracks', './sub/../clip.mp4', '--no-jsonl', '-q'], { cwd: o });
    record('video clip.mp4 --tracks ./sub/../clip.mp4', `${outcome(r)}, ${await intact()}`, 'exit 2, input intact');
    // A closed stdout: the three file outputs are still written whole; the exit code says lines were lost (3), or 0
    // when head happened to read everything before it closed (nothing lost).
    r = await ferkit([], {
      cwd: o, timeoutMs: 120_000,
      shell: '$FERKIT video test.mp4 --tracks t.csv --summary s --annotate a.mp4 | head -n1 >/dev/null; echo "rc=${PIPESTATUS[0]}" >&2',
    });
    const rc = /rc=(\d+)/.exec(r.stderr)?.[1];
    const files = ['t.csv', join('s', 'summary.json'), 'a.mp4'].filter((f) => existsSync(join(o, f)));
    const summary = existsSync(join(o, 's', 'summary.json'))
      ? JSON.parse(await readFile(join(o, 's', 'summary.json'), 'utf8')) as { complete: boolean } : null;
    const said = rc === '0' || /stdout was closed early \(EPIPE\).*the file outputs hold the whole video/.test(r.stderr);
    record('video test.mp4 --tracks t.csv --summary s --annotate a.mp4 | head -n1',
      `exit ${rc}, ${files.length} of 3 files${summary?.complete ? ', whole video' : ''}${said ? '' : ', loss NOT reported'}`,
      `exit ${rc === '0' ? '0' : '3'}, 3 of 3 files, whole video`);
    if (!TABLE_MODE) expect(results.filter((x) => !x.ok)).toEqual([]);
  }, 240_000);

  test('SIGINT, SIGTERM, SIGKILL at random points: --out is the previous file or a complete new one, no temp file left behind', async () => {
    const photo = await readFile(SAMPLE);
    await mkdir(p('sig', 'in'), { recursive: true });
    const crop = await sharp(photo).resize(48, 48).grayscale().png().toBuffer();
    for (let i = 0; i < 400; i++) await writeFile(p('sig', 'in', `${String(i).padStart(4, '0')}.png`), crop);
    const out = p('sig', 'out.json');
    await writeFile(out, '[]\n'); // "the previous file"
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGKILL', 'SIGINT', 'SIGKILL'];
    for (const [k, signal] of signals.entries()) {
      const afterMs = 300 + Math.floor(Math.random() * 2500);
      const prev = await readFile(out, 'utf8');
      const r = await ferkit(['analyze', 'in', '--cropped', '--out', 'out.json', '-q'], { cwd: p('sig'), kill: { signal, afterMs } });
      const now = await readFile(out, 'utf8');
      let state: string;
      if (now === prev) state = 'previous file';
      else {
        try { state = (JSON.parse(now) as unknown[]).length === 400 ? 'complete new file' : 'PARTIAL FILE'; } catch { state = 'CORRUPT FILE'; }
      }
      if (signal === 'SIGKILL') {
        // A later run removes the temp file a SIGKILL leaves.
        await ferkit(['analyze', 'in/0000.png', '--cropped', '--out', 'out.json', '-q'], { cwd: p('sig') });
        await writeFile(out, prev);
      }
      const temps = (await readdir(p('sig'))).filter((f) => f.includes('ferkit-tmp') || f.includes('.tmp-'));
      record(`${signal} after ${afterMs} ms (#${k + 1})`, `${state}${temps.length ? `, temp left: ${temps.join(' ')}` : ''}`, state === 'complete new file' ? 'complete new file' : 'previous file');
      void r;
    }
    if (!TABLE_MODE) expect(results.filter((x) => !x.ok)).toEqual([]);
  });
});
