/**
 * Keeping live video within its frame budget. A {@link FrameBudget} watches the analysis time of each frame and, when
 * the median over a window of frames misses the budget, steps the pipeline down one level at a time: run the face
 * detector every 2nd frame, then every 3rd (tracks follow their motion model in between; `detectEvery` in video.ts),
 * then switch to the lite classifier. When frames come in well under budget again it steps `detectEvery` back up; the
 * lite classifier, once chosen, stays (switching models back and forth would make the smoothed probabilities jump).
 *
 * Isomorphic and pure bookkeeping: the caller measures the frames and applies the decisions (the browser app's worker
 * does, in `src/web/analyzer.ts`).
 */
import { FerkitError, numberIn, optionalBoolean, optionsObject } from './errors.js';

/** Options of {@link FrameBudget}. */
export interface FrameBudgetOptions {
  /** Analysis time per frame to stay under, ms, in (0, 10 000]. Default 40 (25 frames/s). */
  budgetMs?: number;
  /** Frames per decision (the median of this many frames is compared with the budget), integer in [3, 1000]. Default 30. */
  windowFrames?: number;
  /** Largest `detectEvery` tried before the lite classifier, integer in [1, 30]. Default 3. */
  maxDetectEvery?: number;
  /** Whether the last step may switch to the lite classifier. Default true. */
  allowLite?: boolean;
  /** A window whose median is under `relaxBelow × budgetMs` steps `detectEvery` back up, in [0, 1). Default 0.5. */
  relaxBelow?: number;
}

/** Where the pipeline stands: detector every `detectEvery` frames; `lite`: the lite classifier is in use. */
export interface FrameBudgetLevel { detectEvery: number; lite: boolean }

/** A change of level, with the measurement behind it. */
export interface FrameBudgetDecision {
  level: FrameBudgetLevel;
  /** Median analysis time of the window that triggered the change, ms. */
  medianMs: number;
  /** One sentence for the status line, e.g. `frames took 52 ms (budget 40 ms): detecting faces every 2nd frame`. */
  reason: string;
}

/** Defaults of {@link FrameBudgetOptions}. */
export const DEFAULT_FRAME_BUDGET: Readonly<Required<FrameBudgetOptions>> = Object.freeze({
  budgetMs: 40, windowFrames: 30, maxDetectEvery: 3, allowLite: true, relaxBelow: 0.5,
});

const ordinal = (n: number): string => (n === 2 ? '2nd' : n === 3 ? '3rd' : `${n}th`);

/** Watches frame times and decides when to trade accuracy for speed (see the module comment). */
export class FrameBudget {
  readonly options: Readonly<Required<FrameBudgetOptions>>;
  private current: FrameBudgetLevel = { detectEvery: 1, lite: false };
  private window: number[] = [];

  /** @throws {FerkitError} `E_OPTION` naming the first bad option. */
  constructor(options: FrameBudgetOptions = {}) {
    const o = optionsObject<FrameBudgetOptions>('frame budget options', options, Object.keys(DEFAULT_FRAME_BUDGET));
    const budgetMs = numberIn('budgetMs', o.budgetMs ?? DEFAULT_FRAME_BUDGET.budgetMs, 1e-3, 10_000);
    const windowFrames = numberIn('windowFrames', o.windowFrames ?? DEFAULT_FRAME_BUDGET.windowFrames, 3, 1000);
    const maxDetectEvery = numberIn('maxDetectEvery', o.maxDetectEvery ?? DEFAULT_FRAME_BUDGET.maxDetectEvery, 1, 30);
    if (!Number.isInteger(windowFrames) || !Number.isInteger(maxDetectEvery)) {
      throw new FerkitError('E_OPTION', `windowFrames and maxDetectEvery must be whole numbers, got ${windowFrames} and ${maxDetectEvery}`);
    }
    optionalBoolean('allowLite', o.allowLite);
    const relaxBelow = numberIn('relaxBelow', o.relaxBelow ?? DEFAULT_FRAME_BUDGET.relaxBelow, 0, 0.999);
    this.options = Object.freeze({ budgetMs, windowFrames, maxDetectEvery, allowLite: o.allowLite ?? true, relaxBelow });
  }

  /** The level now (a copy). */
  get level(): FrameBudgetLevel {
    return { ...this.current };
  }

  /**
   * Records one frame's analysis time (ms, ≥ 0; frames without a face count too: they are what the stream costs).
   * @returns the new level when this frame completes a window that changes it, else `null`.
   */
  observe(frameMs: number): FrameBudgetDecision | null {
    if (!(Number.isFinite(frameMs) && frameMs >= 0)) return null; // a bad clock reading is not evidence
    this.window.push(frameMs);
    if (this.window.length < this.options.windowFrames) return null;
    const sorted = [...this.window].sort((a, b) => a - b);
    this.window = [];
    const mid = sorted.length >> 1;
    const medianMs = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
    const { budgetMs, maxDetectEvery, allowLite, relaxBelow } = this.options;
    const took = `frames took ${medianMs.toFixed(0)} ms (budget ${budgetMs} ms)`;
    const c = this.current;
    if (medianMs > budgetMs) {
      if (c.detectEvery < maxDetectEvery) {
        this.current = { ...c, detectEvery: c.detectEvery + 1 };
        return { level: this.level, medianMs, reason: `${took}: detecting faces every ${ordinal(c.detectEvery + 1)} frame` };
      }
      if (allowLite && !c.lite) {
        this.current = { ...c, lite: true };
        return { level: this.level, medianMs, reason: `${took}: switching to the lite classifier` };
      }
      return null; // nothing lighter left
    }
    if (medianMs < relaxBelow * budgetMs && c.detectEvery > 1) {
      this.current = { ...c, detectEvery: c.detectEvery - 1 };
      const every = c.detectEvery - 1 === 1 ? 'every frame' : `every ${ordinal(c.detectEvery - 1)} frame`;
      return { level: this.level, medianMs, reason: `frames took ${medianMs.toFixed(0)} ms, well under the ${budgetMs} ms budget: detecting faces ${every}` };
    }
    return null;
  }
}
