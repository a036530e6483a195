/**
 * A video file in the Photos tab: played muted in the page at normal speed; the frames the worker can keep up with
 * go through a video stream of their own in the worker (tracking and smoothing as `ferkit video`, separate from the
 * camera's tracks), timed by the file's media time. At the end, the summary per person as `ferkit video` prints it.
 * Nothing is uploaded.
 */
import type { VideoSummary, WorkerAnalyzer } from 'ferkit/web';
import { EXPRESSION_COLORS, byId, clock, el, pct, swatch, trackChip } from './ui.js';

/** Frames larger than this (longer side, px) are analysed shrunk (boxes come back in the shrunk frame's pixels). */
const MAX_SIDE = 1280;
/** Tracks shorter than this (ms) are listed apart as brief detections (a spurious box for a frame or two). */
const BRIEF_MS = 500;

export class VideoFileView {
  private readonly input = byId<HTMLInputElement>('video-file-input');
  private readonly status = byId('video-file-status');
  private readonly progress = byId<HTMLProgressElement>('video-file-progress');
  private readonly video = byId<HTMLVideoElement>('video-file');
  private readonly table = byId<HTMLTableElement>('video-summary');
  private busy = false;
  private waiting: (() => void) | null = null;

  /** @param analyzer - the page's worker analyzer, null until its models are loaded. */
  constructor(private readonly analyzer: () => WorkerAnalyzer | null) {
    byId('btn-video-file').addEventListener('click', () => this.input.click());
    this.input.addEventListener('change', () => {
      const file = this.input.files?.[0];
      this.input.value = '';
      if (file) void this.run(file);
    });
  }

  /** The models are loaded (a file chosen before that starts now). */
  modelsReady(): void {
    this.waiting?.();
    this.waiting = null;
  }

  private async run(file: File): Promise<void> {
    if (this.busy) {
      this.status.textContent = 'A video is being analysed: wait for its summary.';
      return;
    }
    this.busy = true;
    this.table.hidden = true;
    const url = URL.createObjectURL(file);
    try {
      if (!this.analyzer()) {
        this.status.textContent = `${file.name}: waiting for the models to load…`;
        await new Promise<void>((ok) => { this.waiting = ok; });
      }
      const a = this.analyzer()!;
      const { video } = this;
      video.src = url;
      await new Promise<void>((ok, fail) => {
        video.onloadedmetadata = () => ok();
        video.onerror = () => fail(new Error(`${file.name}: this browser cannot play it as a video (E_DECODE)`));
      });
      const duration = video.duration;
      this.progress.hidden = false;
      this.progress.max = Number.isFinite(duration) ? duration : 1;
      this.progress.value = 0;
      video.hidden = false;
      const stream = await a.openVideoStream();
      let inFlight = 0;
      let lastT = -1;
      let frames = 0;
      let faces = 0;
      const pending = new Set<Promise<unknown>>();
      const onFrame = (_now: number, meta: VideoFrameCallbackMetadata): void => {
        if (!video.ended) video.requestVideoFrameCallback(onFrame);
        const tMs = meta.mediaTime * 1000;
        this.progress.value = meta.mediaTime;
        if (inFlight >= 2 || tMs <= lastT) return; // the worker is busy: this frame is skipped
        lastT = tMs;
        inFlight++;
        const p = createImageBitmap(video)
          .then((bitmap) => stream.frame(bitmap, tMs, MAX_SIDE))
          .then((r) => {
            frames++;
            faces += r.faces.length;
            this.status.textContent = `${file.name}: ${clock(tMs)} of ${clock(duration * 1000)}, ${frames} frames analysed`;
          })
          .catch(() => undefined)
          .finally(() => { inFlight--; pending.delete(p); });
        pending.add(p);
      };
      video.requestVideoFrameCallback(onFrame);
      const ended = new Promise<void>((ok) => { video.onended = () => ok(); });
      await video.play();
      await ended;
      await Promise.all([...pending]);
      const summary = await stream.end(Math.max(lastT, (Number.isFinite(duration) ? duration : 0) * 1000));
      this.progress.value = this.progress.max;
      const people = summary.tracks.filter((t) => t.durationMs >= BRIEF_MS).length;
      const brief = summary.tracks.length - people;
      this.status.textContent = `${file.name}: ${summary.frames} frames analysed (${summary.framesWithFaces} with a face), `
        + `${people} ${people === 1 ? 'person' : 'people'}${brief ? ` (+${brief} brief detection${brief > 1 ? 's' : ''} under ${BRIEF_MS / 1000} s)` : ''}, ${clock(summary.durationMs)}.`;
      this.render(summary);
    } catch (err) {
      this.status.textContent = (err as Error).message;
    } finally {
      this.video.removeAttribute('src');
      this.video.load();
      this.video.hidden = true;
      URL.revokeObjectURL(url);
      this.busy = false;
    }
  }

  private render(s: VideoSummary): void {
    const body = this.table.tBodies[0]!;
    const rows = s.tracks.map((t) => {
      const tr = el('tr');
      if (t.durationMs < BRIEF_MS) tr.className = 'brief muted';
      const who = el('td');
      who.append(trackChip(t.trackId));
      if (t.durationMs < BRIEF_MS) who.append(' ', el('span', 'small', 'brief detection'));
      const cell = (label: string, text: string): HTMLTableCellElement => {
        const td = el('td', '', text);
        td.dataset.label = label;
        return td;
      };
      const most = cell('Most shown', '');
      if (t.dominant) most.append(swatch(EXPRESSION_COLORS[t.dominant as keyof typeof EXPRESSION_COLORS] ?? '#888'), `${t.dominant} ${pct(t.shares[t.dominant] ?? 0)}`);
      const shares = Object.entries(t.shares).filter(([, v]) => v >= 0.05).sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k} ${pct(v)}`).join(', ');
      tr.append(
        who,
        cell('In view', `${clock(t.firstMs)}–${clock(t.lastMs)} (${(t.durationMs / 1000).toFixed(1)} s)`),
        most,
        cell('Mean valence', t.meanValence === null ? '–' : `${t.meanValence >= 0 ? '+' : ''}${t.meanValence.toFixed(2)}`),
        cell('Shares', shares),
      );
      return tr;
    });
    if (rows.length === 0) {
      const tr = el('tr');
      const td = el('td', 'muted', 'No face was found in the frames analysed.');
      td.colSpan = 5;
      tr.append(td);
      rows.push(tr);
    }
    body.replaceChildren(...rows);
    this.table.hidden = false;
  }
}
