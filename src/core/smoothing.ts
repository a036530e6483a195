/**
 * Temporal smoothing of per-face probabilities over video frames, driven by the caller's timestamps so that the
 * result does not depend on the frame rate:
 * - {@link ProbabilityEma}: an exponential moving average whose weight per update is `α = 1 − 2^(−Δt / halfLife)`;
 * - {@link LabelHysteresis}: a displayed label that switches only when it has been beaten by a margin for a minimum dwell
 *   time, and is marked uncertain whenever its probability is below a floor;
 * - {@link labelChangesPerSecond}: the flicker measure (label changes per second).
 * Small classes and pure functions; no module state.
 */
import { FerkitError, numberIn } from './errors.js';

/**
 * Weight of a new sample arriving `dtMs` after the previous one: `1 − 2^(−dtMs / halfLifeMs)`.
 * After one half-life the old value keeps half its weight, whatever the number of frames in between.
 * @param dtMs - time since the previous sample, ms (≥ 0).
 * @param halfLifeMs - half-life, ms (≥ 0); `0` means no smoothing (α = 1).
 * @returns α in [0, 1].
 */
export function emaAlpha(dtMs: number, halfLifeMs: number): number {
  if (halfLifeMs <= 0) return 1;
  if (dtMs <= 0) return 0;
  return 1 - 2 ** (-dtMs / halfLifeMs);
}

/** Throws `E_OPTION` unless timestamps increase strictly. */
function checkTime(name: string, tMs: number, lastMs: number | null): void {
  if (typeof tMs !== 'number' || !Number.isFinite(tMs)) {
    throw new FerkitError('E_OPTION', `${name}: timestampMs must be a finite number of milliseconds, got ${String(tMs)} (${typeof tMs})`);
  }
  if (lastMs !== null && tMs <= lastMs) {
    throw new FerkitError('E_OPTION', `${name}: timestampMs must increase from call to call, got ${tMs} ms after ${lastMs} ms`);
  }
}

/**
 * Exponential moving average of a probability record (or any record of numbers) over time.
 * Each update moves the average towards the new sample by {@link emaAlpha}`(Δt, halfLifeMs)`; the first sample is
 * taken as is. The sample is treated as holding since the previous update, so a signal that is piecewise constant
 * between common timestamps gives the same average at 10 fps and at 50 fps. A convex combination of distributions
 * that sum to 1 also sums to 1.
 * @example
 * const ema = new ProbabilityEma<Expression>(400);
 * const smoothed = ema.update(face.probabilities, frameTimeMs);
 */
export class ProbabilityEma<K extends string = string> {
  readonly halfLifeMs: number;
  private state: Record<K, number> | null = null;
  private lastMs: number | null = null;

  /**
   * @param halfLifeMs - half-life in ms, in [0, 3 600 000]; 0 = no smoothing ({@link DEFAULT_SMOOTHING}`.halfLifeMs` in the video path).
   * @throws {FerkitError} `E_OPTION` for a bad half-life.
   */
  constructor(halfLifeMs: number) {
    this.halfLifeMs = numberIn('halfLifeMs', halfLifeMs, 0, 3_600_000);
  }

  /**
   * Adds the sample observed at `tMs` and returns the new average (a fresh object the caller may keep).
   * @throws {FerkitError} `E_OPTION` if `tMs` does not increase.
   */
  update(sample: Readonly<Record<K, number>>, tMs: number): Record<K, number> {
    checkTime('ProbabilityEma.update', tMs, this.lastMs);
    const prev = this.state;
    if (prev === null) {
      this.state = { ...sample } as Record<K, number>;
    } else {
      const a = emaAlpha(tMs - this.lastMs!, this.halfLifeMs);
      const next = {} as Record<K, number>;
      for (const k of Object.keys(sample) as K[]) {
        const old = prev[k] ?? sample[k];
        next[k] = old + a * (sample[k] - old);
      }
      this.state = next;
    }
    this.lastMs = tMs;
    return { ...this.state };
  }

  /** The current average (a copy), or `null` before the first update. */
  get value(): Record<K, number> | null {
    return this.state ? { ...this.state } : null;
  }

  /** Time of the last update in ms, or `null`. */
  get lastUpdateMs(): number | null {
    return this.lastMs;
  }
}

/**
 * Default smoothing of the video path (`createVideoAnalyzer`, `ferkit video`, the web app), chosen from the temporal
 * benchmark (`bench/temporal.ts`, figures in `docs/temporal.md` and `results/temporal.json`; re-run 2026-12-01 with the
 * retrained, calibrated default classifier): among the settings with at most 0.5 false label switches per minute
 * (0.24), the one that shows the true class in the most frames (89.5 %; the old defaults 85.5 %); median latency to
 * follow a change 0.33 s at 15 fps (old 0.67 s), 90th percentile 0.93 s (old 1.13 s).
 */
export const DEFAULT_SMOOTHING = Object.freeze({
  /** Half-life of {@link ProbabilityEma}, ms (was 400 before the benchmark; 300 after its first run). */
  halfLifeMs: 200,
  /** {@link HysteresisOptions.margin} (was 0.1; 0.15 after the benchmark's first run). */
  margin: 0.3,
  /**
   * {@link HysteresisOptions.minDwellMs}, ms (was 200): at ≥ 10 fps the EMA already keeps one-frame blips off the
   * display; at 5 fps or less use 100–200 ms.
   */
  minDwellMs: 0,
  /** {@link HysteresisOptions.floor}: below 0.25 the displayed label was right less than half the time. */
  floor: 0.25,
});

/** Options of {@link LabelHysteresis}. */
export interface HysteresisOptions {
  /**
   * A challenger label must lead the displayed label by at least this much probability (in [0, 1]) to start
   * replacing it. Default {@link DEFAULT_SMOOTHING}`.margin`.
   */
  margin?: number;
  /**
   * …and the displayed label must stay beaten by that margin (by any label) for at least this many milliseconds
   * (in [0, 60 000]) before it is replaced by the label leading at that moment. `0` switches at once.
   * Default {@link DEFAULT_SMOOTHING}`.minDwellMs`.
   */
  minDwellMs?: number;
  /**
   * Probability floor, in [0, 1]: a displayed label whose probability is below it is marked `uncertain`. It does not
   * change which label is shown (forcing a switch below the floor multiplied the false switches by about 25 in
   * `bench/temporal.ts`). `0` turns the marking off. Default {@link DEFAULT_SMOOTHING}`.floor`.
   */
  floor?: number;
}

/** What {@link LabelHysteresis.decide} returns for one observation. */
export interface HysteresisDecision<K extends string = string> {
  /** The label to display. */
  label: K;
  /** Its probability in the record just fed, in [0, 1]. */
  score: number;
  /** `score < floor`: the displayed label is not to be trusted. Always `false` when the floor is 0. */
  uncertain: boolean;
  /** Whether the displayed label changed with this observation (`false` on the first one). */
  switched: boolean;
}

/**
 * The label to display, with hysteresis: it starts as the argmax of the first sample. It is replaced by the leading
 * label once it has been beaten by `margin` or more (by any label, not necessarily the same one) continuously for
 * `minDwellMs` (timed by the caller's timestamps); with a dwell time, a one-frame blip never changes the display.
 * Rule: a displayed label whose probability is below `floor` is always marked `uncertain`.
 * Ties go to the earlier key, as in `argmax`.
 */
export class LabelHysteresis<K extends string = string> {
  readonly margin: number;
  readonly minDwellMs: number;
  readonly floor: number;
  private shown: K | null = null;
  private losingSinceMs: number | null = null;
  private lastMs: number | null = null;

  /** @throws {FerkitError} `E_OPTION` for a bad margin, dwell time or floor. */
  constructor(options: HysteresisOptions = {}) {
    this.margin = numberIn('hysteresis.margin', options.margin ?? DEFAULT_SMOOTHING.margin, 0, 1);
    this.minDwellMs = numberIn('hysteresis.minDwellMs', options.minDwellMs ?? DEFAULT_SMOOTHING.minDwellMs, 0, 60_000);
    this.floor = numberIn('hysteresis.floor', options.floor ?? DEFAULT_SMOOTHING.floor, 0, 1);
  }

  /**
   * Feeds the probabilities observed at `tMs` (usually already smoothed) and returns the label to display.
   * @throws {FerkitError} `E_OPTION` if `tMs` does not increase.
   * @throws {RangeError} for an empty record.
   */
  update(probs: Readonly<Record<K, number>>, tMs: number): K {
    return this.decide(probs, tMs).label;
  }

  /**
   * Like {@link update}, with the displayed label's probability and the floor verdict.
   * @throws {FerkitError} `E_OPTION` if `tMs` does not increase.
   * @throws {RangeError} for an empty record.
   */
  decide(probs: Readonly<Record<K, number>>, tMs: number): HysteresisDecision<K> {
    checkTime('LabelHysteresis.update', tMs, this.lastMs);
    this.lastMs = tMs;
    let best: K | null = null;
    for (const k of Object.keys(probs) as K[]) if (best === null || probs[k] > probs[best]) best = k;
    if (best === null) throw new RangeError('LabelHysteresis.update: empty probability record');
    const before = this.shown;
    if (this.shown === null || !(this.shown in probs)) {
      this.shown = best;
      this.losingSinceMs = null;
    } else if (best === this.shown || probs[best] - probs[this.shown] < this.margin) {
      this.losingSinceMs = null;
    } else {
      this.losingSinceMs ??= tMs;
      if (tMs - this.losingSinceMs >= this.minDwellMs) {
        this.shown = best;
        this.losingSinceMs = null;
      }
    }
    const score = probs[this.shown];
    return { label: this.shown, score, uncertain: score < this.floor, switched: before !== null && before !== this.shown };
  }

  /** The label shown now, or `null` before the first update. */
  get label(): K | null {
    return this.shown;
  }
}

/**
 * Flicker: how often a label sequence changes, per second of the time it spans.
 * @param labels - one label per observation, in time order.
 * @param timestampsMs - the observations' times in ms, increasing, same length as `labels`.
 * @returns changes between consecutive observations divided by `(last − first) / 1000`; 0 for fewer than 2 observations.
 * @throws {RangeError} if the lengths differ.
 */
export function labelChangesPerSecond(labels: readonly string[], timestampsMs: readonly number[]): number {
  if (labels.length !== timestampsMs.length) throw new RangeError(`labels has ${labels.length} items, timestampsMs ${timestampsMs.length}`);
  if (labels.length < 2) return 0;
  let changes = 0;
  for (let i = 1; i < labels.length; i++) if (labels[i] !== labels[i - 1]) changes++;
  const spanS = (timestampsMs[timestampsMs.length - 1]! - timestampsMs[0]!) / 1000;
  return spanS > 0 ? changes / spanS : 0;
}
