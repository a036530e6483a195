/**
 * The ferkit dashboard: webcam → worker (detect, classify, track, smooth) → overlay, face cards, timeline; a
 * monitoring session; a photo batch tab. Query parameters: `?backend=wasm|webgpu|auto`, `?threads=N`,
 * `?classifier=ferkit-lite` (the ≤ 1 MB model for weak devices; default `ferkit-resnet-s`).
 */
import './style.css';
import {
  cameraErrorMessage, checkBrowserSupport, connectAnalyzer, FerkitError,
  type LiveFrame, type ModelLoadEvent, type WebAnalyzerInfo, type WebBackend, type WorkerAnalyzer, type WorkerFrameTimings,
} from 'ferkit/web';
import { ValenceChart } from './charts.js';
import { FaceCards, drawOverlay } from './live-view.js';
import { MonitorView } from './monitor-view.js';
import { PhotosView } from './photos-view.js';
import { RollingTimeline } from './timeline.js';
import { byId, trackColor } from './ui.js';

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
  errors: string[];
  cameraError: string | null;
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
  /** Arrival time and worker ms of the frames of the last ~2 s, for `stats.fps` and `stats.workerMs`. */
  readonly recent: { t: number; ms: number }[];
  /** Frames sent to the worker and not answered yet (at most {@link MAX_IN_FLIGHT}). */
  inFlight: number;
  /** True while a frame is being grabbed from the video. */
  grabbing: boolean;
  /** True while the camera is on and the frame loop reschedules itself. */
  running: boolean;
  /** The camera stream; null while the camera is off. */
  stream: MediaStream | null;
  /** The timestamp (ms) of the last frame sent; each frame's is strictly greater than the one before. */
  lastTMs: number;
}

function showBanner(s: AppState, kind: 'error' | 'warn' | 'info', html: string): void {
  const { banner } = s.el;
  banner.hidden = false;
  banner.className = `banner ${kind}`;
  banner.innerHTML = html;
}

function error(s: AppState, message: string): void {
  s.stats.errors.push(message);
  showBanner(s, 'error', message.replace(/</g, '&lt;'));
}

// ---- tabs -----------------------------------------------------------------------------------------------------
function selectTab(s: AppState, tab: string): void {
  s.activeTab = tab;
  s.el.app.className = `layout-${tab}`;
  for (const b of document.querySelectorAll<HTMLButtonElement>('[data-tab]')) b.setAttribute('aria-selected', String(b.dataset.tab === tab));
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
    { spec: { key: 'group', label: 'group', color: '#e6edf3', width: 3 }, values: d.group },
  ]);
}

// ---- status ---------------------------------------------------------------------------------------------------
function onResult(s: AppState, frame: LiveFrame, timings: WorkerFrameTimings): void {
  const { stats, recent, views } = s;
  const now = performance.now();
  stats.frames++;
  if (stats.firstResultMs === null) stats.firstResultMs = now;
  if (frame.faces.length) {
    stats.framesWithFace++;
    stats.firstFaceMs ??= now;
  }
  stats.lastLabels = frame.faces.map((f) => f.displayLabel);
  recent.push({ t: now, ms: timings.grab + timings.analyze });
  while (recent.length > 2 && recent[0]!.t < now - 2000) recent.shift();
  const span = recent.length > 1 ? recent[recent.length - 1]!.t - recent[0]!.t : 0;
  stats.fps = span > 0 ? ((recent.length - 1) * 1000) / span : 0;
  stats.workerMs = recent.reduce((a, r) => a + r.ms, 0) / recent.length;
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
  byId('stat-ms').textContent = `${stats.workerMs.toFixed(0)} ms/frame`;
  if (stats.frames === 1) byId('stat-first').textContent = `first result ${(now / 1000).toFixed(1)} s after page load`;
}

// ---- camera + frame loop --------------------------------------------------------------------------------------
const MAX_IN_FLIGHT = 2;

function scheduleFrame(s: AppState): void {
  if (!s.running) return;
  const { video } = s.el;
  if ('requestVideoFrameCallback' in video) video.requestVideoFrameCallback(() => void tick(s));
  else requestAnimationFrame(() => void tick(s));
}

async function tick(s: AppState): Promise<void> {
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
  const t = Math.max(performance.now(), s.lastTMs + 0.001);
  s.lastTMs = t;
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
  scheduleFrame(s);
}

function stopCamera(s: AppState): void {
  s.running = false;
  for (const t of s.stream?.getTracks() ?? []) t.stop();
  s.stream = null;
  s.el.video.srcObject = null;
  s.lastFrame = null;
  redrawOverlay(s);
  byId<HTMLButtonElement>('btn-camera').textContent = 'Start camera';
}

// ---- wiring ---------------------------------------------------------------------------------------------------
/** Hooks the banner, the tab buttons and the camera controls up to `s`. */
function wireControls(s: AppState): void {
  const { banner, video, mirrorBox } = s.el;
  banner.title = 'click to dismiss';
  banner.addEventListener('click', () => { banner.hidden = true; });
  for (const b of document.querySelectorAll<HTMLButtonElement>('[data-tab]')) b.addEventListener('click', () => selectTab(s, b.dataset.tab!));
  byId('btn-camera').addEventListener('click', () => (s.stream ? stopCamera(s) : void startCamera(s)));
  mirrorBox.addEventListener('change', () => {
    video.classList.toggle('mirror', mirrorBox.checked);
    redrawOverlay(s);
  });
  video.classList.toggle('mirror', mirrorBox.checked);
  byId<HTMLSelectElement>('sel-halflife').addEventListener('change', (e) => {
    const halfLifeMs = Number((e.target as HTMLSelectElement).value);
    void s.analyzer?.setLiveOptions({ smoothing: { halfLifeMs } }).then(() => s.views.timeline.clear());
  });
  new ResizeObserver(() => redrawOverlay(s)).observe(video);
}

// ---- start-up -------------------------------------------------------------------------------------------------
function progressText(e: ModelLoadEvent): string {
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
  const camera = startCamera(s);
  const worker = new Worker(new URL('./analyzer.worker.ts', import.meta.url), { type: 'module', name: 'ferkit-analyzer' });
  const a = connectAnalyzer(worker);
  let info: WebAnalyzerInfo;
  try {
    const backend = (s.params.get('backend') ?? 'auto') as WebBackend;
    const threads = s.params.has('threads') ? Number(s.params.get('threads')) : undefined;
    const classifier = s.params.get('classifier') ?? undefined;
    info = await a.init({ backend, threads, classifier, modelsUrl: new URL('models/', location.href).href, wasmPaths: new URL('ort/', location.href).href },
      (e) => {
        // Before the first ready: the status pill; later loads (the photo detector) show in the photo tab.
        if (!stats.ready) backendEl.textContent = progressText(e);
        else if (e.type !== 'ready') byId('photo-progress').textContent = progressText(e);
      });
  } catch (err) {
    const code = err instanceof FerkitError ? ` (${err.code})` : '';
    error(s, `The models could not be loaded${code}: ${(err as Error).message}`);
    backendEl.textContent = 'models failed';
    return;
  }
  s.info = info;
  s.analyzer = a;
  stats.ready = true;
  stats.backend = info.backend;
  stats.threads = info.threads;
  stats.modelsReadyMs = performance.now();
  backendEl.textContent = `${info.backend.toUpperCase()}${info.backend === 'wasm' ? ` · ${info.threads} thread${info.threads > 1 ? 's' : ''}` : ''}`;
  backendEl.title = [`classifier ${info.models.classifier}`, `detector ${info.models.liveDetector}`, `models loaded in ${info.loadMs.toFixed(0)} ms`, ...info.notes].join('\n');
  if (info.notes.length && !info.crossOriginIsolated) showBanner(s, 'info', info.notes.join('; '));
  await camera;
}

/**
 * Starts the dashboard on the current page: creates its {@link AppState} (exposing `stats` as `window.ferkitStats`),
 * wires the DOM and boots the analyzer and camera. Call once per page.
 */
function startApp(): AppState {
  const stats: FerkitStats = {
    ready: false, backend: null, threads: null, crossOriginIsolated: globalThis.crossOriginIsolated === true, modelsReadyMs: null,
    cameraReadyMs: null, firstResultMs: null, firstFaceMs: null, frames: 0, framesWithFace: 0, fps: 0, workerMs: 0, lastLabels: [],
    errors: [], cameraError: null,
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
      cards: new FaceCards(byId('cards')),
      timeline: new RollingTimeline(60, 100),
      liveChart: new ValenceChart(byId('live-chart'), 200, { xLabel: 's' }),
      monitor: new MonitorView(
        () => ({ ...(s.info ? { classifier: s.info.models.classifier, detector: s.info.models.liveDetector, backend: s.info.backend } : {}) }),
        (n) => showBanner(s, 'warn', `⚠ ${n.message.replace(/</g, '&lt;')}`),
      ),
      photos: new PhotosView(() => s.analyzer),
    },
    analyzer: null,
    info: null,
    lastFrame: null,
    activeTab: 'live',
    lastChart: 0,
    recent: [],
    inFlight: 0,
    grabbing: false,
    running: false,
    stream: null,
    lastTMs: 0,
  };
  wireControls(s);
  void boot(s);
  return s;
}

startApp();
