/** Every shipped classifier (models/*.onnx, models/compare/*.onnx) loads against its card and gives [N, 7] probabilities. */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { expect, test } from 'vitest';
import { createExpressionClassifier } from '../../src/core/classifier/expression.js';
import { EXPRESSIONS } from '../../src/core/labels.js';
import { readClassifierModel } from '../../src/node/models.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const models = ['models', 'models/compare'].map((d) => join(root, d)).filter((d) => existsSync(d))
  .flatMap((d) => readdirSync(d).filter((f) => f.endsWith('.onnx')).map((f) => join(d, f)));

test.each(models)('%s loads, matches its card, and outputs probabilities over the 7 expressions', async (file) => {
  const m = await readClassifierModel(file);
  const card = m.card as { labels: string[]; input: { shape: unknown[] }; metrics: { publicTest: { accuracy: number } } };
  expect(card.labels).toEqual([...EXPRESSIONS]);
  expect(card.metrics.publicTest.accuracy).toBeGreaterThan(1 / 7);
  // the card matches the graph: input name and [N, 1, s, s] shape, output [N, 7], normalisation in [-1, 1], no blur
  const session = await ort.InferenceSession.create(m.bytes, { logSeverityLevel: 3 });
  const c = m.card as { input: { name: string; shape: unknown[]; mean: number; std: number } & Record<string, unknown>; output: { name: string }; trainedOn: string };
  expect(session.inputNames).toEqual([c.input.name]);
  expect(session.outputNames).toEqual([c.output.name]);
  const meta = session.inputMetadata[0] as { shape: readonly unknown[] };
  expect(meta.shape.slice(1)).toEqual(c.input.shape.slice(1));
  expect((session.outputMetadata[0] as { shape: readonly unknown[] }).shape.slice(1)).toEqual([7]);
  expect([c.input.mean, c.input.std]).toEqual([127.5, 127.5]);
  expect(c.input).not.toHaveProperty('blurSigma');
  expect(JSON.stringify(m.card)).not.toMatch(/blur/i);
  await session.release();
  const clf = await createExpressionClassifier(ort, m.bytes, m.card, { session: { logSeverityLevel: 3 } });
  try {
    const crops = [new Float32Array(48 * 48).fill(0), new Float32Array(48 * 48).fill(255), new Float32Array(48 * 48).map((_, i) => i % 256)];
    const probs = await clf.classify(crops);
    expect(probs).toHaveLength(3);
    for (const p of probs) {
      const values = Object.values(p);
      expect(values).toHaveLength(7);
      for (const v of values) expect(Number.isFinite(v) && v >= 0 && v <= 1).toBe(true);
      expect(values.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    }
  } finally {
    await clf.dispose();
  }
});
