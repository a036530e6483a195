import { describe, expect, test } from 'vitest';
import { DEFAULT_FRAME_BUDGET, FrameBudget } from '../../src/core/frame-budget.js';

/** Feeds `n` frames of `ms` each; returns the decisions made. */
const feed = (b: FrameBudget, ms: number, n: number) => {
  const out = [];
  for (let i = 0; i < n; i++) {
    const d = b.observe(ms);
    if (d) out.push(d);
  }
  return out;
};

describe('FrameBudget: lighter work when frames miss their budget', () => {
  test('defaults: 40 ms (25 frames/s), windows of 30 frames, detector up to every 3rd frame, then lite', () => {
    expect(DEFAULT_FRAME_BUDGET).toEqual({ budgetMs: 40, windowFrames: 30, maxDetectEvery: 3, allowLite: true, relaxBelow: 0.5 });
    expect(new FrameBudget().level).toEqual({ detectEvery: 1, lite: false });
  });

  test('frames within budget change nothing', () => {
    const b = new FrameBudget();
    expect(feed(b, 30, 300)).toEqual([]);
    expect(b.level).toEqual({ detectEvery: 1, lite: false });
  });

  test('slow frames step down one level per window: every 2nd frame, every 3rd, then the lite classifier, then nothing more', () => {
    const b = new FrameBudget();
    expect(feed(b, 55, 29)).toEqual([]); // no decision before a full window
    const d = feed(b, 55, 1 + 30 * 4);
    expect(d.map((x) => x.level)).toEqual([{ detectEvery: 2, lite: false }, { detectEvery: 3, lite: false }, { detectEvery: 3, lite: true }]);
    expect(d[0]!.reason).toBe('frames took 55 ms (budget 40 ms): detecting faces every 2nd frame');
    expect(d[2]!.reason).toBe('frames took 55 ms (budget 40 ms): switching to the lite classifier');
    expect(d[0]!.medianMs).toBe(55);
  });

  test('the median decides: a few slow frames (e.g. a GC pause) in a fast window do not', () => {
    const b = new FrameBudget();
    for (let i = 0; i < 30; i++) expect(b.observe(i % 10 === 0 ? 500 : 20)).toBeNull();
    expect(b.level.detectEvery).toBe(1);
  });

  test('fast frames step the detector back up; the lite classifier stays', () => {
    const b = new FrameBudget();
    feed(b, 60, 90);
    expect(b.level).toEqual({ detectEvery: 3, lite: true });
    const d = feed(b, 10, 90);
    expect(d.map((x) => x.level)).toEqual([{ detectEvery: 2, lite: true }, { detectEvery: 1, lite: true }]);
    expect(d[1]!.reason).toBe('frames took 10 ms, well under the 40 ms budget: detecting faces every frame');
    // between relaxBelow × budget and the budget: stay
    feed(b, 60, 30);
    expect(feed(b, 30, 90)).toEqual([]);
    expect(b.level.detectEvery).toBe(2);
  });

  test('allowLite false (the lite model is already in use) stops at the detector cadence', () => {
    const b = new FrameBudget({ allowLite: false, maxDetectEvery: 2, windowFrames: 5 });
    expect(feed(b, 100, 50).map((x) => x.level)).toEqual([{ detectEvery: 2, lite: false }]);
  });

  test('bad clock readings are ignored; bad options are E_OPTION naming the option', () => {
    const b = new FrameBudget({ windowFrames: 3 });
    for (const v of [NaN, -1, Infinity]) expect(b.observe(v)).toBeNull();
    expect(b.observe(100)).toBeNull();
    expect(b.observe(100)).toBeNull();
    expect(b.observe(100)?.level.detectEvery).toBe(2);
    expect(() => new FrameBudget({ budgetMs: 0 })).toThrow(expect.objectContaining({ code: 'E_OPTION', message: expect.stringMatching(/budgetMs/) }));
    expect(() => new FrameBudget({ windowFrames: 2.5 })).toThrow(expect.objectContaining({ code: 'E_OPTION' }));
    expect(() => new FrameBudget({ allowLite: 'yes' as never })).toThrow(expect.objectContaining({ code: 'E_OPTION', message: expect.stringMatching(/allowLite/) }));
    expect(() => new FrameBudget({ budget: 40 } as never)).toThrow(expect.objectContaining({ code: 'E_OPTION', message: expect.stringMatching(/unknown option 'budget'/) }));
  });
});
