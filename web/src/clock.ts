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
}

export class AnalysisClock {
  readonly maxStepMs: number;
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
    this.maxStepMs = step;
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
   * The analysis timestamp (ms) for a frame captured at page time `pageMs` (`performance.now()`): strictly greater
   * than the previous one, and at most `maxStepMs` after it.
   */
  frame(pageMs: number): number {
    let t = pageMs - this.offset;
    if (this.lastPage !== null && this.lastAnalysis !== null) {
      const step = pageMs - this.lastPage;
      if (step > this.maxStepMs) {
        this.offset += step - this.maxStepMs;
        t = pageMs - this.offset;
      }
      if (t <= this.lastAnalysis) t = this.lastAnalysis + 0.001;
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
