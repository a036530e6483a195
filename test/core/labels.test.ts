import { describe, expect, test } from 'vitest';
import {
  EXPRESSIONS, LABEL_SETS, LABEL_SET_IDS, argmax, projectProbabilities, softmax, toExpressionRecord,
} from '../../src/core/labels.js';
import { valenceOf } from '../../src/core/valence.js';
import { classificationReport } from '../../src/core/metrics.js';

function randomProbs(seed: number) {
  let s = seed;
  const rnd = () => ((s = (s * 16807) % 2147483647) / 2147483647);
  return toExpressionRecord(softmax(EXPRESSIONS.map(() => rnd() * 8 - 4)));
}

describe('label sets', () => {
  test('every projection of every distribution sums to 1 and stays in [0, 1]', () => {
    for (let seed = 1; seed < 200; seed++) {
      const p = randomProbs(seed);
      for (const id of LABEL_SET_IDS) {
        const q = projectProbabilities(p, id);
        expect(Object.keys(q)).toEqual([...LABEL_SETS[id].labels]);
        const sum = Object.values(q).reduce((a, b) => a + b, 0);
        expect(sum).toBeCloseTo(1, 12);
        for (const v of Object.values(q)) expect(v).toBeGreaterThanOrEqual(0);
      }
    }
  });

  test('6-class merges disgust into angry; 5b drops fear and renormalises', () => {
    const p = toExpressionRecord([0.1, 0.2, 0.3, 0.1, 0.1, 0.1, 0.1]);
    expect(projectProbabilities(p, '6').angry).toBeCloseTo(0.3);
    const q = projectProbabilities(p, '5b');
    expect(q.angry).toBeCloseTo(0.3 / 0.7);
    expect(q.surprise).toBeCloseTo(0.1 / 0.7);
    expect(projectProbabilities(p, '5').fear).toBeCloseTo(0.3 / 0.9);
  });

  test('valence: happy is positive, sad is negative, neutral is neutral', () => {
    const one = (e: string) => toExpressionRecord(EXPRESSIONS.map((x) => (x === e ? 0.9 : 0.1 / 6)));
    expect(valenceOf(one('happy'))).toBe('positive');
    expect(valenceOf(one('sad'))).toBe('negative');
    expect(valenceOf(one('neutral'))).toBe('neutral');
    expect(argmax(projectProbabilities(one('disgust'), 'valence')).label).toBe('negative');
  });

  test('softmax is stable for large logits', () => {
    const p = softmax([1000, 1000, -1000]);
    expect(p[0]).toBeCloseTo(0.5);
    expect(p[2]).toBe(0);
  });
});

describe('metrics', () => {
  test('confusion matrix, per-class F1 and macro-F1 match a hand computation', () => {
    const r = classificationReport([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0], ['a', 'b', 'c']);
    expect(r.confusion).toEqual([[1, 1, 0], [0, 2, 0], [1, 0, 1]]);
    expect(r.accuracy).toBeCloseTo(4 / 6);
    expect(r.perClass[1]).toMatchObject({ precision: 2 / 3, recall: 1, support: 2 });
    expect(r.perClass[1]!.f1).toBeCloseTo(0.8);
    expect(r.macroF1).toBeCloseTo((0.5 + 0.8 + 2 / 3) / 3);
    expect(r.hammingLoss).toBeCloseTo(2 / 6);
  });
  test('BAD CALL: out-of-range class index throws RangeError', () => {
    expect(() => classificationReport([0, 3], [0, 0], ['a', 'b'])).toThrow(RangeError);
  });
});
