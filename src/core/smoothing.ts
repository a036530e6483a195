/**
 * Temporal smoothing of per-face probabilities over video frames, driven by the caller's timestamps so that the
 * result does not depend on the frame rate:
 * - {@link ProbabilityEma}: an exponential moving average whose weight per update is `α = 1 − 2^(−Δt / halfLife)`;
 * - {@link LabelHysteresis}: a displayed label that switches only when a new label leads by a margin for a minimum dwell time;
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
   * @param halfLifeMs - half-life in ms, in [0, 3 600 000]; 0 = no smoothing.
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

/** Options of {@link LabelHysteresis}. */
export interface HysteresisOptions {
  /**
   * A challenger label must lead the displayed label by at least this much probability (in [0, 1]) to start
   * replacing it. Default 0.1.
   */
  margin?: number;
  /** …and keep that lead for at least this many milliseconds (in [0, 60 000]). Default 200. `0` switches at once. */
  minDwellMs?: number;
}

/**
 * The label to display, with hysteresis: it starts as the argmax of the first sample and switches to another label
 * only once that label's probability has exceeded the displayed label's by `margin` continuously for `minDwellMs`
 * (timed by the caller's timestamps). A one-frame blip therefore never changes the display.
 * Ties go to the earlier key, as in `argmax`.
 */
export class LabelHysteresis<K extends string = string> {
  readonly margin: number;
  readonly minDwellMs: number;
  private shown: K | null = null;
  private challenger: K | null = null;
  private challengeSinceMs = 0;
  private lastMs: number | null = null;

  /** @throws {FerkitError} `E_OPTION` for a bad margin or dwell time. */
  constructor(options: HysteresisOptions = {}) {
    this.margin = numberIn('hysteresis.margin', options.margin ?? 0.1, 0, 1);
    this.minDwellMs = numberIn('hysteresis.minDwellMs', options.minDwellMs ?? 200, 0, 60_000);
  }

  /**
   * Feeds the probabilities observed at `tMs` (usually already smoothed) and returns the label to display.
   * @throws {FerkitError} `E_OPTION` if `tMs` does not increase.
   */
  update(probs: Readonly<Record<K, number>>, tMs: number): K {
    checkTime('LabelHysteresis.update', tMs, this.lastMs);
    this.lastMs = tMs;
    let best: K | null = null;
    for (const k of Object.keys(probs) as K[]) if (best === null || probs[k] > probs[best]) best = k;
    if (best === null) throw new RangeError('LabelHysteresis.update: empty probability record');
    if (this.shown === null || !(this.shown in probs)) {
      this.shown = best;
      this.challenger = null;
      return best;
    }
    if (best === this.shown || probs[best] - probs[this.shown] < this.margin) {
      this.challenger = null;
      return this.shown;
    }
    if (this.challenger !== best) {
      this.challenger = best;
      this.challengeSinceMs = tMs;
    }
    if (tMs - this.challengeSinceMs >= this.minDwellMs) {
      this.shown = best;
      this.challenger = null;
    }
    return this.shown;
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
