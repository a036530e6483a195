/**
 * The ferkit dashboard: webcam → worker (detect, classify, track, smooth) → overlay, face cards, timeline; a
 * monitoring session; a photo batch tab. Query parameters: `?backend=wasm|webgpu|auto`, `?threads=N`,
 * `?classifier=ferkit-lite` (the ≤ 1 MB model for weak devices; default `ferkit-resnet-s-int8-ensemble`, two int8 networks in one graph; `ferkit-resnet-s-int8` the better of the two alone, twice as fast; `ferkit-resnet-s` its float network), `?budget=40` (ms per frame
 * before the live view lightens itself; `off` to never adapt).
 */
import './style.css';
import {
  BUNDLED_CLASSIFIER_IDS, BUNDLED_CLASSIFIERS, cameraErrorMessage, checkBrowserSupport, connectAnalyzer, DEFAULT_SMOOTHING, FerkitError, WEB_BACKENDS,
  type LiveAdaptation, type LiveFrame, type ModelLoadEvent, type WebAnalyzerInfo, type WebBackend, type WorkerAnalyzer, type WorkerFrameTimings,
} from 'ferkit/web';
import { ValenceChart } from './charts.js';
import { AnalysisClock } from './clock.js';
import { LoadProgress } from './load-progress.js';
import { FaceCards, drawOverlay } from './live-view.js';
import { MonitorView } from './monitor-view.js';
import { PhotosView } from './photos-view.js';
import { VideoFileView } from './video-file-view.js';
import { RollingTimeline } from './timeline.js';
import { byId, cssVar, trackColor } from './ui.js';

/** Figures the page exposes for tests and benchmarks (read with `page.evaluate(() => window.ferkitStats)`). */
interface FerkitStats {
  ready: boolean;
  backend: string | null;
  threads: number | null;
  crossOriginIsolated: boolean;
  /** ms from navigation start */
  modelsReadyMs: number | null;
  cameraReadyMs: number | null;
  firstResultMs: number | null;
  firstFaceMs: number | null;
  frames: number;
  framesWithFace: number;
  /** analysed frames per second over the last ~2 s */
  fps: number;
  /** mean worker time per frame over the last ~2 s (ms) */
  workerMs: number;
  lastLabels: string[];
  /** Every track id seen since the page loaded, in order of appearance. */
  trackIds: number[];
  /** Per track id: frames it was in, and its first and last frame (page ms), with the box of the first and last. */
  tracks: Record<number, { frames: number; firstMs: number; lastMs: number; firstBox: number[]; lastBox: number[]; score: number }>;
  /** Mean ms per stage over the last ~2 s: worker stages, frame grab, and the transfer (round trip − worker time). */
  stages: { grab: number; detect: number; crop: number; classifier: number; track: number; transfer: number; queue: number; roundTrip: number };
  /** Duration of each loading step and model download, ms (see load-progress.ts). */
  loadSteps: Record<string, number>;
  /** Page ms at which start-up milestones were first reached: boot, workerCreated, firstProgress, firstFrameSent. */
  timeline: Record<string, number>;
  /** Analysis-clock time cut out of pauses and stalls, ms (see clock.ts). */
  clockCutMs: number;
  errors: string[];
  cameraError: string | null;
  /** Track ids given a neutral baseline by "Calibrate neutral". */
  baselineTracks: number[];
  /** The live stream's frame-budget level (detector cadence, classifier) after the last frame; null before it. */
  adaptation: LiveAdaptation | null;
}

declare global {
  interface Window { ferkitStats: FerkitStats }
}

/** The DOM elements the dashboard itself uses throughout (looked up once, by {@link startApp}). */
interface AppElements {
  readonly video: HTMLVideoElement;
  readonly overlay: HTMLCanvasElement;
  readonly banner: HTMLElement;
  readonly cameraMsg: HTMLElement;
  readonly mirrorBox: HTMLInputElement;
  readonly app: HTMLElement;
}

/** The views the frame results feed (each owns its own part of the page). */
interface AppViews {
  readonly cards: FaceCards;
  readonly timeline: RollingTimeline;
  readonly liveChart: ValenceChart;
  readonly monitor: MonitorView;
  readonly photos: PhotosView;
  readonly videoFile: VideoFileView;
}

/**
 * Everything the dashboard keeps while it runs: created once per page by {@link startApp} and passed to the helpers
 * below, so that no mutable state lives at module level. The `readonly` fields are fixed at start-up (their
 * contents, like `stats` and `recent`, still change); the others are reassigned as the app runs.
 */
interface AppState {
  /** The page's query parameters (`?backend=…`, `?threads=…`). */
  readonly params: URLSearchParams;
  /** The figures exposed as `window.ferkitStats` (the same object). */
  readonly stats: FerkitStats;
  readonly el: AppElements;
  readonly views: AppViews;
  /** The worker analyzer, set once its models are loaded; null before that, and for good if loading failed. */
  analyzer: WorkerAnalyzer | null;
  /** What the worker reported when its models loaded (backend, threads, model names); null until then. */
  info: WebAnalyzerInfo | null;
  /** The latest analysed frame, redrawn on resize, mirror and tab changes; null while the camera is off. */
  lastFrame: LiveFrame | null;
  /** The selected tab, the `data-tab` of its button: `live`, `monitor` or `photos`. */
  activeTab: string;
  /** `performance.now()` of the last live-chart redraw (it is redrawn at most every 250 ms). */
  lastChart: number;
  /** Arrival time, worker ms and per-stage ms of the frames of the last ~2 s, for `stats`. */
  readonly recent: { t: number; ms: number; stages: FerkitStats['stages'] }[];
  /** The timestamps given to the worker's tracker (pauses and stalls cut out). */
  readonly clock: AnalysisClock;
  /** The loading steps shown under the video. */
  readonly load: LoadProgress;
  /** Page time each in-flight frame was sent (by analysis timestamp), for the transfer time. */
  readonly sentAt: Map<number, number>;
  /** Frames sent to the worker and not answered yet (at most {@link MAX_IN_FLIGHT}). */
  inFlight: number;
  /** True while a frame is being grabbed from the video. */
  grabbing: boolean;
  /** True while the camera is on and the frame loop reschedules itself. */
  running: boolean;
  /** The camera stream; null while the camera is off. */
  stream: MediaStream | null;
}

function showBanner(s: AppState, kind: 'error' | 'warn' | 'info', html: string): void {
  const { banner } = s.el;
  banner.hidden = false;
  banner.className = `banner ${kind}`;
  byId('banner-text').innerHTML = html;
}

/** Says `text` once to screen readers (a polite live region; the per-frame figures are not in one). */
function announce(text: string): void {
  const region = byId('announce');
  region.textContent = '';
  requestAnimationFrame(() => { region.textContent = text; });
}

function error(s: AppState, message: string): void {
  s.stats.errors.push(message);
  showBanner(s, 'error', message.replace(/</g, '&lt;'));
}

// ---- tabs -----------------------------------------------------------------------------------------------------
function selectTab(s: AppState, tab: string, focus = false): void {
  s.activeTab = tab;
  s.el.app.className = `layout-${tab}`;
  for (const b of document.querySelectorAll<HTMLButtonElement>('[data-tab]')) {
    const on = b.dataset.tab === tab;
    b.setAttribute('aria-selected', String(on));
    b.tabIndex = on ? 0 : -1;
    if (on && focus) b.focus();
  }
  byId('stage').hidden = tab === 'photos';
  byId('tab-live').hidden = tab !== 'live';
  byId('tab-live-chart').hidden = tab !== 'live';
  byId('tab-monitor').hidden = tab !== 'monitor';
  byId('tab-photos').hidden = tab !== 'photos';
  if (tab === 'monitor') s.views.monitor.render(true);
  requestAnimationFrame(() => redrawOverlay(s));
}

// ---- views ----------------------------------------------------------------------------------------------------
/** Draws the last frame (or nothing) over the video again. */
function redrawOverlay(s: AppState): void {
  drawOverlay(s.el.overlay, s.el.video, s.lastFrame, s.el.mirrorBox.checked);
}

function renderLiveChart(s: AppState): void {
  const d = s.views.timeline.data();
  s.views.liveChart.update(d.xs, [
    ...[...d.tracks.entries()].map(([id, values]) => ({ spec: { key: `t${id}`, label: `Person ${id}`, color: trackColor(id) }, values })),
    { spec: { key: 'group', label: 'group', color: cssVar('--text', '#e6edf3'), width: 3 }, values: d.group },
  ]);
}

// ---- status ---------------------------------------------------------------------------------------------------
function onResult(s: AppState, analysed: LiveFrame, timings: WorkerFrameTimings): void {
  const { stats, recent, views } = s;
  const now = performance.now();
  // The tracker ran on analysis time; the session and charts get page time back.
  const sent = s.sentAt.get(analysed.timestampMs) ?? now;
  s.sentAt.delete(analysed.timestampMs);
  const frame: LiveFrame = { ...analysed, timestampMs: s.clock.toPageMs(analysed.timestampMs) };
  stats.clockCutMs = s.clock.cutMs;
  if (!s.running) return; // the camera was stopped while this frame was in the worker
  stats.frames++;
  if (stats.firstResultMs === null) stats.firstResultMs = now;
  if (frame.faces.length) {
    stats.framesWithFace++;
    stats.firstFaceMs ??= now;
  }
  stats.lastLabels = frame.faces.map((f) => f.displayLabel);
  for (const f of frame.faces) {
    if (!stats.trackIds.includes(f.trackId)) stats.trackIds.push(f.trackId);
    const box = [f.box.x, f.box.y, f.box.width, f.box.height].map(Math.round);
    const t = (stats.tracks[f.trackId] ??= { frames: 0, firstMs: Math.round(now), lastMs: 0, firstBox: box, lastBox: box, score: f.score });
    t.frames++;
    t.lastMs = Math.round(now);
    t.lastBox = box;
  }
  const workerMs = timings.grab + timings.analyze;
  const st = timings.stages ?? { detect: 0, crop: 0, classifier: 0, track: 0 };
  const roundTrip = now - sent;
  // Transfer: page → worker and back (postMessage), including the wait for the worker's thread while it finishes the
  // previous frame (a message is delivered only when the thread is free); queue: from delivery to the start of work.
  const c = timings.clock;
  const transfer = c ? Math.max(0, c.receivedAt - (performance.timeOrigin + sent)) + Math.max(0, performance.timeOrigin + now - c.repliedAt) : Math.max(0, roundTrip - workerMs);
  const queue = c ? Math.max(0, c.startedAt - c.receivedAt) : 0;
  recent.push({ t: now, ms: workerMs, stages: { grab: timings.grab, ...st, transfer, queue, roundTrip } });
  while (recent.length > 2 && recent[0]!.t < now - 2000) recent.shift();
  const span = recent.length > 1 ? recent[recent.length - 1]!.t - recent[0]!.t : 0;
  stats.fps = span > 0 ? ((recent.length - 1) * 1000) / span : 0;
  stats.workerMs = recent.reduce((a, r) => a + r.ms, 0) / recent.length;
  for (const k of Object.keys(stats.stages) as (keyof FerkitStats['stages'])[]) {
    stats.stages[k] = recent.reduce((a, r) => a + r.stages[k], 0) / recent.length;
  }
  s.lastFrame = frame;
  views.timeline.push(frame);
  views.monitor.add(frame);
  if (s.activeTab !== 'photos') {
    drawOverlay(s.el.overlay, s.el.video, frame, s.el.mirrorBox.checked);
    views.cards.update(frame, now);
  }
  if (s.activeTab === 'live' && now - s.lastChart > 250) {
    s.lastChart = now;
    renderLiveChart(s);
  }
  const fpsEl = byId('stat-fps');
  fpsEl.textContent = `${stats.fps.toFixed(1)} fps`;
  fpsEl.dataset.fps = stats.fps.toFixed(2);
  const msEl = byId('stat-ms');
  msEl.textContent = `${stats.workerMs.toFixed(0)} ms/frame`;
  msEl.title = `time in the worker per frame (last 2 s): detector ${stats.stages.detect.toFixed(1)} ms, crop ${stats.stages.crop.toFixed(1)} ms, `
    + `classifier ${stats.stages.classifier.toFixed(1)} ms, tracking ${stats.stages.track.toFixed(1)} ms, frame grab ${stats.stages.grab.toFixed(1)} ms; `
    + `transfer, including the wait for the worker to finish the previous frame, ${stats.stages.transfer.toFixed(1)} ms`;
  if (stats.frames === 1) {
    byId('stat-first').textContent = `first result ${(now / 1000).toFixed(1)} s after page load`;
    announce('Analysing the camera.');
  }
  if (timings.adaptation) reportAdaptation(s, timings.adaptation);
}

/**
 * The worker keeps frames within their budget by itself (detector every 2nd/3rd frame, then the lite classifier; see
 * `frameBudget` in src/web/analyzer.ts): each change is shown once in a notice and announced, and the ms/frame pill says
 * the current level. Tracks carry on through a change.
 */
function reportAdaptation(s: AppState, a: LiveAdaptation): void {
  const before = s.stats.adaptation;
  s.stats.adaptation = a;
  const level = `${a.detectEvery > 1 ? `detector every ${a.detectEvery} frames` : 'detector every frame'} · ${a.classifier}`;
  byId('stat-ms').dataset.level = level;
  if (!a.reason || (before && before.changes === a.changes && before.classifier === a.classifier)) return;
  const lite = a.lite && !before?.lite ? ` The live view now uses ${a.classifier} (photos and video files keep ${s.info?.models.classifier ?? 'the chosen model'}).` : '';
  showBanner(s, 'info', `Keeping up with the camera: ${a.reason.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`)}.${lite} Choose under "Model and backend" to set a model for good.`);
}

/** "Explain this face": the current video frame and the track's last box go to the worker for an occlusion map. */
async function explainFace(s: AppState, trackId: number): Promise<void> {
  const face = s.lastFrame?.faces.find((f) => f.trackId === trackId);
  const { cards } = s.views;
  if (!s.analyzer || !face || !s.el.video.videoWidth) {
    cards.showExplanation(trackId, new Error('the face is not in view'));
    return;
  }
  cards.showExplanation(trackId, null);
  try {
    const bitmap = await createImageBitmap(s.el.video);
    const result = await s.analyzer.explainFace(bitmap, { box: face.box, keypoints: face.keypoints, score: face.score }, 192);
    cards.showExplanation(trackId, result);
    announce(`Explanation of person ${trackId} ready.`);
  } catch (err) {
    cards.showExplanation(trackId, err as Error);
  }
}

// ---- camera + frame loop --------------------------------------------------------------------------------------
const MAX_IN_FLIGHT = 2;

function scheduleFrame(s: AppState): void {
  if (!s.running) return;
  const { video } = s.el;
  // The frame's capture time (camera clock, on performance.now()'s timeline) when the browser gives it: frames whose
  // callbacks run late and back to back still get their real spacing, which the tracker's motion model relies on.
  if ('requestVideoFrameCallback' in video) video.requestVideoFrameCallback((_now, meta) => void tick(s, meta.captureTime ?? meta.presentationTime));
  else requestAnimationFrame(() => void tick(s, performance.now()));
}

async function tick(s: AppState, capturedAt: number): Promise<void> {
  scheduleFrame(s);
  const { video } = s.el;
  const paused = s.activeTab === 'photos' && !s.views.monitor.session?.running;
  if (!s.analyzer || paused || s.grabbing || s.inFlight >= MAX_IN_FLIGHT || video.readyState < 2 || !video.videoWidth) return;
  s.grabbing = true;
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(video);
  } catch {
    s.grabbing = false;
    return; // e.g. the stream ended between the check and the grab
  }
  const sentAt = performance.now();
  mark(s.stats, 'firstFrameSent');
  const t = s.clock.frame(Math.min(capturedAt, sentAt));
  s.sentAt.set(t, sentAt);
  if (s.sentAt.size > 16) s.sentAt.delete(s.sentAt.keys().next().value!);
  s.grabbing = false;
  s.inFlight++;
  s.analyzer.analyzeFrame(bitmap, t)
    .then(({ result, timings }) => onResult(s, result, timings))
    .catch((err: unknown) => {
      if (s.stats.errors.length < 5) error(s, `Analysis failed: ${(err as Error).message}`);
    })
    .finally(() => { s.inFlight--; });
}

async function startCamera(s: AppState): Promise<void> {
  const { cameraMsg, video } = s.el;
  cameraMsg.hidden = true;
  if (!navigator.mediaDevices?.getUserMedia) {
    const m = cameraErrorMessage(new TypeError('no mediaDevices'));
    s.stats.cameraError = m.kind;
    cameraMsg.textContent = m.message;
    cameraMsg.hidden = false;
    return;
  }
  try {
    s.stream = await navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 }, facingMode: 'user' },
    });
  } catch (err) {
    const m = cameraErrorMessage(err);
    s.stats.cameraError = m.kind;
    cameraMsg.textContent = m.message;
    cameraMsg.hidden = false;
    byId<HTMLButtonElement>('btn-camera').textContent = 'Try camera again';
    return;
  }
  video.srcObject = s.stream;
  await video.play();
  s.stats.cameraReadyMs = performance.now();
  byId<HTMLButtonElement>('btn-camera').textContent = 'Stop camera';
  s.running = true;
  s.load.camera('done');
  announce('Camera on.');
  scheduleFrame(s);
}

/** Stops the camera and clears everything that looked live: overlay, face cards, fps and ms pills. */
function stopCamera(s: AppState): void {
  s.running = false;
  for (const t of s.stream?.getTracks() ?? []) t.stop();
  s.stream = null;
  s.el.video.srcObject = null;
  s.lastFrame = null;
  redrawOverlay(s);
  s.views.cards.clear();
  s.recent.length = 0;
  s.stats.fps = 0;
  s.stats.workerMs = 0;
  const fpsEl = byId('stat-fps');
  fpsEl.textContent = '– fps';
  fpsEl.dataset.fps = '0';
  byId('stat-ms').textContent = '– ms';
  byId<HTMLButtonElement>('btn-camera').textContent = 'Start camera';
  announce('Camera off.');
}

// ---- wiring ---------------------------------------------------------------------------------------------------
/** Hooks the banner, the tab buttons and the camera controls up to `s`. */
function wireControls(s: AppState): void {
  const { banner, video, mirrorBox } = s.el;
  byId('banner-close').addEventListener('click', () => { banner.hidden = true; });
  banner.addEventListener('keydown', (e) => { if (e.key === 'Escape') banner.hidden = true; });
  const tabs = [...document.querySelectorAll<HTMLButtonElement>('[data-tab]')];
  for (const [i, b] of tabs.entries()) {
    b.addEventListener('click', () => selectTab(s, b.dataset.tab!));
    // Arrow keys move between tabs (and select them), Home/End go to the first/last (WAI-ARIA tabs pattern).
    b.addEventListener('keydown', (e) => {
      const to = e.key === 'ArrowRight' ? (i + 1) % tabs.length : e.key === 'ArrowLeft' ? (i - 1 + tabs.length) % tabs.length
        : e.key === 'Home' ? 0 : e.key === 'End' ? tabs.length - 1 : -1;
      if (to < 0) return;
      e.preventDefault();
      selectTab(s, tabs[to]!.dataset.tab!, true);
    });
  }
  byId('btn-camera').addEventListener('click', () => (s.stream ? stopCamera(s) : void startCamera(s)));
  byId('btn-calibrate').addEventListener('click', () => void calibrateNeutral(s));
  mirrorBox.addEventListener('change', () => {
    video.classList.toggle('mirror', mirrorBox.checked);
    redrawOverlay(s);
  });
  video.classList.toggle('mirror', mirrorBox.checked);
  // The select starts at the library's default half-life (DEFAULT_SMOOTHING, from the temporal benchmark).
  const halfLife = byId<HTMLSelectElement>('sel-halflife');
  const dflt = String(DEFAULT_SMOOTHING.halfLifeMs);
  if (![...halfLife.options].some((o) => o.value === dflt)) halfLife.add(new Option(`${DEFAULT_SMOOTHING.halfLifeMs / 1000} s`, dflt));
  halfLife.value = dflt;
  for (const o of halfLife.options) if (o.value === dflt) o.textContent = `${o.textContent!.replace(/ \(default\)$/, '')} (default)`;
  halfLife.addEventListener('change', (e) => {
    const halfLifeMs = Number((e.target as HTMLSelectElement).value);
    void s.analyzer?.setLiveOptions({ smoothing: { halfLifeMs } }).then(() => s.views.timeline.clear());
  });
  new ResizeObserver(() => redrawOverlay(s)).observe(video);
}

// ---- start-up -------------------------------------------------------------------------------------------------
/** Records the first time the page reaches a start-up milestone (page ms, for the benchmark's timeline). */
function mark(stats: FerkitStats, name: string): void {
  stats.timeline[name] ??= Math.round(performance.now());
}

function progressText(e: ModelLoadEvent): string {
  if (e.type === 'step') return { runtime: 'starting ONNX Runtime…', engine: 'compiling ONNX Runtime…', classifier: 'preparing the expression model…', detector: 'preparing the face detector…' }[e.step];
  if (e.type === 'ready') return `${e.file} ready${e.fromCache ? ' (cached)' : ''}`;
  if (e.type === 'fetch') return `loading ${e.file}…`;
  return `loading ${e.file} ${e.total ? `${Math.round((100 * e.loaded) / e.total)}%` : `${(e.loaded / 1e6).toFixed(1)} MB`}`;
}

/** Checks the browser, starts the camera and loads the models in the worker; the frame loop starts with the camera. */
async function boot(s: AppState): Promise<void> {
  const { stats } = s;
  const support = checkBrowserSupport();
  if (support.blocking.length) {
    showBanner(s, 'error', `<strong>This browser cannot run ferkit:</strong> ${support.blocking.join('; ')}. `
      + 'Use a current Chrome, Edge, Firefox or Safari.');
    byId('stat-backend').textContent = 'unsupported browser';
    stats.errors.push(...support.blocking);
    return;
  }
  const backendEl = byId('stat-backend');
  mark(stats, 'boot');
  s.load.camera('start');
  const camera = startCamera(s);
  const worker = new Worker(new URL('./analyzer.worker.ts', import.meta.url), { type: 'module', name: 'ferkit-analyzer' });
  const a = connectAnalyzer(worker);
  mark(stats, 'workerCreated');
  let info: WebAnalyzerInfo;
  try {
    const { backend, threads, classifier, frameBudget } = chosenSettings(s.params);
    info = await a.init({
      backend, threads, classifier, frameBudget, modelsUrl: new URL('models/', location.href).href, wasmPaths: new URL('ort/', location.href).href,
      live: { tracker: { maxAgeMs: LIVE_TRACK_MAX_AGE_MS } },
    },
    (e) => {
      // Before the first ready: the loading steps and the status pill; later loads (the photo detector) show in the photo tab.
      if (!stats.ready) {
        mark(stats, 'firstProgress');
        backendEl.textContent = progressText(e);
        s.load.event(e);
        if (e.type === 'step' && e.state === 'done') stats.loadSteps[e.step] = Math.round(e.ms ?? 0);
        if (e.type === 'fetch') stats.loadSteps[`fetchStart:${e.file}`] ??= Math.round(performance.now());
        if (e.type === 'ready') stats.loadSteps[`${e.fromCache ? 'cache' : 'download'}:${e.file}`] = Math.round(performance.now() - (stats.loadSteps[`fetchStart:${e.file}`] ?? performance.now()));
      } else if (e.type !== 'ready' && e.type !== 'step') byId('photo-progress').textContent = progressText(e);
    });
  } catch (err) {
    const code = err instanceof FerkitError ? ` (${err.code})` : '';
    error(s, `The models could not be loaded${code}: ${(err as Error).message}`);
    backendEl.textContent = 'models failed';
    s.load.failed();
    s.views.photos.modelsFailed(`the models could not be loaded${code}`);
    return;
  }
  s.info = info;
  s.analyzer = a;
  stats.ready = true;
  stats.backend = info.backend;
  stats.threads = info.threads;
  stats.modelsReadyMs = performance.now();
  byId<HTMLButtonElement>('btn-calibrate').disabled = false;
  s.load.ready(stats.modelsReadyMs);
  s.views.photos.modelsReady();
  s.views.videoFile.modelsReady();
  announce(`Models ready: ${info.models.classifier} on ${info.backend === 'wasm' ? 'WebAssembly' : 'WebGPU'}.`);
  backendEl.textContent = `${info.backend.toUpperCase()}${info.backend === 'wasm' ? ` · ${info.threads} thread${info.threads > 1 ? 's' : ''}` : ''}`;
  backendEl.title = [`classifier ${info.models.classifier}`, `detector ${info.models.liveDetector}`, `models loaded in ${info.loadMs.toFixed(0)} ms`, ...info.notes].join('\n');
  if (info.notes.length && !info.crossOriginIsolated) showBanner(s, 'info', info.notes.join('; '));
  await camera;
}

/** "Calibrate neutral": every live face's last 5 s become its baseline (see calibrateBaseline in src/web/analyzer.ts). */
async function calibrateNeutral(s: AppState): Promise<void> {
  if (!s.analyzer) return;
  try {
    const ids = await s.analyzer.calibrateBaseline();
    s.stats.baselineTracks = [...new Set([...s.stats.baselineTracks, ...ids])];
    const text = ids.length
      ? `Neutral baseline set for ${ids.map((id) => `Person ${id}`).join(', ')}: labels are now relative to it.`
      : 'No face to calibrate: keep a face in view for a few seconds, then try again.';
    showBanner(s, ids.length ? 'info' : 'warn', text);
    announce(text);
  } catch (err) {
    error(s, `Calibration failed: ${(err as Error).message}`);
  }
}

/** Live tracks keep their id through this long without a detection (analysis time: pauses do not count). */
const LIVE_TRACK_MAX_AGE_MS = 1500;

/**
 * The backend, threads, classifier and frame budget asked for in the URL (`?backend=…&threads=…&classifier=…&budget=…`,
 * `budget` in ms per frame or `off`); defaults are undefined.
 */
function chosenSettings(params: URLSearchParams): {
  backend: WebBackend; threads: number | undefined; classifier: string | undefined; frameBudget: false | { budgetMs: number } | undefined;
} {
  const b = params.get('backend') ?? 'auto';
  const backend = ((WEB_BACKENDS as readonly string[]).includes(b) ? b : 'auto') as WebBackend;
  const t = Number(params.get('threads'));
  const threads = params.has('threads') && Number.isInteger(t) && t >= 1 && t <= 64 ? t : undefined;
  const c = params.get('classifier');
  const classifier = c && /^[\w.-]+$/.test(c) ? c : undefined;
  const b2 = params.get('budget');
  const budgetMs = Number(b2);
  const frameBudget = b2 === 'off' ? false : b2 !== null && Number.isFinite(budgetMs) && budgetMs > 0 && budgetMs <= 10_000 ? { budgetMs } : undefined;
  return { backend, threads, classifier, frameBudget };
}

/** Fills the model/backend chooser from `models/manifest.json` and the URL; "Apply" reloads with the new parameters. */
async function wireSettings(s: AppState): Promise<void> {
  const sel = byId<HTMLSelectElement>('sel-classifier');
  const backendSel = byId<HTMLSelectElement>('sel-backend');
  const threadsSel = byId<HTMLSelectElement>('sel-threads');
  const chosen = chosenSettings(s.params);
  backendSel.value = chosen.backend;
  threadsSel.value = chosen.threads ? String(chosen.threads) : '';
  byId('settings-note').textContent = `This device reports ${navigator.hardwareConcurrency ?? '?'} CPU cores; auto = ${autoThreadsNote()}.`;
  byId<HTMLFormElement>('settings-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const p = new URLSearchParams(location.search);
    const set = (k: string, v: string, dflt: string): void => { if (v && v !== dflt) p.set(k, v); else p.delete(k); };
    set('classifier', sel.value, BUNDLED_CLASSIFIERS.default);
    set('backend', backendSel.value, 'auto');
    set('threads', threadsSel.value, '');
    const q = p.toString();
    if (`?${q}` === location.search || (!q && !location.search)) location.reload();
    else location.search = q ? `?${q}` : '';
  });
  const bundled: readonly string[] = BUNDLED_CLASSIFIER_IDS;
  let ids = [...bundled];
  try {
    const res = await fetch(new URL('models/manifest.json', location.href), { cache: 'no-cache' });
    const m = (await res.json()) as { files?: Record<string, unknown> };
    const found = Object.keys(m.files ?? {}).filter((f) => f.endsWith('.card.json')).map((f) => f.slice(0, -'.card.json'.length));
    // bundled ids first, in their order (default first), then any other model the manifest lists
    if (found.length) ids = [...bundled.filter((id) => found.includes(id)), ...found.filter((id) => !bundled.includes(id)).sort()];
  } catch {
    // keep the bundled ids
  }
  const current = chosen.classifier ?? BUNDLED_CLASSIFIERS.default;
  sel.replaceChildren(...ids.map((id) => {
    const o = document.createElement('option');
    o.value = id;
    o.textContent = id === BUNDLED_CLASSIFIERS.default ? `${id} (default)` : id === BUNDLED_CLASSIFIERS.lite ? `${id} (small, for weak devices)`
      : id === BUNDLED_CLASSIFIERS.singleCrop ? `${id} (the default without the mirror image: twice as fast, ~1 point less accurate)`
      : id === BUNDLED_CLASSIFIERS.float ? `${id} (the default's float network, single crop: slower per face, starts ~0.2 s sooner)` : id;
    o.selected = id === current;
    return o;
  }));
}

/** What `threads: auto` gives on this device (see `configureOrtWeb`). */
function autoThreadsNote(): string {
  const cores = navigator.hardwareConcurrency ?? 1;
  return crossOriginIsolated ? `${Math.min(4, Math.max(1, cores - 1))} thread(s)` : '1 thread (the page is not cross-origin isolated)';
}

/**
 * Starts the dashboard on the current page: creates its {@link AppState} (exposing `stats` as `window.ferkitStats`),
 * wires the DOM and boots the analyzer and camera. Call once per page.
 */
function startApp(): AppState {
  const stats: FerkitStats = {
    ready: false, backend: null, threads: null, crossOriginIsolated: globalThis.crossOriginIsolated === true, modelsReadyMs: null,
    cameraReadyMs: null, firstResultMs: null, firstFaceMs: null, frames: 0, framesWithFace: 0, fps: 0, workerMs: 0,
    lastLabels: [], trackIds: [], tracks: {}, stages: { grab: 0, detect: 0, crop: 0, classifier: 0, track: 0, transfer: 0, queue: 0, roundTrip: 0 }, clockCutMs: 0, loadSteps: {}, timeline: {},
    errors: [], cameraError: null, adaptation: null, baselineTracks: [],
  };
  window.ferkitStats = stats;
  const params = new URLSearchParams(location.search);
  const el: AppElements = {
    video: byId<HTMLVideoElement>('video'),
    overlay: byId<HTMLCanvasElement>('overlay'),
    banner: byId('banner'),
    cameraMsg: byId('camera-message'),
    mirrorBox: byId<HTMLInputElement>('chk-mirror'),
    app: byId('app'),
  };
  // The view callbacks read `s` only later (on a notice, an export or a photo), never while `s` is being built.
  const s: AppState = {
    params,
    stats,
    el,
    views: {
      cards: new FaceCards(byId('cards'), (trackId) => void explainFace(s, trackId)),
      timeline: new RollingTimeline(60, 100),
      liveChart: new ValenceChart(byId('live-chart'), 200, { xLabel: 's' }),
      monitor: new MonitorView(
        () => ({ ...(s.info ? { classifier: s.info.models.classifier, detector: s.info.models.liveDetector, backend: s.info.backend } : {}) }),
        (n) => showBanner(s, 'warn', `⚠ ${n.message.replace(/</g, '&lt;')}`),
      ),
      photos: new PhotosView(() => s.analyzer),
      videoFile: new VideoFileView(() => s.analyzer),
    },
    analyzer: null,
    info: null,
    lastFrame: null,
    activeTab: 'live',
    lastChart: 0,
    recent: [],
    clock: new AnalysisClock(),
    load: new LoadProgress(byId('loading'), byId('loading-summary'), byId<HTMLOListElement>('load-steps')),
    sentAt: new Map(),
    inFlight: 0,
    grabbing: false,
    running: false,
    stream: null,
  };
  wireControls(s);
  void wireSettings(s);
  // The privacy note is open on wide screens, one line (expandable) on phones.
  if (matchMedia('(min-width: 761px)').matches) byId<HTMLDetailsElement>('privacy').open = true;
  void boot(s);
  return s;
}

startApp();
