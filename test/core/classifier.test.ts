import { readFile, readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BUNDLED_CLASSIFIER_IDS, BUNDLED_CLASSIFIERS, createExpressionClassifier, type ExpressionClassifier } from '../../src/core/classifier/expression.js';
import { FerkitError } from '../../src/core/errors.js';
import { sampleGray, wholeImageWindow } from '../../src/core/image.js';
import { EXPRESSIONS } from '../../src/core/labels.js';
import { listBundledModels } from '../../src/cli/models.js';
import { readClassifierModel } from '../../src/node/models.js';
import { FER2013_DIR, HAS_FER2013, NO_SHARED } from '../helpers/shared.js';

/** Bundled int8 variants (`quantization` in the card, from training/ferkit_train/quantize.py) and their float models. */
const QUANTIZED = listBundledModels().filter((m) => m.quantizedFrom).map((m) => ({ id: m.id, floatId: m.quantizedFrom! }));
const floatOf = (id: string): string | undefined => QUANTIZED.find((q) => q.id === id)?.floatId;

describe.each([...new Set([...BUNDLED_CLASSIFIER_IDS, ...QUANTIZED.map((q) => q.id)])])('bundled classifier %s', (id) => {
  let model: Awaited<ReturnType<typeof readClassifierModel>>;
  let classifier: ExpressionClassifier;

  beforeAll(async () => {
    model = await readClassifierModel(id);
    classifier = await createExpressionClassifier(ort, model.bytes, model.card);
  });
  afterAll(() => classifier?.dispose());

  test('ONNX Runtime matches the PyTorch logits recorded at export (parity fixture)', async () => {
    const fx = JSON.parse(await readFile(new URL(`../fixtures/${id}.parity.json`, import.meta.url), 'utf8')) as {
      sha256: string; pixels: number[][]; logits: number[][];
    };
    expect(fx.sha256).toBe((model.card as { sha256: string }).sha256);
    const rows = await classifier.logits(fx.pixels.map((p) => Float32Array.from(p)));
    // Float graphs: the same arithmetic, to 1e-3. Int8 graphs: the fixture is PyTorch's float simulation of each
    // QuantizeLinear/DequantizeLinear; ONNX Runtime's fused integer kernels requantize with their own rounding, which moves
    // logits by up to ~0.01 (0.0096 measured for ferkit-resnet-s-int8), so the bound there is 0.05.
    const tolerance = (model.card as { quantization?: unknown }).quantization !== undefined ? 0.05 : 1e-3;
    rows.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - fx.logits[i]![j]!)).toBeLessThan(tolerance)));
  });

  test('outputs are [N, 7] probabilities without NaN that sum to 1, batched beyond maxBatch', async () => {
    const crops = Array.from({ length: 70 }, (_, i) => new Float32Array(48 * 48).fill((i * 37) % 256));
    const probs = await classifier.classify(crops);
    expect(probs).toHaveLength(70);
    for (const p of probs) {
      expect(Object.keys(p)).toEqual([...EXPRESSIONS]);
      const s = Object.values(p).reduce((a, b) => a + b, 0);
      expect(s).toBeCloseTo(1, 5);
      for (const v of Object.values(p)) expect(Number.isNaN(v)).toBe(false);
    }
  });

  test('BAD CALL: a crop of the wrong size is rejected with E_IMAGE', async () => {
    await expect(classifier.classify([new Float32Array(10)])).rejects.toMatchObject({ code: 'E_IMAGE' });
  });

  test('EXPECTED FAILURE: bytes that do not match the card fail with E_MODEL_CHECKSUM; wrong label order with E_MODEL_MISMATCH', async () => {
    const bad = model.bytes.slice(); bad[100]! ^= 0xff;
    await expect(createExpressionClassifier(ort, bad, model.card)).rejects.toMatchObject({ code: 'E_MODEL_CHECKSUM' });
    const card = { ...(model.card as object), labels: [...EXPRESSIONS].reverse() };
    await expect(createExpressionClassifier(ort, model.bytes, card)).rejects.toBeInstanceOf(FerkitError);
  });

  test.skipIf(!HAS_FER2013)(`classifies a sample of FER2013 PublicTest faces well above chance ${HAS_FER2013 ? '' : NO_SHARED}`, async () => {
    // 40 faces per class, the first in each sorted class folder; chance is 1/7 = 14 %.
    const yTrue: number[] = [];
    const crops: Float32Array[] = [];
    for (const [k, name] of EXPRESSIONS.entries()) {
      const dir = `${FER2013_DIR}/PublicTest/${name}`;
      for (const f of (await readdir(dir)).sort().slice(0, 40)) {
        const { data, info } = await sharp(`${dir}/${f}`).greyscale().raw().toBuffer({ resolveWithObject: true });
        const img = { data, width: info.width, height: info.height, channels: 1 as const };
        crops.push(sampleGray(img, wholeImageWindow(img), 48));
        yTrue.push(k);
      }
    }
    const probs = await classifier.classify(crops);
    const top1 = (p: Record<string, number>): number => Object.values(p).indexOf(Math.max(...Object.values(p)));
    const correct = probs.filter((p, i) => top1(p) === yTrue[i]).length;
    const acc = correct / probs.length;
    console.log(`${id}: PublicTest sample (${probs.length} faces, 40 per class): accuracy ${(100 * acc).toFixed(1)} %`);
    // chance is 1/7; on this balanced sample ferkit-resnet-s (float and int8) scored 0.661 (2026-12-01)
    const isLite = id === BUNDLED_CLASSIFIERS.lite || floatOf(id) === BUNDLED_CLASSIFIERS.lite;
    expect(acc).toBeGreaterThan(isLite ? 0.55 : 0.6);
    const tta = (model.card as { tta?: { fromModel?: { id?: string }; members?: { id: string; views: 'face' | 'both' | 'mirror' }[] } }).tta;
    const mirror = (c: Float32Array): Float32Array => Float32Array.from(c, (_, k) => c[k - (k % 48) + 47 - (k % 48)]!);
    if (tta?.members) {
      // An in-graph ensemble (training/ferkit_train/tta.py with --model repeated) is the mean of its members' softmaxes,
      // each on the face, its mirror image or both: check exactly that, uncalibrated, on every face. A member that is not
      // bundled is in training/candidates/ (the repository, not the npm package).
      const raw = await createExpressionClassifier(ort, model.bytes, model.card, { calibrated: false });
      const both = await raw.classify(crops);
      await raw.dispose();
      const views: Awaited<ReturnType<ExpressionClassifier["classify"]>>[] = [];
      for (const m of tta.members) {
        const path = (BUNDLED_CLASSIFIER_IDS as readonly string[]).includes(m.id) ? m.id : fileURLToPath(new URL(`../../training/candidates/${m.id}.onnx`, import.meta.url));
        const s = await readClassifierModel(path);
        const single = await createExpressionClassifier(ort, s.bytes, s.card, { calibrated: false });
        if (m.views !== 'mirror') views.push(await single.classify(crops));
        if (m.views !== 'face') views.push(await single.classify(crops.map(mirror)));
        await single.dispose();
      }
      let maxDiff = 0;
      both.forEach((p, i) => EXPRESSIONS.forEach((e) => { maxDiff = Math.max(maxDiff, Math.abs(p[e] - views.reduce((sum, v) => sum + v[i]![e], 0) / views.length)); }));
      console.log(`${id}: max |p - mean of the ${views.length} views of ${tta.members.map((m) => `${m.id} (${m.views})`).join(', ')}| = ${maxDiff.toExponential(2)}`);
      expect(views.length).toBe(2); // two views: the speed of one network with flip TTA
      expect(maxDiff).toBeLessThan(1e-4);
    } else if (tta?.fromModel?.id) {
      // A flip-TTA graph (training/ferkit_train/tta.py) is its single-crop graph run on the face and on its mirror image,
      // softmaxes averaged: check exactly that against the bundled single-crop graph, uncalibrated, on every face.
      const s = await readClassifierModel(tta.fromModel.id);
      const single = await createExpressionClassifier(ort, s.bytes, s.card, { calibrated: false });
      const raw = await createExpressionClassifier(ort, model.bytes, model.card, { calibrated: false });
      const [a, b, both] = [await single.classify(crops), await single.classify(crops.map(mirror)), await raw.classify(crops)];
      await single.dispose(); await raw.dispose();
      let maxDiff = 0;
      both.forEach((p, i) => EXPRESSIONS.forEach((e) => { maxDiff = Math.max(maxDiff, Math.abs(p[e] - (a[i]![e] + b[i]![e]) / 2)); }));
      console.log(`${id}: max |p - mean(p(face), p(mirror)) of ${tta.fromModel.id}| = ${maxDiff.toExponential(2)}`);
      expect(maxDiff).toBeLessThan(1e-4);
    }
    const floatId = floatOf(id);
    if (!tta && floatId && (BUNDLED_CLASSIFIER_IDS as readonly string[]).includes(floatId)) {
      // An int8 variant gives its bundled float model's top-1 on (almost) every face (the lite's float network is not
      // bundled; its card gives the float and int8 accuracy side by side, docs/model-card-ferkit-lite.md).
      const f = await readClassifierModel(floatId);
      const fc = await createExpressionClassifier(ort, f.bytes, f.card);
      const agree = (await fc.classify(crops)).filter((p, i) => top1(p) === top1(probs[i]!)).length / probs.length;
      await fc.dispose();
      console.log(`${id}: same top-1 as ${floatId} on ${(100 * agree).toFixed(1)} % of the sample`);
      expect(agree).toBeGreaterThan(0.95);
    }
  });
});
