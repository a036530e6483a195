/**
 * The analysis clock: the timestamps the page gives the worker's tracker. Pure (no DOM), unit-tested in Node.
 *
 * The tracker drops a track that goes unmatched for longer than its `maxAgeMs` of *frame time*. When no frame is
 * analysed at all (models warming up, the Photos tab, a hidden browser tab, a stalled camera), nothing is known about
 * the face, so that time must not count as a miss. This clock runs with `performance.now()` while frames flow, stands
 * still while paused, and lets at most `maxStepMs` pass between two consecutive frames. Results are mapped back to
 * page time (`toPageMs`) before they reach the session and the charts, whose durations stay real.
 */

/** Options of {@link AnalysisClock}. */
export interface AnalysisClockOptions {
  /** Largest step, ms, between two consecutive frame timestamps; longer gaps are cut to this. Default 500. */
  maxStepMs?: number;
  /**
   * Smallest step, ms: two frames stamped closer than this (a repeated capture time, callbacks run back to back) are
   * spread to it, so that the tracker's motion model never divides box noise by a near-zero interval. Default 15
   * (no camera delivers more than ~60 frames a second).
   */
  minStepMs?: number;
}

export class AnalysisClock {
  readonly maxStepMs: number;
  readonly minStepMs: number;
  /** Page time minus analysis time, ms (grows when a gap is cut). */
  private offset = 0;
  private lastPage: number | null = null;
  private lastAnalysis: number | null = null;
  private paused = false;
  /** Frame times (analysis → page) of frames in flight, so results can be mapped back. */
  private readonly inFlight = new Map<number, number>();

  /** @throws {RangeError} when `maxStepMs` is not a positive finite number. */
  constructor(options: AnalysisClockOptions = {}) {
    const step = options.maxStepMs ?? 500;
    if (!(Number.isFinite(step) && step > 0)) throw new RangeError(`maxStepMs must be a positive number of ms, got ${String(step)}`);
    const min = options.minStepMs ?? 15;
    if (!(Number.isFinite(min) && min > 0 && min <= step)) throw new RangeError(`minStepMs must be a positive number of ms up to maxStepMs (${step}), got ${String(min)}`);
    this.maxStepMs = step;
    this.minStepMs = min;
  }

  /** Stops the clock (no frames will be sent until {@link resume}); the paused time is not counted. */
  pause(): void {
    this.paused = true;
  }

  /** Restarts it; the next frame follows the last one by at most `maxStepMs`. */
  resume(): void {
    this.paused = false;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /**
   * The analysis timestamp (ms) for a frame captured at page time `pageMs` (`performance.now()`): between `minStepMs`
   * and `maxStepMs` after the previous one.
   */
  frame(pageMs: number): number {
    let t = pageMs - this.offset;
    if (this.lastPage !== null && this.lastAnalysis !== null) {
      const step = pageMs - this.lastPage;
      if (step > this.maxStepMs) {
        this.offset += step - this.maxStepMs;
        t = pageMs - this.offset;
      }
      if (t < this.lastAnalysis + this.minStepMs) t = this.lastAnalysis + this.minStepMs;
    }
    this.lastPage = pageMs;
    this.lastAnalysis = t;
    this.inFlight.set(t, pageMs);
    // Frames whose result never came back (an error) are forgotten after a while.
    if (this.inFlight.size > 64) this.inFlight.delete(this.inFlight.keys().next().value!);
    return t;
  }

  /** The page time of a frame given {@link frame}'s analysis timestamp (and forgets it). */
  toPageMs(analysisMs: number): number {
    const page = this.inFlight.get(analysisMs);
    this.inFlight.delete(analysisMs);
    return page ?? analysisMs + this.offset;
  }

  /** Total page time cut out so far, ms. */
  get cutMs(): number {
    return this.offset;
  }
}
