/**
 * Temporal smoothing: the EMA's half-life is in milliseconds, so the same signal gives the same smoothed values at
 * any frame rate; hysteresis keeps one-frame blips off the displayed label.
 */
import { describe, expect, test } from 'vitest';
import { EXPRESSIONS, type ExpressionProbabilities } from '../../src/core/labels.js';
import { DEFAULT_SMOOTHING, LabelHysteresis, ProbabilityEma, emaAlpha, labelChangesPerSecond } from '../../src/core/smoothing.js';

/** A distribution with `happy = h`, `neutral = 1 − h`, everything else 0. */
const dist = (h: number): ExpressionProbabilities =>
  ({ ...Object.fromEntries(EXPRESSIONS.map((e) => [e, 0])), happy: h, neutral: 1 - h }) as ExpressionProbabilities;

/** Smooths `signal(t)` sampled at `fps` for `seconds`; returns time → smoothed happy probability. */
function smoothAt(fps: number, seconds: number, halfLifeMs: number, signal: (tMs: number) => number): Map<number, number> {
  const ema = new ProbabilityEma<string>(halfLifeMs);
  const out = new Map<number, number>();
  for (let i = 0; i <= seconds * fps; i++) {
    const t = Math.round((i * 1000) / fps);
    out.set(t, ema.update(dist(signal(t)), t).happy!);
  }
  return out;
}

describe('emaAlpha', () => {
  test('one half-life halves the old value\'s weight, whatever the step', () => {
    expect(emaAlpha(400, 400)).toBeCloseTo(0.5, 12);
    // two steps of half a half-life weigh the old value 0.5 as well
    const a = emaAlpha(200, 400);
    expect((1 - a) * (1 - a)).toBeCloseTo(0.5, 12);
    expect(emaAlpha(0, 400)).toBe(0);
    expect(emaAlpha(40, 0)).toBe(1);
  });
});

describe('ProbabilityEma', () => {
  test('frame-rate independence: a signal that changes every 100 ms gives the same averages at 10 fps and 50 fps', () => {
    // Piecewise constant on (100k, 100(k+1)] ms: both rates sample the same value over each interval.
    const steps = [0.9, 0.9, 0.1, 0.2, 0.8, 0.8, 0.8, 0.05, 0.6, 0.3, 0.9, 0.9, 0.9, 0.1, 0.5];
    const signal = (t: number): number => steps[Math.min(steps.length - 1, Math.ceil(t / 100))]!;
    const at10 = smoothAt(10, 1.4, 300, signal);
    const at50 = smoothAt(50, 1.4, 300, signal);
    let compared = 0;
    for (const [t, v] of at10) {
      expect(at50.get(t)).toBeCloseTo(v, 12);
      compared++;
    }
    expect(compared).toBe(15);
  });

  test('frame-rate independence on a smooth signal: 10 fps and 50 fps agree, a per-frame constant α does not', () => {
    const signal = (t: number): number => 0.5 + 0.4 * Math.sin((2 * Math.PI * t) / 2000);
    const at10 = smoothAt(10, 6, 500, signal);
    const at50 = smoothAt(50, 6, 500, signal);
    let worst = 0;
    for (const [t, v] of at10) if (t >= 1000) worst = Math.max(worst, Math.abs(at50.get(t)! - v));
    expect(worst).toBeLessThan(0.03);
    // The naive EMA (one α per frame, tuned for 10 fps) smooths 5x more at 50 fps.
    const alpha = emaAlpha(100, 500);
    const naive = (fps: number): Map<number, number> => {
      const out = new Map<number, number>();
      let y = signal(0);
      for (let i = 0; i <= 6 * fps; i++) {
        const t = Math.round((i * 1000) / fps);
        y += alpha * (signal(t) - y);
        out.set(t, y);
      }
      return out;
    };
    const n10 = naive(10);
    const n50 = naive(50);
    let naiveWorst = 0;
    for (const [t, v] of n10) if (t >= 1000) naiveWorst = Math.max(naiveWorst, Math.abs(n50.get(t)! - v));
    expect(naiveWorst).toBeGreaterThan(0.1);
  });

  test('the first sample is taken as is, later ones move the average by alpha, and probabilities still sum to 1', () => {
    const ema = new ProbabilityEma<string>(100);
    expect(ema.value).toBeNull();
    expect(ema.update(dist(1), 0).happy).toBe(1);
    const s = ema.update(dist(0), 100); // one half-life later
    expect(s.happy).toBeCloseTo(0.5, 12);
    expect(Object.values(s).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  test('half-life 0 means no smoothing', () => {
    const ema = new ProbabilityEma<string>(0);
    ema.update(dist(0.9), 0);
    expect(ema.update(dist(0.1), 40).happy).toBeCloseTo(0.1, 12);
  });

  test('BAD INPUT: a negative half-life and a timestamp that does not increase are E_OPTION', () => {
    expect(() => new ProbabilityEma(-1)).toThrow(expect.objectContaining({ code: 'E_OPTION', message: expect.stringMatching(/halfLifeMs/) }));
    const ema = new ProbabilityEma<string>(100);
    ema.update(dist(0.5), 40);
    expect(() => ema.update(dist(0.5), 40)).toThrow(expect.objectContaining({ code: 'E_OPTION', message: expect.stringMatching(/increase.*40 ms after 40 ms/) }));
    expect(() => ema.update(dist(0.5), Number.NaN)).toThrow(expect.objectContaining({ code: 'E_OPTION' }));
  });

  test('smoothing lowers the flicker of a noisy signal whose two top classes are close', () => {
    let seed = 7;
    const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const ema = new ProbabilityEma<string>(400);
    const raw: string[] = [];
    const smooth: string[] = [];
    const ts: number[] = [];
    for (let i = 0; i < 250; i++) {
      const t = i * 40;
      const h = 0.52 + (rand() - 0.5) * 0.3; // happy ≈ neutral, noisy
      raw.push(h > 0.5 ? 'happy' : 'neutral');
      smooth.push(ema.update(dist(h), t).happy! > 0.5 ? 'happy' : 'neutral');
      ts.push(t);
    }
    const rawRate = labelChangesPerSecond(raw, ts);
    const smoothRate = labelChangesPerSecond(smooth, ts);
    expect(rawRate).toBeGreaterThan(5);
    expect(smoothRate).toBeLessThan(rawRate / 5);
  });
});

describe('LabelHysteresis', () => {
  test('a one-frame blip does not change the displayed label (the raw argmax flips twice)', () => {
    const h = new LabelHysteresis<string>({ margin: 0.1, minDwellMs: 200, floor: 0 });
    const shown: string[] = [];
    const argmaxes: string[] = [];
    for (let i = 0; i < 30; i++) {
      const p = i === 12 ? dist(0.05) : dist(0.8); // frame 12: neutral 0.95
      argmaxes.push(p.happy > p.neutral ? 'happy' : 'neutral');
      shown.push(h.update(p, i * 40));
    }
    expect(new Set(shown)).toEqual(new Set(['happy']));
    expect(labelChangesPerSecond(argmaxes, argmaxes.map((_, i) => i * 40))).toBeGreaterThan(0);
  });

  test('a lasting change switches once the lead has held for the dwell time', () => {
    const h = new LabelHysteresis<string>({ margin: 0.1, minDwellMs: 200, floor: 0 });
    const shown: string[] = [];
    for (let i = 0; i < 40; i++) shown.push(h.update(i < 20 ? dist(0.8) : dist(0.2), i * 40));
    // neutral leads from frame 20 (800 ms); it has led for 200 ms at frame 25 (1000 ms)
    expect(shown.indexOf('neutral')).toBe(25);
    expect(shown.slice(25).every((l) => l === 'neutral')).toBe(true);
  });

  test('a lead below the margin never switches the label', () => {
    const h = new LabelHysteresis<string>({ margin: 0.1, minDwellMs: 0, floor: 0 });
    h.update(dist(0.6), 0);
    for (let i = 1; i < 50; i++) expect(h.update(dist(0.47), i * 40)).toBe('happy'); // neutral leads by 0.06
    expect(h.update(dist(0.4), 2000)).toBe('neutral'); // lead 0.2, no dwell
  });

  test('a challenge that lapses restarts its dwell clock', () => {
    const h = new LabelHysteresis<string>({ margin: 0.1, minDwellMs: 120, floor: 0 });
    h.update(dist(0.9), 0);
    expect(h.update(dist(0.1), 40)).toBe('happy');
    expect(h.update(dist(0.1), 80)).toBe('happy');
    expect(h.update(dist(0.9), 120)).toBe('happy'); // lapses
    expect(h.update(dist(0.1), 160)).toBe('happy'); // restarts at 160
    expect(h.update(dist(0.1), 240)).toBe('happy');
    expect(h.update(dist(0.1), 280)).toBe('neutral'); // 120 ms after 160
  });

  test('the dwell clock counts the time the shown label is beaten, whichever label beats it', () => {
    // happy is shown; then sad and angry take turns on top, each leading happy by far more than the margin.
    // The old rule restarted the clock at every change of challenger and kept "happy" forever.
    const h = new LabelHysteresis<string>({ margin: 0.1, minDwellMs: 200, floor: 0 });
    const rec = (happy: number, sad: number, angry: number): Record<string, number> => ({ happy, sad, angry, neutral: 1 - happy - sad - angry });
    expect(h.update(rec(0.8, 0.1, 0.1), 0)).toBe('happy');
    const shown: string[] = [];
    for (let i = 1; i <= 8; i++) shown.push(h.update(i % 2 ? rec(0.1, 0.5, 0.4) : rec(0.1, 0.4, 0.5), i * 40));
    // beaten from 40 ms; 200 ms later (frame 6, 240 ms) the leader at that moment (angry) is shown
    expect(shown.slice(0, 5)).toEqual(['happy', 'happy', 'happy', 'happy', 'happy']);
    expect(shown[5]).toBe('angry');
  });

  test('floor: a shown label whose probability is below the floor is marked uncertain (the hysteresis still decides the label)', () => {
    const h = new LabelHysteresis<string>({ margin: 0.3, minDwellMs: 200, floor: 0.3 });
    expect(h.decide(dist(0.9), 0)).toEqual({ label: 'happy', score: 0.9, uncertain: false, switched: false });
    expect(h.decide(dist(0.35), 40)).toEqual({ label: 'happy', score: 0.35, uncertain: false, switched: false });
    // neutral leads by 0.5, the dwell has not passed: happy stays, below the floor, so uncertain
    expect(h.decide(dist(0.25), 80)).toEqual({ label: 'happy', score: 0.25, uncertain: true, switched: false });
    expect(h.decide(dist(0.25), 240)).toEqual({ label: 'neutral', score: 0.75, uncertain: false, switched: true });
  });

  test('floor rule on a long random sequence: a displayed label below the floor is always marked uncertain, and only then', () => {
    let seed = 11;
    const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const floor = 0.3;
    const h = new LabelHysteresis<string>({ margin: 0.15, minDwellMs: 300, floor });
    const ema = new ProbabilityEma<string>(100);
    let below = 0;
    let switches = 0;
    for (let i = 0; i < 5000; i++) {
      const w = EXPRESSIONS.map(() => rand() ** 8);
      const sum = w.reduce((a, b) => a + b, 0);
      const p = ema.update(Object.fromEntries(EXPRESSIONS.map((e, k) => [e, w[k]! / sum])), i * 66);
      const d = h.decide(p, i * 66);
      expect(d.score).toBe(p[d.label]);
      if (d.switched) switches++;
      if (d.score < floor) {
        below++;
        expect(d.uncertain).toBe(true);
      } else {
        expect(d.uncertain).toBe(false);
      }
    }
    // the sequence does exercise both branches
    expect(below).toBeGreaterThan(50);
    expect(below).toBeLessThan(4950);
    expect(switches).toBeGreaterThan(10);
  });

  test('floor 0 never marks a label uncertain; defaults come from DEFAULT_SMOOTHING', () => {
    const h = new LabelHysteresis<string>({ floor: 0 });
    expect(h.decide(dist(0.1), 0).uncertain).toBe(false);
    const d = new LabelHysteresis<string>();
    expect([d.margin, d.minDwellMs, d.floor]).toEqual([DEFAULT_SMOOTHING.margin, DEFAULT_SMOOTHING.minDwellMs, DEFAULT_SMOOTHING.floor]);
  });

  test('BAD INPUT: margin outside [0, 1] is E_OPTION', () => {
    expect(() => new LabelHysteresis({ margin: 2 })).toThrow(expect.objectContaining({ code: 'E_OPTION', message: expect.stringMatching(/margin/) }));
    expect(() => new LabelHysteresis({ floor: -0.1 })).toThrow(expect.objectContaining({ code: 'E_OPTION', message: expect.stringMatching(/floor/) }));
  });
});

describe('labelChangesPerSecond', () => {
  test('counts changes per second of the time spanned', () => {
    expect(labelChangesPerSecond(['a', 'a', 'b', 'b', 'a'], [0, 250, 500, 750, 1000])).toBe(2);
    expect(labelChangesPerSecond(['a'], [0])).toBe(0);
    expect(() => labelChangesPerSecond(['a'], [])).toThrow(RangeError);
  });
});
