/**
 * The ferkit dashboard: webcam → worker (detect, classify, track, smooth) → overlay, face cards, timeline; a
 * monitoring session; a photo batch tab. Query parameters: `?backend=wasm|webgpu|auto`, `?threads=N`.
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

const stats: FerkitStats = {
  ready: false, backend: null, threads: null, crossOriginIsolated: globalThis.crossOriginIsolated === true, modelsReadyMs: null,
  cameraReadyMs: null, firstResultMs: null, firstFaceMs: null, frames: 0, framesWithFace: 0, fps: 0, workerMs: 0, lastLabels: [],
  errors: [], cameraError: null,
};
window.ferkitStats = stats;

const params = new URLSearchParams(location.search);
const video = byId<HTMLVideoElement>('video');
const overlay = byId<HTMLCanvasElement>('overlay');
const banner = byId('banner');
const cameraMsg = byId('camera-message');
const mirrorBox = byId<HTMLInputElement>('chk-mirror');
const app = byId('app');

let analyzer: WorkerAnalyzer | null = null;
let info: WebAnalyzerInfo | null = null;
let lastFrame: LiveFrame | null = null;
let activeTab = 'live';

function showBanner(kind: 'error' | 'warn' | 'info', html: string): void {
  banner.hidden = false;
  banner.className = `banner ${kind}`;
  banner.innerHTML = html;
}

banner.title = 'click to dismiss';
banner.addEventListener('click', () => { banner.hidden = true; });

function error(message: string): void {
  stats.errors.push(message);
  showBanner('error', message.replace(/</g, '&lt;'));
}

// ---- tabs -----------------------------------------------------------------------------------------------------
function selectTab(tab: string): void {
  activeTab = tab;
  app.className = `layout-${tab}`;
  for (const b of document.querySelectorAll<HTMLButtonElement>('[data-tab]')) b.setAttribute('aria-selected', String(b.dataset.tab === tab));
  byId('stage').hidden = tab === 'photos';
  byId('tab-live').hidden = tab !== 'live';
  byId('tab-live-chart').hidden = tab !== 'live';
  byId('tab-monitor').hidden = tab !== 'monitor';
  byId('tab-photos').hidden = tab !== 'photos';
  if (tab === 'monitor') monitor.render(true);
  requestAnimationFrame(() => drawOverlay(overlay, video, lastFrame, mirrorBox.checked));
}
for (const b of document.querySelectorAll<HTMLButtonElement>('[data-tab]')) b.addEventListener('click', () => selectTab(b.dataset.tab!));

// ---- views ----------------------------------------------------------------------------------------------------
const cards = new FaceCards(byId('cards'));
const timeline = new RollingTimeline(60, 100);
const liveChart = new ValenceChart(byId('live-chart'), 200, { xLabel: 's' });
const monitor = new MonitorView(
  () => ({ ...(info ? { classifier: info.models.classifier, detector: info.models.liveDetector, backend: info.backend } : {}) }),
  (n) => showBanner('warn', `⚠ ${n.message.replace(/</g, '&lt;')}`),
);
const photos = new PhotosView(() => analyzer);
let lastChart = 0;

function renderLiveChart(): void {
  const d = timeline.data();
  liveChart.update(d.xs, [
    ...[...d.tracks.entries()].map(([id, values]) => ({ spec: { key: `t${id}`, label: `Person ${id}`, color: trackColor(id) }, values })),
    { spec: { key: 'group', label: 'group', color: '#e6edf3', width: 3 }, values: d.group },
  ]);
}

// ---- status ---------------------------------------------------------------------------------------------------
const recent: { t: number; ms: number }[] = [];
function onResult(frame: LiveFrame, timings: WorkerFrameTimings): void {
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
  lastFrame = frame;
  timeline.push(frame);
  monitor.add(frame);
  if (activeTab !== 'photos') {
    drawOverlay(overlay, video, frame, mirrorBox.checked);
    cards.update(frame, now);
  }
  if (activeTab === 'live' && now - lastChart > 250) {
    lastChart = now;
    renderLiveChart();
  }
  const fpsEl = byId('stat-fps');
  fpsEl.textContent = `${stats.fps.toFixed(1)} fps`;
  fpsEl.dataset.fps = stats.fps.toFixed(2);
  byId('stat-ms').textContent = `${stats.workerMs.toFixed(0)} ms/frame`;
  if (stats.frames === 1) byId('stat-first').textContent = `first result ${(now / 1000).toFixed(1)} s after page load`;
}

// ---- camera + frame loop --------------------------------------------------------------------------------------
const MAX_IN_FLIGHT = 2;
let inFlight = 0;
let grabbing = false;
let running = false;
let stream: MediaStream | null = null;
let lastTMs = 0;

function scheduleFrame(): void {
  if (!running) return;
  if ('requestVideoFrameCallback' in video) video.requestVideoFrameCallback(() => void tick());
  else requestAnimationFrame(() => void tick());
}

async function tick(): Promise<void> {
  scheduleFrame();
  const paused = activeTab === 'photos' && !monitor.session?.running;
  if (!analyzer || paused || grabbing || inFlight >= MAX_IN_FLIGHT || video.readyState < 2 || !video.videoWidth) return;
  grabbing = true;
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(video);
  } catch {
    grabbing = false;
    return; // e.g. the stream ended between the check and the grab
  }
  const t = Math.max(performance.now(), lastTMs + 0.001);
  lastTMs = t;
  grabbing = false;
  inFlight++;
  analyzer.analyzeFrame(bitmap, t)
    .then(({ result, timings }) => onResult(result, timings))
    .catch((err: unknown) => {
      if (stats.errors.length < 5) error(`Analysis failed: ${(err as Error).message}`);
    })
    .finally(() => { inFlight--; });
}

async function startCamera(): Promise<void> {
  cameraMsg.hidden = true;
  if (!navigator.mediaDevices?.getUserMedia) {
    const m = cameraErrorMessage(new TypeError('no mediaDevices'));
    stats.cameraError = m.kind;
    cameraMsg.textContent = m.message;
    cameraMsg.hidden = false;
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 }, facingMode: 'user' },
    });
  } catch (err) {
    const m = cameraErrorMessage(err);
    stats.cameraError = m.kind;
    cameraMsg.textContent = m.message;
    cameraMsg.hidden = false;
    byId<HTMLButtonElement>('btn-camera').textContent = 'Try camera again';
    return;
  }
  video.srcObject = stream;
  await video.play();
  stats.cameraReadyMs = performance.now();
  byId<HTMLButtonElement>('btn-camera').textContent = 'Stop camera';
  running = true;
  scheduleFrame();
}

function stopCamera(): void {
  running = false;
  for (const t of stream?.getTracks() ?? []) t.stop();
  stream = null;
  video.srcObject = null;
  lastFrame = null;
  drawOverlay(overlay, video, null, mirrorBox.checked);
  byId<HTMLButtonElement>('btn-camera').textContent = 'Start camera';
}

byId('btn-camera').addEventListener('click', () => (stream ? stopCamera() : void startCamera()));
mirrorBox.addEventListener('change', () => {
  video.classList.toggle('mirror', mirrorBox.checked);
  drawOverlay(overlay, video, lastFrame, mirrorBox.checked);
});
video.classList.toggle('mirror', mirrorBox.checked);
byId<HTMLSelectElement>('sel-halflife').addEventListener('change', (e) => {
  const halfLifeMs = Number((e.target as HTMLSelectElement).value);
  void analyzer?.setLiveOptions({ smoothing: { halfLifeMs } }).then(() => timeline.clear());
});
new ResizeObserver(() => drawOverlay(overlay, video, lastFrame, mirrorBox.checked)).observe(video);

// ---- start-up -------------------------------------------------------------------------------------------------
function progressText(e: ModelLoadEvent): string {
  if (e.type === 'ready') return `${e.file} ready${e.fromCache ? ' (cached)' : ''}`;
  if (e.type === 'fetch') return `loading ${e.file}…`;
  return `loading ${e.file} ${e.total ? `${Math.round((100 * e.loaded) / e.total)}%` : `${(e.loaded / 1e6).toFixed(1)} MB`}`;
}

async function main(): Promise<void> {
  const support = checkBrowserSupport();
  if (support.blocking.length) {
    showBanner('error', `<strong>This browser cannot run ferkit:</strong> ${support.blocking.join('; ')}. `
      + 'Use a current Chrome, Edge, Firefox or Safari.');
    byId('stat-backend').textContent = 'unsupported browser';
    stats.errors.push(...support.blocking);
    return;
  }
  const backendEl = byId('stat-backend');
  const camera = startCamera();
  const worker = new Worker(new URL('./analyzer.worker.ts', import.meta.url), { type: 'module', name: 'ferkit-analyzer' });
  const a = connectAnalyzer(worker);
  try {
    const backend = (params.get('backend') ?? 'auto') as WebBackend;
    const threads = params.has('threads') ? Number(params.get('threads')) : undefined;
    info = await a.init({ backend, threads, modelsUrl: new URL('models/', location.href).href, wasmPaths: new URL('ort/', location.href).href },
      (e) => {
        // Before the first ready: the status pill; later loads (the photo detector) show in the photo tab.
        if (!stats.ready) backendEl.textContent = progressText(e);
        else if (e.type !== 'ready') byId('photo-progress').textContent = progressText(e);
      });
  } catch (err) {
    const code = err instanceof FerkitError ? ` (${err.code})` : '';
    error(`The models could not be loaded${code}: ${(err as Error).message}`);
    backendEl.textContent = 'models failed';
    return;
  }
  analyzer = a;
  stats.ready = true;
  stats.backend = info.backend;
  stats.threads = info.threads;
  stats.modelsReadyMs = performance.now();
  backendEl.textContent = `${info.backend.toUpperCase()}${info.backend === 'wasm' ? ` · ${info.threads} thread${info.threads > 1 ? 's' : ''}` : ''}`;
  backendEl.title = [`classifier ${info.models.classifier}`, `detector ${info.models.liveDetector}`, `models loaded in ${info.loadMs.toFixed(0)} ms`, ...info.notes].join('\n');
  if (info.notes.length && !info.crossOriginIsolated) showBanner('info', info.notes.join('; '));
  await camera;
}

void main();
