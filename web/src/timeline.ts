/**
 * A rolling window of live valence values per track and for the group (pure data, unit-tested in Node).
 */
import type { LiveFrame } from '../../src/web/live.js';

/** Aligned arrays for a chart: times (s) and one value array per track plus the group mean. */
export interface TimelineData { xs: number[]; group: (number | null)[]; tracks: Map<number, (number | null)[]> }

/** Keeps the last `windowS` seconds of valence scores, one point per `stepMs` at most. */
export class RollingTimeline {
  private readonly points: { t: number; group: number | null; tracks: Map<number, number> }[] = [];
  private t0: number | null = null;

  constructor(readonly windowS = 60, readonly stepMs = 100) {}

  /** Adds a frame (its smoothed valence scores). */
  push(frame: LiveFrame): void {
    const t0 = (this.t0 ??= frame.timestampMs);
    const last = this.points[this.points.length - 1];
    if (last && frame.timestampMs - (t0 + last.t * 1000) < this.stepMs) return;
    const tracks = new Map<number, number>();
    let sum = 0;
    for (const f of frame.faces) {
      tracks.set(f.trackId, f.smoothed.valenceScore);
      sum += f.smoothed.valenceScore;
    }
    const t = (frame.timestampMs - t0) / 1000;
    this.points.push({ t, group: frame.faces.length ? sum / frame.faces.length : null, tracks });
    while (this.points.length && this.points[0]!.t < t - this.windowS) this.points.shift();
  }

  /** The window as aligned arrays; tracks in id order. */
  data(): TimelineData {
    const ids = new Set<number>();
    for (const p of this.points) for (const id of p.tracks.keys()) ids.add(id);
    const tracks = new Map<number, (number | null)[]>();
    for (const id of [...ids].sort((a, b) => a - b)) tracks.set(id, this.points.map((p) => p.tracks.get(id) ?? null));
    return { xs: this.points.map((p) => p.t), group: this.points.map((p) => p.group), tracks };
  }

  clear(): void {
    this.points.length = 0;
    this.t0 = null;
  }
}
