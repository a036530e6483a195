/**
 * A monitoring session: per-person timelines of the smoothed expression and valence, a notice when someone stays
 * negative longer than a threshold, and export as CSV or JSON. Pure data (no DOM), so it is unit-tested in Node.
 * Times are milliseconds since the session started (the frames' own timestamps), plus wall-clock ISO strings.
 */
// Pure modules (session, csv, timeline, labels) import the library source by path, so that they also load in Node tests.
import { EXPRESSIONS, type Expression, type ExpressionProbabilities, type Valence } from '../../src/core/labels.js';
import type { Box } from '../../src/core/types.js';
import type { LiveFrame } from '../../src/web/live.js';
import { toCsv } from './csv.js';
import { shownLabel } from './labels.js';

/** Options of a session. */
export interface SessionSettings {
  /** A notice is raised when a person's smoothed valence stays negative for this many seconds. */
  negativeThresholdS: number;
  /** One sample per person (and one group sample) is kept at most this often, ms. Streaks use every frame. */
  sampleEveryMs: number;
  /** A person unseen for longer than this (ms) starts a new streak when seen again. */
  gapMs: number;
}

export const DEFAULT_SESSION_SETTINGS: Readonly<SessionSettings> = Object.freeze({ negativeThresholdS: 10, sampleEveryMs: 250, gapMs: 2000 });

/** One kept observation of a person. */
export interface PersonSample {
  tMs: number;
  /** Displayed label (smoothed probabilities + hysteresis) and its smoothed probability. */
  label: Expression;
  labelScore: number;
  valence: Valence;
  /** P(positive) − P(negative) of the smoothed probabilities, in [−1, 1]. */
  valenceScore: number;
  /** Smoothed probabilities over the 7 expressions. */
  probabilities: ExpressionProbabilities;
  /** Unsmoothed argmax of this frame. */
  rawLabel: Expression;
  box: Box;
}

/** A person (a track) in the session. */
export interface PersonRecord {
  trackId: number;
  firstSeenMs: number;
  lastSeenMs: number;
  /** Time observed: sum of gaps between consecutive sightings shorter than `gapMs`. */
  observedMs: number;
  /** Time of that observed time spent negative. */
  negativeMs: number;
  longestNegativeMs: number;
  /** Start of the current negative streak, or null. */
  negativeSinceMs: number | null;
  /** Whether the current streak already raised its notice. */
  noticed: boolean;
  samples: PersonSample[];
  /** Last sample kept (for `sampleEveryMs`). */
  lastSampleMs: number;
  current: { label: Expression; valence: Valence; valenceScore: number } | null;
}

/** A notice: someone stayed negative longer than the threshold. */
export interface SessionNotice {
  tMs: number;
  at: string;
  trackId: number;
  /** How long the streak had lasted when the notice was raised, ms. */
  negativeForMs: number;
  thresholdS: number;
  message: string;
}

/** One group sample: the mean valence score of the faces in view. */
export interface GroupSample { tMs: number; faces: number; valenceScore: number | null }

/** The JSON export. */
export interface SessionExport {
  format: 'ferkit-session/1';
  startedAt: string;
  endedAt: string | null;
  durationMs: number;
  settings: SessionSettings;
  models: Record<string, unknown>;
  note: string;
  people: Omit<PersonRecord, 'negativeSinceMs' | 'noticed' | 'lastSampleMs' | 'current'>[];
  group: GroupSample[];
  notices: SessionNotice[];
}

const fmtS = (ms: number): string => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;

/** A monitoring session fed with live frames. */
export class MonitorSession {
  readonly settings: SessionSettings;
  readonly people = new Map<number, PersonRecord>();
  readonly group: GroupSample[] = [];
  readonly notices: SessionNotice[] = [];
  private readonly startPerfMs: number;
  private readonly startWall: number;
  private endPerfMs: number | null = null;
  private lastGroupMs = -Infinity;
  private lastFrameMs = 0;

  /**
   * @param startPerfMs - `performance.now()` when the session starts (frames carry the same clock).
   * @param startWallMs - `Date.now()` at the same moment, for ISO times in exports.
   */
  constructor(settings: Partial<SessionSettings>, startPerfMs: number, startWallMs: number, readonly models: Record<string, unknown> = {}) {
    this.settings = { ...DEFAULT_SESSION_SETTINGS, ...settings };
    if (!(this.settings.negativeThresholdS > 0)) throw new RangeError(`negativeThresholdS must be > 0, got ${this.settings.negativeThresholdS}`);
    this.startPerfMs = startPerfMs;
    this.startWall = startWallMs;
  }

  get running(): boolean {
    return this.endPerfMs === null;
  }

  /** Milliseconds since the start (up to the stop, once stopped). */
  elapsedMs(nowPerfMs: number): number {
    return (this.endPerfMs ?? nowPerfMs) - this.startPerfMs;
  }

  /** Changes the threshold; streaks already past it raise their notice on the next frame. */
  setThreshold(seconds: number): void {
    if (!(seconds > 0)) throw new RangeError(`threshold must be > 0 s, got ${seconds}`);
    this.settings.negativeThresholdS = seconds;
  }

  isoAt(tMs: number): string {
    return new Date(this.startWall + tMs).toISOString();
  }

  /**
   * Adds a frame (ignored once stopped, or if older than the previous one).
   * @returns the notices this frame raised.
   */
  add(frame: LiveFrame): SessionNotice[] {
    if (!this.running) return [];
    const t = frame.timestampMs - this.startPerfMs;
    if (t < 0 || t < this.lastFrameMs) return [];
    this.lastFrameMs = t;
    const raised: SessionNotice[] = [];
    const { gapMs, sampleEveryMs } = this.settings;
    const thresholdMs = this.settings.negativeThresholdS * 1000;
    let sum = 0;
    for (const face of frame.faces) {
      const s = face.smoothed;
      const shown = shownLabel(face);
      sum += s.valenceScore;
      let p = this.people.get(face.trackId);
      if (!p) {
        p = {
          trackId: face.trackId, firstSeenMs: t, lastSeenMs: t, observedMs: 0, negativeMs: 0, longestNegativeMs: 0,
          negativeSinceMs: null, noticed: false, samples: [], lastSampleMs: -Infinity, current: null,
        };
        this.people.set(face.trackId, p);
      }
      const dt = t - p.lastSeenMs;
      const continuous = dt <= gapMs;
      if (continuous) {
        p.observedMs += dt;
        if (p.current?.valence === 'negative') p.negativeMs += dt;
      }
      if (s.valence === 'negative') {
        if (p.negativeSinceMs === null || !continuous) {
          p.negativeSinceMs = t;
          p.noticed = false;
        }
        const streak = t - p.negativeSinceMs;
        p.longestNegativeMs = Math.max(p.longestNegativeMs, streak);
        if (!p.noticed && streak >= thresholdMs) {
          p.noticed = true;
          const n: SessionNotice = {
            tMs: t, at: this.isoAt(t), trackId: p.trackId, negativeForMs: streak, thresholdS: this.settings.negativeThresholdS,
            message: `Person ${p.trackId} has shown a negative expression for ${fmtS(streak)} (threshold ${this.settings.negativeThresholdS} s).`,
          };
          this.notices.push(n);
          raised.push(n);
        }
      } else {
        p.negativeSinceMs = null;
        p.noticed = false;
      }
      p.lastSeenMs = t;
      p.current = { label: shown.label, valence: s.valence, valenceScore: s.valenceScore };
      if (t - p.lastSampleMs >= sampleEveryMs) {
        p.lastSampleMs = t;
        p.samples.push({
          tMs: t, label: shown.label, labelScore: shown.score, valence: s.valence, valenceScore: s.valenceScore,
          probabilities: s.probabilities, rawLabel: face.label, box: face.box,
        });
      }
    }
    if (t - this.lastGroupMs >= sampleEveryMs) {
      this.lastGroupMs = t;
      this.group.push({ tMs: t, faces: frame.faces.length, valenceScore: frame.faces.length ? sum / frame.faces.length : null });
    }
    return raised;
  }

  /** Stops recording (later frames are ignored). */
  stop(nowPerfMs: number): void {
    if (this.endPerfMs === null) this.endPerfMs = nowPerfMs;
  }

  /** The session as plain JSON data. */
  toJSON(nowPerfMs: number = this.endPerfMs ?? this.startPerfMs + this.lastFrameMs): SessionExport {
    return {
      format: 'ferkit-session/1',
      startedAt: new Date(this.startWall).toISOString(),
      endedAt: this.endPerfMs === null ? null : this.isoAt(this.endPerfMs - this.startPerfMs),
      durationMs: this.elapsedMs(nowPerfMs),
      settings: { ...this.settings },
      models: this.models,
      note: 'Computed in the browser; no frame left the device. Labels are facial displays, not felt emotions; track IDs are not identities.',
      people: [...this.people.values()].map(({ negativeSinceMs: _a, noticed: _b, lastSampleMs: _c, current: _d, ...rest }) => rest),
      group: [...this.group],
      notices: [...this.notices],
    };
  }

  /**
   * The per-person samples as CSV: `t_ms, time, track_id, label, label_score, valence, valence_score, raw_label,
   * x, y, width, height, p_<expression>…` (smoothed probabilities at full precision, box in video pixels).
   */
  toCSV(): string {
    const header = ['t_ms', 'time', 'track_id', 'label', 'label_score', 'valence', 'valence_score', 'raw_label', 'x', 'y', 'width', 'height',
      ...EXPRESSIONS.map((e) => `p_${e}`)];
    const rows: (string | number)[][] = [];
    for (const p of this.people.values()) {
      for (const s of p.samples) {
        rows.push([s.tMs, this.isoAt(s.tMs), p.trackId, s.label, s.labelScore, s.valence, s.valenceScore, s.rawLabel,
          s.box.x, s.box.y, s.box.width, s.box.height, ...EXPRESSIONS.map((e) => s.probabilities[e])]);
      }
    }
    rows.sort((a, b) => (a[0] as number) - (b[0] as number) || (a[2] as number) - (b[2] as number));
    return toCsv([header, ...rows]);
  }
}
