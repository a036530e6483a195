import * as ort from 'onnxruntime-node';
import { describe, expect, test } from 'vitest';
import { fitTemperature, meanNll, softmaxWithTemperature } from '../../src/core/calibration.js';
import { createExpressionClassifier } from '../../src/core/classifier/expression.js';
import { FerkitError } from '../../src/core/errors.js';
import { readClassifierModel } from '../../src/node/models.js';
import { CALIBRATION_PERCENT, fnv1a32, isCalibrationHoldout } from '../../src/node/calibration.js';

/** A seeded generator of N samples whose true probabilities are softmax(z) and whose logits are reported as z·s. */
function overconfident(n: number, scale: number, seed = 7) {
  let s = seed;
  const rnd = () => ((s = (s * 16807) % 2147483647) / 2147483647);
  const logits: Float32Array[] = [];
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const z = Array.from({ length: 7 }, () => rnd() * 4 - 2);
    const p = softmaxWithTemperature(z, 1);
    let u = rnd();
    let y = 0;
    while (y < 6 && (u -= p[y]!) > 0) y++;
    logits.push(Float32Array.from(z.map((v) => v * scale)));
    labels.push(y);
  }
  return { logits, labels };
}

describe('temperature scaling', () => {
  test('recovers the temperature of logits scaled by a known factor', () => {
    const { logits, labels } = overconfident(20_000, 2.5);
    const fit = fitTemperature(logits, labels);
    expect(fit.temperature).toBeGreaterThan(2.3);
    expect(fit.temperature).toBeLessThan(2.7);
    expect(fit.nllAfter).toBeLessThan(fit.nllBefore);
    expect(meanNll(logits, labels, fit.temperature)).toBeCloseTo(fit.nllAfter, 10);
  });

  test('softmaxWithTemperature keeps the argmax and sums to 1', () => {
    const z = [1, 3, -2, 0.5, 2.9, 0, -1];
    for (const t of [0.5, 1, 2, 10]) {
      const p = softmaxWithTemperature(z, t);
      expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
      expect(p.indexOf(Math.max(...p))).toBe(1);
    }
  });

  test('fitTemperature rejects empty or mismatched input', () => {
    expect(() => fitTemperature([], [])).toThrow(FerkitError);
    expect(() => fitTemperature([new Float32Array(7)], [0, 1])).toThrow(/one label per logits row/);
  });

  test('a card with calibration makes classify() return softmax(logits / T); calibrated: false gives T = 1', async () => {
    const m = await readClassifierModel('ferkit-lite');
    const card = { ...(m.card as object), calibration: {
      method: 'temperature-scaling', temperature: 1.7, fittedOn: 'test', n: 1, heldOut: true, nll: { before: 1, after: 1 }, ece: { before: 0, after: 0 },
    } };
    const calibrated = await createExpressionClassifier(ort, m.bytes, card);
    const raw = await createExpressionClassifier(ort, m.bytes, card, { calibrated: false });
    try {
      expect(calibrated.temperature).toBe(1.7);
      expect(raw.temperature).toBe(1);
      const crop = new Float32Array(48 * 48).map((_, i) => (i * 13) % 256);
      const [z] = await calibrated.logits([crop]);
      const [p] = await calibrated.classify([crop]);
      const [q] = await raw.classify([crop]);
      const want = softmaxWithTemperature(z!, 1.7);
      Object.values(p!).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 6));
      expect(Math.max(...Object.values(p!))).toBeLessThan(Math.max(...Object.values(q!)));
    } finally {
      await calibrated.dispose();
      await raw.dispose();
    }
    await expect(createExpressionClassifier(ort, m.bytes, { ...card, calibration: { temperature: -1 } })).rejects.toThrow(/calibration.temperature/);
  });
});

describe('calibration hold-out', () => {
  test('FNV-1a matches the reference values and the Python rule', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  test('about 7% of FER2013-style names fall in the hold-out, decided by the base name only', () => {
    let n = 0;
    for (let i = 0; i < 20_000; i++) if (isCalibrationHoldout(`Training_${10_000_000 + i * 7919}.jpg`)) n++;
    expect(n / 20_000).toBeGreaterThan(CALIBRATION_PERCENT / 100 - 0.01);
    expect(n / 20_000).toBeLessThan(CALIBRATION_PERCENT / 100 + 0.01);
    expect(isCalibrationHoldout('/x/Training/happy/Training_1.jpg')).toBe(isCalibrationHoldout('Training_1.jpg'));
  });
});
