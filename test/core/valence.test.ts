import { describe, expect, test } from 'vitest';
import { EXPRESSIONS, type Expression, argmax, projectProbabilities, toExpressionRecord } from '../../src/core/labels.js';
import {
  DEFAULT_VALENCE_THRESHOLDS, VALENCE_VALUES, valenceCategory, valenceOf, valenceScore,
} from '../../src/core/valence.js';

const probs = (p: Partial<Record<Expression, number>>) => toExpressionRecord(EXPRESSIONS.map((e) => p[e] ?? 0));

describe('valence score and category', () => {
  test('the score is the expectation of the per-class values and stays in [-1, 1]', () => {
    expect(valenceScore(probs({ happy: 1 }))).toBe(1);
    expect(valenceScore(probs({ sad: 1 }))).toBe(-1);
    expect(valenceScore(probs({ neutral: 1 }))).toBe(0);
    expect(valenceScore(probs({ happy: 0.5, sad: 0.25, neutral: 0.25 }))).toBeCloseTo(0.25, 12);
    expect(valenceScore(probs({ surprise: 1 }))).toBe(VALENCE_VALUES.surprise);
  });

  test('the reported case: "happy 33%" with the rest spread thinly is no longer negative', () => {
    // happy top at 0.33; the 3-class projection's argmax said negative (0.45 > 0.33 + 0.02)
    const p = probs({ happy: 0.33, surprise: 0.02, neutral: 0.2, sad: 0.15, fear: 0.12, angry: 0.1, disgust: 0.08 });
    expect(argmax(p).label).toBe('happy');
    expect(argmax(projectProbabilities(p, 'valence')).label).toBe('negative');
    expect(valenceOf(p)).not.toBe('negative');
  });

  test('rule: a top-happy face is negative only when the unpleasant mass exceeds the pleasant mass by the threshold', () => {
    // exhaustive over a grid of distributions whose argmax is happy
    const step = 0.05;
    let checked = 0;
    for (let h = 0.2; h <= 1.0001; h += step) {
      for (let neg = 0; neg <= 1 - h + 1e-9; neg += step) {
        const rest = Math.max(0, 1 - h - neg);
        // negative mass split over the four unpleasant classes, each below happy; the rest to neutral and surprise
        const each = neg / 4;
        const p = probs({ happy: h, angry: each, disgust: each, fear: each, sad: each, neutral: rest * 0.7, surprise: rest * 0.3 });
        if (argmax(p).label !== 'happy') continue;
        checked++;
        const pleasant = h * VALENCE_VALUES.happy + rest * 0.3 * VALENCE_VALUES.surprise;
        const unpleasant = neg; // |v| = 1 for the four
        const isNegative = valenceOf(p) === 'negative';
        expect(isNegative).toBe(unpleasant - pleasant >= DEFAULT_VALENCE_THRESHOLDS.negative - 1e-12);
        if (h >= 0.5) expect(isNegative).toBe(false); // a majority-happy face is never negative
      }
    }
    expect(checked).toBeGreaterThan(50);
  });

  test('thresholds are inclusive and configurable', () => {
    const t = { positive: 0.4, negative: 0.2 };
    expect(valenceCategory(0.4, t)).toBe('positive');
    expect(valenceCategory(0.39, t)).toBe('neutral');
    expect(valenceCategory(-0.2, t)).toBe('negative');
    expect(valenceCategory(-0.19, t)).toBe('neutral');
  });
});
