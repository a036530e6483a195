/**
 * Multi-face tracking by box association: each track carries its box and a constant-velocity motion model (an
 * alpha-beta filter on the box centre and size, in pixels per millisecond). Detections are matched to the tracks'
 * predicted boxes greedily by IoU, then, for what is left, by centre distance (fast motion, low frame rates); a track
 * that neither pass matched gets the same two passes with the box where it was last detected (a wrong velocity, e.g.
 * from frame timestamps that do not match the frames' content, then restarts the motion model instead of splitting
 * the track).
 * Tracks that go unmatched keep their id for up to `maxAgeMs`; after that a returning face gets a new id.
 * Time comes from the caller (ms), so behaviour does not depend on the frame rate. No appearance model: two faces
 * that swap places while hidden can swap ids.
 */
import { FerkitError, numberIn } from './errors.js';
import type { Box } from './types.js';

/** Options of {@link FaceTracker}. Validated once, in the constructor. */
export interface TrackerOptions {
  /** Minimum IoU, in [0, 1], between a track's predicted box and a detection for the first matching pass (and its last-detected box in the fallback pass). Default 0.2. */
  minIou?: number;
  /**
   * Second pass, for pairs the IoU pass left: a detection whose centre lies within this many box sides (the track's
   * mean of width and height) of the predicted centre (then, as a fallback, the last-detected centre), with a size ratio within 2×, is matched. In [0, 10]; 0 turns
   * the pass off. Default 0.75.
   */
  maxCentreShift?: number;
  /** A track not matched to any detection for longer than this many ms is dropped (in [0, 600 000]). Default 1000. */
  maxAgeMs?: number;
  /**
   * Velocity gain β of the alpha-beta filter, in [0, 1]: 0 = no motion model (predict the last box). Default 0.5.
   * (A track's velocity is set outright by the first detection at least `MIN_MOTION_DT_MS` after the previous one, and
   * again after a match through its last-detected box (the fallback pass); β applies from then on; closer detections
   * update the position only.)
   */
  velocityGain?: number;
  /**
   * Position gain α, in [0.01, 1]: how far a matched track's box moves from its prediction to the detection.
   * Default 1 (the track's box is the detector's box; the motion model only predicts).
   */
  positionGain?: number;
}

/** Box centre, size and their rates of change. */
interface Motion { cx: number; cy: number; w: number; h: number; vx: number; vy: number; vw: number; vh: number }

/** A live track. `T` is the detection type the tracker is fed (anything with a `box`). */
export interface Track<T extends { box: Box } = { box: Box }> {
  /** Stable id, from 1 upwards, unique within one tracker. */
  readonly id: number;
  /** The track's box at `lastDetectedMs` (pixels). */
  readonly box: Box;
  /** Rates of change of the box centre and size, px/ms. */
  readonly velocity: { x: number; y: number; width: number; height: number };
  /** The last detection matched to this track. */
  readonly last: T;
  readonly firstSeenMs: number;
  readonly lastDetectedMs: number;
  /** Number of detections matched so far. */
  readonly hits: number;
  /**
   * Detections behind the current motion model: counts like `hits` from the track's first detection, and starts again
   * at 2 (the last-detected box and the new detection) when a match through the last-detected box (the fallback pass)
   * restarts the model. Detections under `MIN_MOTION_DT_MS` apart count too, though they leave the velocity alone (a
   * stricter count would never let a track be followed above 50 fps with the detector on every frame).
   */
  readonly motionHits: number;
}

/** The result of {@link FaceTracker.update}. */
export interface TrackerUpdate<T> {
  /** One entry per detection, in input order: the id of the track it was assigned to (`isNew` for a track it started). */
  assigned: { trackId: number; detection: T; isNew: boolean }[];
  /** Live tracks that no detection matched this time (they keep their id until `maxAgeMs`). */
  missed: number[];
  /** Tracks dropped this time because they went unmatched for longer than `maxAgeMs`. */
  dropped: number[];
}

/** Intersection over union of two boxes (0 when either is empty). */
export function boxIou(a: Box, b: Box): number {
  const ix = Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x));
  const iy = Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y));
  const inter = ix * iy;
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}

/** The motion state `m` without its velocity (the box where it is, not moving). */
const atRest = (m: Motion): Motion => ({ ...m, vx: 0, vy: 0, vw: 0, vh: 0 });

const toBox = (m: Pick<Motion, 'cx' | 'cy' | 'w' | 'h'>): Box => ({ x: m.cx - m.w / 2, y: m.cy - m.h / 2, width: m.w, height: m.h });

interface TrackState<T> {
  id: number; m: Motion; last: T; firstSeenMs: number; lastDetectedMs: number; hits: number; motionHits: number;
  /** Whether a velocity was measured yet (from two detections at least MIN_MOTION_DT_MS apart). */
  moving: boolean;
}

/**
 * Detections closer in time than this (ms) update a track's position but not its velocity: their difference is box
 * noise, not motion (two frames sent back to back under load gave 3 px / 2 ms = 1,500 px/s and a lost track).
 */
export const MIN_MOTION_DT_MS = 20;

/**
 * Tracks boxes over time. Feed it every detector run with {@link update}; ask {@link predict} for the boxes between
 * runs. Timestamps (ms) must not decrease.
 * @example
 * const tracker = new FaceTracker<FaceDetection>({ maxAgeMs: 1000 });
 * const { assigned } = tracker.update(await detector.detect(frame), tMs);
 * for (const a of assigned) console.log(a.trackId, a.detection.box);
 */
export class FaceTracker<T extends { box: Box } = { box: Box }> {
  readonly options: Readonly<Required<TrackerOptions>>;
  private readonly live: TrackState<T>[] = [];
  private nextId = 1;
  private lastMs: number | null = null;

  /** @throws {FerkitError} `E_OPTION` naming a bad option. */
  constructor(options: TrackerOptions = {}) {
    const known = new Set(['minIou', 'maxCentreShift', 'maxAgeMs', 'velocityGain', 'positionGain']);
    for (const k of Object.keys(options)) if (!known.has(k)) throw new FerkitError('E_OPTION', `unknown tracker option '${k}' (known: ${[...known].join(', ')})`);
    this.options = Object.freeze({
      minIou: numberIn('tracker.minIou', options.minIou ?? 0.2, 0, 1),
      maxCentreShift: numberIn('tracker.maxCentreShift', options.maxCentreShift ?? 0.75, 0, 10),
      maxAgeMs: numberIn('tracker.maxAgeMs', options.maxAgeMs ?? 1000, 0, 600_000),
      velocityGain: numberIn('tracker.velocityGain', options.velocityGain ?? 0.5, 0, 1),
      positionGain: numberIn('tracker.positionGain', options.positionGain ?? 1, 0.01, 1),
    });
  }

  private checkTime(tMs: number): void {
    if (typeof tMs !== 'number' || !Number.isFinite(tMs)) {
      throw new FerkitError('E_OPTION', `tracker: timestampMs must be a finite number of milliseconds, got ${String(tMs)} (${typeof tMs})`);
    }
    if (this.lastMs !== null && tMs < this.lastMs) {
      throw new FerkitError('E_OPTION', `tracker: timestamps must not decrease, got ${tMs} ms after ${this.lastMs} ms`);
    }
  }

  private predictMotion(t: TrackState<T>, tMs: number): Motion {
    const dt = tMs - t.lastDetectedMs;
    const { m } = t;
    return {
      ...m,
      cx: m.cx + m.vx * dt,
      cy: m.cy + m.vy * dt,
      w: Math.max(1, m.w + m.vw * dt),
      h: Math.max(1, m.h + m.vh * dt),
    };
  }

  /**
   * The boxes predicted at `tMs` by each live track's motion model (no state changes). Tracks that would be older
   * than `maxAgeMs` at `tMs` are left out.
   */
  predict(tMs: number): { trackId: number; box: Box; lastDetectedMs: number }[] {
    this.checkTime(tMs);
    return this.live
      .filter((t) => tMs - t.lastDetectedMs <= this.options.maxAgeMs)
      .map((t) => ({ trackId: t.id, box: toBox(this.predictMotion(t, tMs)), lastDetectedMs: t.lastDetectedMs }));
  }

  /**
   * Associates one detector run at `tMs` with the tracks: matched tracks are corrected towards their detection,
   * unmatched detections start new tracks, and tracks unmatched for longer than `maxAgeMs` are dropped.
   * @throws {FerkitError} `E_OPTION` if `tMs` is earlier than the previous call's.
   */
  update(detections: readonly T[], tMs: number): TrackerUpdate<T> {
    this.checkTime(tMs);
    this.lastMs = tMs;
    const { minIou, maxCentreShift, maxAgeMs, velocityGain, positionGain } = this.options;
    const dropped: number[] = [];
    for (let i = this.live.length - 1; i >= 0; i--) {
      if (tMs - this.live[i]!.lastDetectedMs > maxAgeMs) dropped.unshift(...this.live.splice(i, 1).map((t) => t.id));
    }
    const predicted = this.live.map((t) => this.predictMotion(t, tMs));
    const trackOf = new Array<number>(detections.length).fill(-1);
    /** Per detection: whether its track matched through its last-detected box (passes 3–4), not its prediction. */
    const viaStill = new Array<boolean>(detections.length).fill(false);
    const taken = new Array<boolean>(this.live.length).fill(false);
    const assign = (list: { ti: number; di: number; score: number }[], higherIsBetter: boolean, still: boolean): void => {
      list.sort((a, b) => (higherIsBetter ? b.score - a.score : a.score - b.score) || a.ti - b.ti || a.di - b.di);
      for (const { ti, di } of list) {
        if (taken[ti] || trackOf[di] !== -1) continue;
        taken[ti] = true;
        trackOf[di] = ti;
        viaStill[di] = still;
      }
    };
    /** Pass 1 (3): greedy by IoU of each free track's box in `boxes` with each free detection. */
    const byIou = (boxes: readonly (Motion | null)[], still: boolean): void => {
      const pairs: { ti: number; di: number; score: number }[] = [];
      boxes.forEach((m, ti) => {
        if (m === null || taken[ti]) return;
        const pb = toBox(m);
        detections.forEach((d, di) => {
          if (trackOf[di] !== -1) return;
          const iou = boxIou(pb, d.box);
          if (iou > 0 && iou >= minIou) pairs.push({ ti, di, score: iou });
        });
      });
      assign(pairs, true, still);
    };
    /** Pass 2 (4): what is left, greedy by centre distance in units of the track's box side. */
    const byCentre = (boxes: readonly (Motion | null)[], still: boolean): void => {
      if (maxCentreShift <= 0) return;
      const near: { ti: number; di: number; score: number }[] = [];
      boxes.forEach((m, ti) => {
        if (m === null || taken[ti]) return;
        const side = (m.w + m.h) / 2;
        detections.forEach((d, di) => {
          if (trackOf[di] !== -1) return;
          const dist = Math.hypot(d.box.x + d.box.width / 2 - m.cx, d.box.y + d.box.height / 2 - m.cy) / side;
          const ratio = (d.box.width + d.box.height) / 2 / side;
          if (dist <= maxCentreShift && ratio >= 0.5 && ratio <= 2) near.push({ ti, di, score: dist });
        });
      });
      assign(near, false, still);
    };
    byIou(predicted, false);
    byCentre(predicted, false);
    // Passes 3–4, a fallback for tracks their prediction could not match: the box where the track was last detected.
    // A wrong velocity (frame timestamps that do not match the frames' content: a loaded browser hands over camera
    // frames late and back to back) can make the motion model predict a barely moving face far from where it is, and
    // the face would start a second track. Only after the prediction passes, so that two faces passing each other keep
    // their ids as before; and only for tracks whose prediction moved at all (MIN_MOTION_DT_MS or more since their
    // last detection; closer, the prediction is the last box).
    const still = this.live.map((t): Motion | null => (tMs - t.lastDetectedMs < MIN_MOTION_DT_MS ? null : atRest(t.m)));
    byIou(still, true);
    byCentre(still, true);

    // Correct matched tracks (alpha-beta filter), start new ones.
    const assigned: TrackerUpdate<T>['assigned'] = [];
    const missed: number[] = [];
    const starts: TrackState<T>[] = [];
    detections.forEach((d, di) => {
      const ti = trackOf[di]!;
      const b = d.box;
      const meas = { cx: b.x + b.width / 2, cy: b.y + b.height / 2, w: b.width, h: b.height };
      if (ti === -1) {
        const t: TrackState<T> = {
          id: this.nextId++, m: { ...meas, vx: 0, vy: 0, vw: 0, vh: 0 }, last: d, firstSeenMs: tMs, lastDetectedMs: tMs, hits: 1, motionHits: 1, moving: false,
        };
        starts.push(t);
        assigned.push({ trackId: t.id, detection: d, isNew: true });
        return;
      }
      const t = this.live[ti]!;
      // Matched through its last-detected box: the velocity was wrong, so the motion model starts again from there (this
      // detection, at least MIN_MOTION_DT_MS later, sets the velocity outright, as a track's first motion does).
      if (viaStill[di]) t.moving = false;
      const p = viaStill[di] ? still[ti]! : predicted[ti]!;
      const dt = tMs - t.lastDetectedMs;
      const r = { cx: meas.cx - p.cx, cy: meas.cy - p.cy, w: meas.w - p.w, h: meas.h - p.h };
      // The first detection far enough in time from the previous one sets the velocity outright (there was no motion to
      // go by); later ones correct it by β. Detections under MIN_MOTION_DT_MS apart leave the velocity alone.
      // velocityGain 0: no motion model at all (not even the first velocity).
      const k = velocityGain > 0 && dt >= MIN_MOTION_DT_MS ? (t.moving ? velocityGain : 1) / dt : 0;
      if (dt >= MIN_MOTION_DT_MS) t.moving = true;
      t.m = {
        cx: p.cx + positionGain * r.cx, cy: p.cy + positionGain * r.cy, w: p.w + positionGain * r.w, h: p.h + positionGain * r.h,
        vx: p.vx + k * r.cx, vy: p.vy + k * r.cy, vw: p.vw + k * r.w, vh: p.vh + k * r.h,
      };
      t.last = d;
      t.lastDetectedMs = tMs;
      t.hits++;
      t.motionHits = viaStill[di] ? 2 : t.motionHits + 1;
      assigned.push({ trackId: t.id, detection: d, isNew: false });
    });
    this.live.forEach((t, ti) => { if (!taken[ti]) missed.push(t.id); });
    this.live.push(...starts);
    return { assigned, missed, dropped };
  }

  /** The live tracks (snapshots), oldest first. */
  get tracks(): Track<T>[] {
    return this.live.map((t) => ({
      id: t.id,
      box: toBox(t.m),
      velocity: { x: t.m.vx, y: t.m.vy, width: t.m.vw, height: t.m.vh },
      last: t.last,
      firstSeenMs: t.firstSeenMs,
      lastDetectedMs: t.lastDetectedMs,
      hits: t.hits,
      motionHits: t.motionHits,
    }));
  }

  /** Forgets every track (ids keep counting up, so an id is never reused). */
  reset(): void {
    this.live.length = 0;
    this.lastMs = null;
  }
}
