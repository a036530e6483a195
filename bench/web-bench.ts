/**
 * Browser benchmark: builds the web app, serves it on 127.0.0.1 with `ferkit serve`'s server, and drives Debian's
 * Chromium (headless, WASM backend) with a fake camera fed from a Y4M of `../shared/media/test.mp4` (640×480, one face).
 * Prints and writes `results/web-bench.json`: analysed frames per second, worker time per frame and per stage
 * (detector, crop, classifier, tracking, frame grab, transfer), the time from page load to the first result (cold:
 * empty browser profile; warm: a reload with the HTTP cache and the models in the Cache API), and the bytes
 * transferred (as sent, i.e. compressed, and as files). The figures of the previous run without `before` in the file
 * are kept under `before`.
 *
 * Run: `npm run bench:web` (= `npm run build && node dist/bench/web-bench.js [--seconds 20]`).
 * Also saves `results/screenshots/web-{live,monitor}-{1280,390}.png` (git-ignored: frames of ../shared media).
 * The helpers are exported for `test/web/*.test.ts`.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startStaticServer, type StaticServer } from '../src/server/static.js';
import { BUNDLED_CLASSIFIERS } from '../src/core/classifier/expression.js';
import { benchArgs } from './args.js';

/** The repository root (this file is `bench/web-bench.ts` or `dist/bench/web-bench.js`). */
export const REPO = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'web', 'vite.config.ts'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the repository root (web/vite.config.ts)');
    dir = up;
  }
  return dir;
})();
export const WEB_DIST = join(REPO, 'dist', 'web');
export const TEST_VIDEO = resolve(REPO, '..', 'shared', 'media', 'test.mp4');
export const CHROMIUM = process.env.FERKIT_CHROMIUM ?? '/usr/bin/chromium';

/** Why the browser checks cannot run here, or null when they can. */
export function browserSkipReason(): string | null {
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (apt-get install chromium, or set FERKIT_CHROMIUM)`;
  if (spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status !== 0) return 'ffmpeg is not installed (apt-get install ffmpeg)';
  if (!existsSync(TEST_VIDEO)) return `${TEST_VIDEO} is missing (../shared is not checked out)`;
  return null;
}

/** Builds the app into `dist/web` with Vite (about 3 s). */
export async function buildWebApp(): Promise<void> {
  const { build } = await import('vite');
  await build({ configFile: join(REPO, 'web', 'vite.config.ts'), logLevel: 'warn' });
}

/** The ffmpeg filter that makes the fake camera's 640×480 picture from the 596×336 clip (also replayed by bench/track-stamps.ts). */
export const cameraFilter = (fps: number): string => `scale=-2:480,crop=640:480,fps=${fps}`;

/**
 * Makes a 640×480 Y4M (yuv420p) from `src` for Chromium's fake camera: scaled to 480 px high, centre-cropped to 4:3.
 * @returns the Y4M path inside `dir`.
 */
export function makeY4m(src: string, dir: string, fps = 30): string {
  const out = join(dir, 'camera.y4m');
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', src, '-vf', cameraFilter(fps), '-pix_fmt', 'yuv420p', out]);
  return out;
}

/**
 * Makes a 640×480 Y4M with two faces side by side: two 320×480 portrait crops around the face of `src` (596×336
 * talking-head clip: face around x 220–440), the right one mirrored and started 2 s later, joined with ffmpeg's hstack.
 * Asynchronous (ffmpeg runs as a child process without blocking: vitest's worker must keep answering).
 * @returns the Y4M path inside `dir`.
 */
export async function makeTwoFaceY4m(src: string, dir: string, fps = 30): Promise<string> {
  const out = join(dir, 'camera-two-faces.y4m');
  const half = `crop=224:336:200:0,scale=320:480,fps=${fps}`;
  await promisify(execFile)('ffmpeg', [
    '-v', 'error', '-y', '-i', src, '-ss', '2', '-i', src,
    '-filter_complex', `[0:v]${half}[a];[1:v]${half},hflip[b];[a][b]hstack=inputs=2,trim=duration=2.5[v]`,
    '-map', '[v]', '-pix_fmt', 'yuv420p', out,
  ]);
  return out;
}

/** Launches headless Chromium with a fake camera playing `y4m` (or a denied/absent camera when `y4m` is null). */
export async function launchChromium(
  y4m: string | null, userDataDir: string,
  options: { denyCamera?: boolean; noCamera?: boolean; viewport?: { width: number; height: number }; colorScheme?: 'light' | 'dark' } = {},
): Promise<BrowserContext> {
  const { chromium } = await import('playwright-core');
  const args = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync',
  ];
  if (!options.noCamera) args.push('--use-fake-device-for-media-stream');
  if (!options.denyCamera) args.push('--use-fake-ui-for-media-stream');
  if (y4m && !options.noCamera) args.push(`--use-file-for-fake-video-capture=${y4m}`);
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args,
    viewport: options.viewport ?? { width: 1360, height: 900 },
    ...(options.viewport && options.viewport.width < 600 ? { isMobile: true, hasTouch: true, deviceScaleFactor: 2 } : {}),
    colorScheme: options.colorScheme ?? 'dark',
    acceptDownloads: true,
  });
}

/** The figures the page exposes as `window.ferkitStats` (see web/src/main.ts). */
export interface PageStats {
  ready: boolean; backend: string | null; threads: number | null; crossOriginIsolated: boolean;
  modelsReadyMs: number | null; cameraReadyMs: number | null; firstResultMs: number | null; firstFaceMs: number | null;
  frames: number; framesWithFace: number; fps: number; workerMs: number; lastLabels: string[]; errors: string[]; cameraError: string | null;
  /** Every track id seen, in order of appearance. */
  trackIds: number[];
  tracks: Record<number, { frames: number; firstMs: number; lastMs: number; firstBox: number[]; lastBox: number[]; score: number }>;
  /** Mean ms per stage over the last ~2 s (see web/src/main.ts). */
  stages: { grab: number; detect: number; crop: number; classifier: number; track: number; transfer: number; queue: number; roundTrip: number };
  clockCutMs: number;
  loadSteps: Record<string, number>;
  /** Page ms of start-up milestones (boot, workerCreated, firstProgress, firstFrameSent). */
  timeline: Record<string, number>;
  /** Track ids given a neutral baseline by the "Calibrate neutral" button. */
  baselineTracks: number[];
  /** The live stream's frame-budget level (src/core/frame-budget.ts) after the last frame. */
  adaptation: { detectEvery: number; lite: boolean; classifier: string; reason: string | null; changes: number } | null;
}

export const pageStats = (page: Page): Promise<PageStats> => page.evaluate('window.ferkitStats') as Promise<PageStats>;

/** Waits until the page has analysed a frame with a face (or failed). */
export async function waitForFace(page: Page, timeoutMs = 90_000): Promise<PageStats> {
  const t0 = Date.now();
  for (;;) {
    const s = await pageStats(page).catch(() => null);
    if (s && s.errors.length) throw new Error(`the page reported: ${s.errors.join(' | ')}`);
    if (s && s.cameraError) throw new Error(`camera error on the page: ${s.cameraError}`);
    if (s && s.firstFaceMs !== null) return s;
    if (Date.now() - t0 > timeoutMs) throw new Error(`no face result within ${timeoutMs} ms; last stats ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Everything a browser run needs; `close()` undoes it. */
export interface WebRig { server: StaticServer; context: BrowserContext; page: Page; dir: string; close(): Promise<void> }

/** Serves `dist/web` on 127.0.0.1 and opens the app in Chromium with the fake camera. */
export async function openApp(
  y4m: string | null, query = '',
  options: {
    denyCamera?: boolean; noCamera?: boolean; userDataDir?: string; initScript?: string;
    viewport?: { width: number; height: number }; colorScheme?: 'light' | 'dark';
    /** Called with the context before the page is opened (e.g. to route requests). */
    beforeGoto?: (context: BrowserContext) => Promise<void>;
  } = {},
): Promise<WebRig> {
  const server = await startStaticServer({ root: WEB_DIST, host: '127.0.0.1', port: 0 });
  const dir = options.userDataDir ?? mkdtempSync(join(tmpdir(), 'ferkit-chromium-'));
  let context: BrowserContext;
  try {
    context = await launchChromium(y4m, dir, options);
  } catch (err) {
    await server.close();
    throw err;
  }
  const page = context.pages()[0] ?? (await context.newPage());
  const consoleLines: string[] = [];
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  (page as Page & { consoleLines?: string[] }).consoleLines = consoleLines;
  if (options.initScript) await context.addInitScript(options.initScript);
  if (options.beforeGoto) await options.beforeGoto(context);
  await page.goto(`${server.url}${query}`);
  return {
    server, context, page, dir,
    async close() {
      await context.close().catch(() => undefined);
      await server.close();
      if (!options.userDataDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Bytes of the app's responses: as sent over the wire (body, after Content-Encoding) and as files on disk. */
interface Transfer { requests: number; sentBytes: number; fileBytes: number; compressed: number; notModified: number; byFile: Record<string, { sent: number; file: number; encoding: string | null; status: number }> }

/** Counts the responses of the page and its workers (Chromium reports worker requests on the page's context). */
function trackTransfer(context: BrowserContext): { done(): Promise<Transfer> } {
  const pending: Promise<void>[] = [];
  const t: Transfer = { requests: 0, sentBytes: 0, fileBytes: 0, compressed: 0, notModified: 0, byFile: {} };
  let open = true;
  context.on('response', (res) => {
    if (!open) return;
    pending.push((async () => {
      const url = new URL(res.url());
      if (!url.protocol.startsWith('http')) return;
      const sizes = await res.request().sizes().catch(() => null);
      const headers = await res.allHeaders();
      const encoding = headers['content-encoding'] ?? null;
      const path = decodeURIComponent(url.pathname).replace(/^\/+/, '') || 'index.html';
      const file = join(WEB_DIST, path);
      const fileBytes = existsSync(file) && statSync(file).isFile() ? statSync(file).size : 0;
      const sent = Math.max(0, sizes?.responseBodySize ?? 0); // negative: served from the browser's cache
      t.requests++;
      t.sentBytes += sent;
      t.fileBytes += fileBytes;
      if (encoding) t.compressed++;
      if (res.status() === 304) t.notModified++;
      t.byFile[path] = { sent, file: fileBytes, encoding, status: res.status() };
    })());
  });
  return { async done() { open = false; await Promise.all(pending); return t; } };
}

/** Navigation milestones of the page (ms from navigation start): HTML received, DOMContentLoaded, load. */
async function navigationMarks(page: Page): Promise<Record<string, number>> {
  return page.evaluate(() => {
    const n = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined;
    const out: Record<string, number> = {};
    if (n) Object.assign(out, { htmlEnd: Math.round(n.responseEnd), domContentLoaded: Math.round(n.domContentLoadedEventEnd), load: Math.round(n.loadEventEnd) });
    return out;
  });
}

/** Figures of one page load: first result, then frames/s and stage times over `seconds`. */
async function loadFigures(page: Page, seconds: number, transfer: ReturnType<typeof trackTransfer>): Promise<Record<string, unknown>> {
  const first = await waitForFace(page);
  const bytes = await transfer.done();
  await new Promise((r) => setTimeout(r, 2000)); // let the JIT and the caches settle
  const a = await pageStats(page);
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const b = await pageStats(page);
  const wall = (Date.now() - t0) / 1000;
  return {
    backend: b.backend, threads: b.threads, crossOriginIsolated: b.crossOriginIsolated,
    modelsReadyMs: round(first.modelsReadyMs), cameraReadyMs: round(first.cameraReadyMs),
    firstResultMs: round(first.firstResultMs), firstFaceMs: round(first.firstFaceMs),
    loadStepsMs: Object.fromEntries(Object.entries(first.loadSteps).filter(([k]) => !k.startsWith('fetchStart:'))),
    timelineMs: { ...(await navigationMarks(page)), ...first.timeline },
    fps: round((b.frames - a.frames) / wall, 2), framesMeasured: b.frames - a.frames, seconds: round(wall, 2),
    framesWithFaceShare: round((b.framesWithFace - a.framesWithFace) / Math.max(1, b.frames - a.frames), 3),
    workerMsPerFrame: round(b.workerMs, 2),
    stagesMs: Object.fromEntries(Object.entries(b.stages).map(([k, v]) => [k, round(v, 2)])),
    trackIds: b.trackIds, tracks: b.tracks, labelsSeen: b.lastLabels, adaptation: b.adaptation,
    transfer: {
      requests: bytes.requests, sentBytes: bytes.sentBytes, fileBytes: bytes.fileBytes, compressedResponses: bytes.compressed, notModified: bytes.notModified,
      largest: Object.fromEntries(Object.entries(bytes.byFile).sort((x, y) => y[1].file - x[1].file || y[1].sent - x[1].sent).slice(0, 6)),
    },
  };
}

/**
 * A cold page load in a fresh browser profile, then (with `warm`) a reload of the same page: HTTP cache, compiled
 * WASM code and the Cache API models kept, as for a returning user.
 */
async function measure(y4m: string, seconds: number, query: string, warm = false): Promise<Record<string, Record<string, unknown>>> {
  let transfer: ReturnType<typeof trackTransfer> | null = null;
  const rig = await openApp(y4m, query, { viewport: { width: 1280, height: 800 }, beforeGoto: async (c) => { transfer = trackTransfer(c); } });
  try {
    const cold = await loadFigures(rig.page, seconds, transfer!);
    if (!warm) return { cold };
    const again = trackTransfer(rig.context);
    await rig.page.reload();
    return { cold, warm: await loadFigures(rig.page, seconds, again) };
  } finally {
    await rig.close();
  }
}

/** Screenshots of the live view and of a running monitoring session into `dir`, at 1280×800 and 390×844. */
export async function takeScreenshots(y4m: string, dir: string): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const out: string[] = [];
  for (const viewport of [{ width: 1280, height: 800 }, { width: 390, height: 844 }]) {
    const rig = await openApp(y4m, '', { viewport });
    try {
      await waitForFace(rig.page);
      await new Promise((r) => setTimeout(r, 6000)); // fill the valence timeline a little
      const live = join(dir, `web-live-${viewport.width}.png`);
      await rig.page.screenshot({ path: live, fullPage: viewport.width < 600 });
      await rig.page.click('[data-tab=monitor]');
      await rig.page.fill('#inp-threshold', '2');
      await rig.page.dispatchEvent('#inp-threshold', 'change');
      await rig.page.click('#btn-session');
      await new Promise((r) => setTimeout(r, 8000));
      const monitor = join(dir, `web-monitor-${viewport.width}.png`);
      await rig.page.screenshot({ path: monitor, fullPage: viewport.width < 600 });
      out.push(live, monitor);
    } finally {
      await rig.close();
    }
  }
  return out;
}

const round = (v: number | null, d = 1): number | null => (v === null ? null : Math.round(v * 10 ** d) / 10 ** d);

async function main(): Promise<void> {
  const seconds = Number(benchArgs(import.meta.url, { options: { seconds: { type: 'string', default: '15' } } }).values.seconds);
  const skip = browserSkipReason();
  if (skip) {
    console.error(`web-bench: cannot run: ${skip}`);
    process.exitCode = 1;
    return;
  }
  const tmp = mkdtempSync(join(tmpdir(), 'ferkit-web-bench-'));
  try {
    console.error('building the web app…');
    await buildWebApp();
    const y4m = makeY4m(TEST_VIDEO, tmp, 30);
    const runs: Record<string, Record<string, unknown>> = {};
    const loadStart = loadavg().map((l) => Math.round(l * 100) / 100);
    console.error('cold load (fresh profile), then a warm reload…');
    const both = await measure(y4m, seconds, '?backend=wasm', true);
    runs.wasmCold = both.cold!;
    runs.wasmWarm = both.warm!;
    console.error('WASM with 2 threads…');
    runs.wasm2Threads = (await measure(y4m, seconds, '?backend=wasm&threads=2')).cold!;
    console.error('WASM with the lite classifier…');
    runs.wasmLite = (await measure(y4m, seconds, '?backend=wasm&classifier=ferkit-lite')).cold!;
    console.error('screenshots…');
    const shots = (await takeScreenshots(y4m, join(REPO, 'results', 'screenshots'))).map((f) => f.slice(REPO.length + 1));
    const chromiumVersion = execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const out = join(REPO, 'results', 'web-bench.json');
    let before: unknown = null;
    if (existsSync(out)) {
      const prev = JSON.parse(readFileSync(out, 'utf8')) as { before?: unknown; runs?: unknown; date?: string; load?: unknown };
      before = prev.before ?? { date: prev.date, load: prev.load, runs: prev.runs, note: 'the previous results/web-bench.json, before issue #11' };
    }
    const report = {
      what: 'ferkit web app in headless Chromium: fake camera 640x480 @ 30 fps from ../shared/media/test.mp4 (one face), '
        + `detector blazeface-front (tiling off), classifier ${BUNDLED_CLASSIFIERS.default} (the default; ${BUNDLED_CLASSIFIERS.lite} in wasmLite), tracking + smoothing, in a Web Worker; `
        + 'fps = analysed frames per second (capped by the camera\'s 30 fps); times in ms from navigation start; '
        + 'cold = fresh browser profile, warm = reload of the same page (HTTP cache, compiled WASM, models in the Cache API); '
        + 'transfer.sentBytes = response bodies as sent (after Content-Encoding), fileBytes = the same files uncompressed; '
        + 'stagesMs = mean per frame over the last 2 s: detect, crop, classifier, track, grab (in the worker), transfer (postMessage both ways, '
        + 'including the wait for the worker thread to finish the previous frame: the page keeps 2 frames in flight), queue (delivered to started), roundTrip; '
        + 'threads: the app default is min(4, cores - 1)',
      load: {
        loadAverageAtStart: loadStart, loadAverageAtEnd: loadavg().map((l) => Math.round(l * 100) / 100),
        note: 'other work on the machine (e.g. model training, other builds and tests) shares the cores: figures are under that load',
      },
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, chromium: chromiumVersion },
      video: { file: '../shared/media/test.mp4', y4mBytes: statSync(y4m).size, size: '640x480', fps: 30 },
      target: { fps: 25, firstResultColdMs: 3000, firstResultWarmMs: 1000 },
      runs,
      screenshots: shots,
      before,
    };
    mkdirSync(join(REPO, 'results'), { recursive: true });
    writeFileSync(`${out}.tmp`, `${JSON.stringify(report, null, 2)}\n`);
    renameSync(`${out}.tmp`, out);
    console.log(JSON.stringify(report, null, 2));
    const fps = runs.wasmCold.fps as number;
    console.error(`\nfps (WASM, ${runs.wasmCold.threads} threads): ${fps} (target >= 25 when quiet); first result: cold ${runs.wasmCold.firstResultMs} ms, warm ${runs.wasmWarm.firstResultMs} ms`);
    console.error('wrote results/web-bench.json');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
