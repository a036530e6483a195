/**
 * Training smoke run (never a real training): a few hundred FER2013 images for one epoch, exported to ONNX,
 * loaded by ferkit and checked against the PyTorch logits. Also trains from a generated fer2013.csv.
 */
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, test } from 'vitest';
import { createExpressionClassifier } from '../../src/core/classifier/expression.js';
import { readClassifierModel } from '../../src/node/models.js';
import { FER2013_DIR, HAS_FER2013, NO_SHARED } from '../helpers/shared.js';

const PY = '/usr/bin/python3';
const TRAINING = fileURLToPath(new URL('../../training/', import.meta.url));
const HAS_TORCH = spawnSync(PY, ['-c', 'import torch, onnx'], { stdio: 'ignore' }).status === 0;
if (!HAS_TORCH) console.warn('skipped: Debian python3-torch/python3-onnx missing (apt-get install python3-torch python3-onnx)');
const tmp = mkdtempSync(join(tmpdir(), 'ferkit-train-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs a training module asynchronously: a synchronous child would block vitest's worker for minutes (RPC timeouts). */
async function py(args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(PY, ['-m', ...args], { cwd: TRAINING, encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, PYTHONWARNINGS: 'ignore' } });
  return stdout;
}

/** Runs a Python snippet (its lines joined) from `training/`, with `args` as `sys.argv[1:]`; returns its stdout. */
async function pyCode(lines: string[], ...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(PY, ['-c', lines.join('\n'), ...args], { cwd: TRAINING, encoding: 'utf8', maxBuffer: 64 << 20 });
  return stdout;
}

/** Python lines that load the default's parity fixture: `fx` (its pixels and logits) and `x`, its four inputs as the
 * normalised NCHW float32 tensor `[4, 1, 48, 48]`. */
const PARITY_INPUT = [
  'import json, torch',
  'fx = json.load(open("../test/fixtures/ferkit-resnet-s.parity.json"))',
  'x = ((torch.tensor(fx["pixels"], dtype=torch.float32) - 127.5) / 127.5).reshape(-1, 1, 48, 48)',
];

describe('training recipe (smoke)', () => {
  test.skipIf(!HAS_TORCH)('a shipped .onnx as the distillation teacher: OnnxModule reproduces the exported logits (parity fixture)', async () => {
    const stdout = await pyCode([
      ...PARITY_INPUT,
      'from ferkit_train.onnx_teacher import OnnxModule',
      'out = OnnxModule("../models/ferkit-resnet-s.onnx")(x)',
      'print(float((out - torch.tensor(fx["logits"])).abs().max()))',
    ]);
    expect(Number(stdout.trim())).toBeLessThan(1e-4);
  });

  test.skipIf(!HAS_TORCH || !HAS_FER2013)(`folders: 1 epoch on 300 images, export, ORT parity ${HAS_FER2013 ? '' : NO_SHARED}`, async () => {
    const run = join(tmp, 'run');
    // resnet_xs, the shipped lite's network: the trainer's default (ferkit_lite) runs its depthwise layers at 48 px, and
    // scoring PublicTest with it in the two exports and the quantization made this test take 8 min on a loaded machine
    const log = await py(['ferkit_train.train', '--data', FER2013_DIR, '--out', run, '--limit', '300', '--epochs', '1', '--threads', '1', '--model', 'resnet_xs']);
    expect(log).toMatch(/epoch=1 /);
    const summary = readFileSync(join(run, 'summary.csv'), 'utf8').trim().split('\n');
    expect(summary).toHaveLength(2);
    await py(['ferkit_train.export', '--run', run, '--id', 'smoke', '--data', FER2013_DIR, '--models', join(tmp, 'models'), '--fixtures', join(tmp, 'fx')]);
    const model = await readClassifierModel(join(tmp, 'models', 'smoke.onnx'));
    const card = model.card as { metrics: { publicTest: { n: number; accuracy: number } }; training: { epochsRun: number } };
    expect(card.metrics.publicTest.n).toBe(3589);
    expect(card.training.epochsRun).toBe(1);
    const classifier = await createExpressionClassifier(ort, model.bytes, model.card);
    const fx = JSON.parse(readFileSync(join(tmp, 'fx', 'smoke.parity.json'), 'utf8')) as { pixels: number[][]; logits: number[][] };
    const rows = await classifier.logits(fx.pixels.map((p) => Float32Array.from(p)));
    rows.forEach((r, i) => r.forEach((v, j) => expect(Math.abs(v - fx.logits[i]![j]!)).toBeLessThan(1e-3)));
    await classifier.dispose();

    // --tta flip: the graph averages each face with its mirror image, so a face and its mirror get the same output
    await py(['ferkit_train.export', '--run', run, '--id', 'smoke-tta', '--tta', 'flip', '--data', FER2013_DIR, '--models', join(tmp, 'models'), '--fixtures', join(tmp, 'fx')]);
    const tta = await readClassifierModel(join(tmp, 'models', 'smoke-tta.onnx'));
    const ttaCard = tta.card as { input: { tta: string }; metrics: { publicTest: { accuracy: number }; publicTestSingleCrop: { accuracy: number } } };
    expect(ttaCard.input.tta).toBe('flip');
    expect(ttaCard.metrics.publicTestSingleCrop.accuracy).toBe(card.metrics.publicTest.accuracy);
    const ttaClassifier = await createExpressionClassifier(ort, tta.bytes, tta.card);
    const ttaFx = JSON.parse(readFileSync(join(tmp, 'fx', 'smoke-tta.parity.json'), 'utf8')) as { pixels: number[][]; logits: number[][] };
    const ttaRows = await ttaClassifier.logits(ttaFx.pixels.map((p) => Float32Array.from(p)));
    ttaRows.forEach((r, i) => r.forEach((v, j) => expect(Math.abs(v - ttaFx.logits[i]![j]!)).toBeLessThan(1e-3)));
    const face = Float32Array.from(ttaFx.pixels[0]!);
    const mirror = face.map((_, k) => face[Math.floor(k / 48) * 48 + (47 - (k % 48))]!);
    const [a, b] = await ttaClassifier.logits([face, mirror]);
    a!.forEach((v, j) => expect(Math.abs(v - b![j]!)).toBeLessThan(1e-4));
    await ttaClassifier.dispose();

    // int8 (ferkit_train.quantize): a QDQ graph that ONNX Runtime fuses into integer kernels; its card keeps the float
    // card's contract and says how it was quantized; ORT's logits match the PyTorch simulation of the QDQ graph to ~0.01
    await py(['ferkit_train.quantize', '--model', join(tmp, 'models', 'smoke.onnx'), '--data', FER2013_DIR, '--calibration', '64',
      '--out', join(tmp, 'models', 'smoke-int8.onnx'), '--fixtures', join(tmp, 'fx')]);
    const q = await readClassifierModel(join(tmp, 'models', 'smoke-int8.onnx'));
    const qCard = q.card as { id: string; bytes: number; quantization: { floatModel: { id: string } }; metrics: { publicTest: { n: number } } };
    expect(qCard.id).toBe('smoke-int8');
    expect(qCard.quantization.floatModel.id).toBe('smoke');
    expect(qCard.metrics.publicTest.n).toBe(3589);
    expect(qCard.bytes).toBeLessThan(model.bytes.length / 2);
    const qClassifier = await createExpressionClassifier(ort, q.bytes, q.card);
    const qFx = JSON.parse(readFileSync(join(tmp, 'fx', 'smoke-int8.parity.json'), 'utf8')) as { pixels: number[][]; logits: number[][] };
    const qRows = await qClassifier.logits(qFx.pixels.map((p) => Float32Array.from(p)));
    qRows.forEach((r, i) => r.forEach((v, j) => expect(Math.abs(v - qFx.logits[i]![j]!)).toBeLessThan(0.05)));

    // flip TTA around an already exported graph (ferkit_train.tta, how the default is made from the int8 graph): the
    // card says tta flip and keeps the network's own figure; a face and its mirror give the same output; ORT matches
    // the PyTorch reference; the output's softmax is the mean of the int8 graph's on the face and on its mirror
    await py(['ferkit_train.tta', '--model', join(tmp, 'models', 'smoke-int8.onnx'), '--data', FER2013_DIR,
      '--out', join(tmp, 'models', 'smoke-int8-flip.onnx'), '--fixtures', join(tmp, 'fx')]);
    const f = await readClassifierModel(join(tmp, 'models', 'smoke-int8-flip.onnx'));
    const fCard = f.card as { id: string; input: { tta: string }; tta: { fromModel: { id: string } }; metrics: { publicTest: { n: number }; publicTestSingleCrop: { accuracy: number } } };
    expect([fCard.id, fCard.input.tta, fCard.tta.fromModel.id]).toEqual(['smoke-int8-flip', 'flip', 'smoke-int8']);
    expect(fCard.metrics.publicTest.n).toBe(3589);
    expect(fCard.metrics.publicTestSingleCrop.accuracy).toBeGreaterThan(0);
    const fClassifier = await createExpressionClassifier(ort, f.bytes, f.card, { calibrated: false });
    const fFx = JSON.parse(readFileSync(join(tmp, 'fx', 'smoke-int8-flip.parity.json'), 'utf8')) as { pixels: number[][]; logits: number[][] };
    const fRows = await fClassifier.logits(fFx.pixels.map((p) => Float32Array.from(p)));
    fRows.forEach((r, i) => r.forEach((v, j) => expect(Math.abs(v - fFx.logits[i]![j]!)).toBeLessThan(0.05)));
    const [fa, fb] = await fClassifier.classify([face, mirror]);
    const [qa, qb] = await qClassifier.classify([face, mirror]);
    for (const e of Object.keys(fa!) as (keyof typeof fa)[]) {
      expect(Math.abs(fa![e] - fb![e])).toBeLessThan(1e-5);
      expect(Math.abs(fa![e] - (qa![e] + qb![e]) / 2)).toBeLessThan(1e-4);
    }

    // an in-graph ensemble (ferkit_train.tta with --model repeated): the float graph on the face and its mirror plus the
    // int8 graph on the face only; the output's softmax is the mean of those three softmaxes, and ORT matches PyTorch
    await py(['ferkit_train.tta', '--model', join(tmp, 'models', 'smoke.onnx'), '--model', join(tmp, 'models', 'smoke-int8.onnx'),
      '--flip', '1,0', '--id', 'smoke-ensemble', '--data', FER2013_DIR, '--out', join(tmp, 'models', 'smoke-ensemble.onnx'), '--fixtures', join(tmp, 'fx')]);
    const en = await readClassifierModel(join(tmp, 'models', 'smoke-ensemble.onnx'));
    const enCard = en.card as { input: { tta: string }; tta: { members: { id: string; views: string }[] }; metrics: { publicTestMembers: Record<string, { n: number }> } };
    expect(enCard.input.tta).toBe('ensemble');
    expect(enCard.tta.members.map((m) => [m.id, m.views])).toEqual([['smoke', 'both'], ['smoke-int8', 'face']]);
    expect(Object.keys(enCard.metrics.publicTestMembers)).toEqual(['smoke', 'smoke-int8']);
    const enClassifier = await createExpressionClassifier(ort, en.bytes, en.card, { calibrated: false });
    const enFx = JSON.parse(readFileSync(join(tmp, 'fx', 'smoke-ensemble.parity.json'), 'utf8')) as { pixels: number[][]; logits: number[][] };
    const enRows = await enClassifier.logits(enFx.pixels.map((p) => Float32Array.from(p)));
    enRows.forEach((r, i) => r.forEach((v, j) => expect(Math.abs(v - enFx.logits[i]![j]!)).toBeLessThan(1e-3)));
    const fl = await createExpressionClassifier(ort, model.bytes, model.card, { calibrated: false });
    const [ea] = await enClassifier.classify([face]);
    const [sa, sb] = await fl.classify([face, mirror]);
    for (const e of Object.keys(ea!) as (keyof typeof ea)[]) expect(Math.abs(ea![e] - (sa![e] + sb![e] + qa![e]) / 3)).toBeLessThan(1e-4);
    // `--flip 0,m`, the default's design: the first member on the face, the second on the mirror image only (two views)
    await py(['ferkit_train.tta', '--model', join(tmp, 'models', 'smoke.onnx'), '--model', join(tmp, 'models', 'smoke-int8.onnx'),
      '--flip', '0,m', '--id', 'smoke-cross', '--data', FER2013_DIR, '--out', join(tmp, 'models', 'smoke-cross.onnx'), '--fixtures', join(tmp, 'fx')]);
    const cross = await readClassifierModel(join(tmp, 'models', 'smoke-cross.onnx'));
    expect((cross.card as { tta: { members: { views: string }[] } }).tta.members.map((m) => m.views)).toEqual(['face', 'mirror']);
    const crossClassifier = await createExpressionClassifier(ort, cross.bytes, cross.card, { calibrated: false });
    const crossFx = JSON.parse(readFileSync(join(tmp, 'fx', 'smoke-cross.parity.json'), 'utf8')) as { pixels: number[][]; logits: number[][] };
    (await crossClassifier.logits(crossFx.pixels.map((p) => Float32Array.from(p)))).forEach((r, i) => r.forEach((v, j) => expect(Math.abs(v - crossFx.logits[i]![j]!)).toBeLessThan(0.05)));
    const [ca] = await crossClassifier.classify([face]);
    for (const e of Object.keys(ca!) as (keyof typeof ca)[]) expect(Math.abs(ca![e] - (sa![e] + qb![e]) / 2)).toBeLessThan(1e-4);
    await crossClassifier.dispose();
    await fl.dispose();
    await enClassifier.dispose();
    await fClassifier.dispose();
    await qClassifier.dispose();
  }, 600_000); // one epoch + two exports, a quantization and a flip wrap (each scores PublicTest): ~50 s on 2 idle cores

  test.skipIf(!HAS_TORCH || !HAS_FER2013)(`a run killed mid-epoch resumes at that batch and ends exactly like an uninterrupted run ${HAS_FER2013 ? '' : NO_SHARED}`, async () => {
    const common = ['--data', FER2013_DIR, '--limit', '256', '--batch-size', '32', '--epochs', '2', '--threads', '1', '--seed', '3', '--ema', '0.9'];
    await py(['ferkit_train.train', ...common, '--out', join(tmp, 'whole')]);
    const killed = await promisify(execFile)(PY, ['-m', 'ferkit_train.train', ...common, '--out', join(tmp, 'resumed'), '--stop-after-steps', '11'],
      { cwd: TRAINING, encoding: 'utf8' }).then(() => ({ status: 0, stdout: '' }), (e: { code: number; stdout: string }) => ({ status: e.code, stdout: e.stdout }));
    expect(killed.status).toBe(3);
    expect(killed.stdout).toMatch(/stopped after 11 steps \(epoch 2, step 3\)/);
    const log = await py(['ferkit_train.train', ...common, '--out', join(tmp, 'resumed'), '--resume']);
    expect(log).toMatch(/resumed at epoch 1 step 3\/8/);
    // every column but the wall-clock seconds is identical
    const rows = (dir: string) => readFileSync(join(tmp, dir, 'summary.csv'), 'utf8').trim().split('\n').map((r) => r.split(',').slice(0, -1).join(','));
    expect(rows('resumed')).toEqual(rows('whole'));
  }, 120_000);

  // Quantization-aware fine-tuning (ferkit_train.qat, how ferkit-resnet-s-int8 was made): its forward pass is the int8
  // graph quantize.py writes (the same top-1 from the start), and the graph it exports is what ONNX Runtime then runs
  test.skipIf(!HAS_TORCH || !HAS_FER2013)(`qat: one epoch on 256 images through the int8 graph, exported as a QDQ graph ORT runs ${HAS_FER2013 ? '' : NO_SHARED}`, async () => {
    const out = join(tmp, 'qat');
    const log = await py(['ferkit_train.qat', '--model', '../models/ferkit-resnet-s.onnx', '--data', FER2013_DIR, '--out', out, '--limit', '256',
      '--epochs', '1', '--calibration', '64', '--threads', '1', '--id', 'smoke-qat', '--export', join(out, 'smoke-qat.onnx'), '--fixtures', join(tmp, 'fx')]);
    // the trainable graph and quantize.py's int8 graph of the same weights and ranges: the same logits up to rounding ties
    expect(Number(/max \|logit difference\| ([0-9.e+-]+)/.exec(log)?.[1])).toBeLessThan(0.1);
    expect(log).toMatch(/^epoch=1 .*holdout=/m);
    const q = await readClassifierModel(join(out, 'smoke-qat.onnx'));
    const card = q.card as { id: string; quantization: { floatModel: { id: string }; qat: { epochs: number; trainImages: number } }; metrics: { publicTest: { n: number } } };
    expect([card.id, card.quantization.floatModel.id, card.quantization.qat.epochs, card.quantization.qat.trainImages]).toEqual(['smoke-qat', 'ferkit-resnet-s', 1, 256]);
    expect(card.metrics.publicTest.n).toBe(3589);
    expect(q.bytes.length).toBeLessThan(1_300_000); // int8 weights: about a quarter of the 4.5 MB float graph
    const classifier = await createExpressionClassifier(ort, q.bytes, q.card, { calibrated: false });
    const fx = JSON.parse(readFileSync(join(tmp, 'fx', 'smoke-qat.parity.json'), 'utf8')) as { pixels: number[][]; logits: number[][] };
    (await classifier.logits(fx.pixels.map((p) => Float32Array.from(p)))).forEach((r, i) => r.forEach((v, j) => expect(Math.abs(v - fx.logits[i]![j]!)).toBeLessThan(0.05)));
    await classifier.dispose();
  }, 300_000);

  test.skipIf(!HAS_TORCH)('--init from a shipped .onnx: the PyTorch network computes the graph\'s logits (BatchNorm unfolded); int8 graphs and other architectures are refused', async () => {
    const stdout = await pyCode([
      ...PARITY_INPUT,
      'from ferkit_train.models import create_model',
      'from ferkit_train.onnx_init import init_from_onnx',
      'm = create_model("resnet_s")',
      'init_from_onnx(m, "../models/ferkit-resnet-s.onnx", torch.cat([x, x.flip(3)]))',
      'print(float((m.eval()(x) - torch.tensor(fx["logits"])).abs().max()))',
      'for name, path in [("resnet_s", "../models/ferkit-resnet-s-int8.onnx"), ("resnet_xs", "../models/ferkit-resnet-s.onnx")]:',
      '    try: init_from_onnx(create_model(name), path, x)',
      '    except ValueError as e: print(e)',
    ]);
    const [diff, int8, other] = stdout.trim().split('\n');
    expect(Number(diff)).toBeLessThan(1e-4);
    expect(int8).toBe('../models/ferkit-resnet-s-int8.onnx: an int8 (QDQ) graph; start from its float graph instead');
    expect(other).toMatch(/^\.\.\/models\/ferkit-resnet-s\.onnx: 18 Conv and 1 Gemm nodes, but the model has 12 convolutions/);
  });

  test.skipIf(!HAS_TORCH)('fer2013.csv layout: loads Training/PublicTest rows and trains an epoch', async () => {
    // A generated CSV in the original format (emotion,pixels,Usage): no dataset pixels needed.
    let s = 1;
    const rnd = () => ((s = (s * 16807) % 2147483647) % 256);
    const rows = ['emotion,pixels,Usage'];
    for (let i = 0; i < 140; i++) {
      const usage = i < 112 ? 'Training' : 'PublicTest';
      rows.push(`${i % 7},${Array.from({ length: 2304 }, rnd).join(' ')},${usage}`);
    }
    rows.push('3,1 2 3,Training'); // a malformed row: reported and skipped
    const csv = join(tmp, 'fer2013.csv');
    writeFileSync(csv, rows.join('\n') + '\n');
    const log = await py(['ferkit_train.train', '--data', csv, '--out', join(tmp, 'csvrun'), '--epochs', '1', '--threads', '1']);
    // the calibration hold-out (FNV-1a of "Training:<line>" mod 100 < 7) is left out of the 112 Training rows
    const held = Number(/calibration hold-out: (\d+) of 112 Training images left out/.exec(log)?.[1]);
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThan(30);
    expect(log).toMatch(new RegExp(`train ${112 - held} images, val 28`));
    expect(log).toMatch(/epoch=1 /);

    // --init: start from a trained run's weights (how an ensemble is distilled into one of its members); the
    // architecture must match
    const initLog = await py(['ferkit_train.train', '--data', csv, '--out', join(tmp, 'csvinit'), '--epochs', '1', '--threads', '1',
      '--init', join(tmp, 'csvrun', 'best.pt')]);
    expect(initLog).toMatch(/initialised from .*csvrun\/best\.pt \(epoch 1, val acc /);
    const mismatch = await py(['ferkit_train.train', '--data', csv, '--out', join(tmp, 'csvinit2'), '--epochs', '1', '--threads', '1',
      '--model', 'resnet_xs', '--init', join(tmp, 'csvrun', 'best.pt')]).then(() => '', (e: { stderr: string }) => e.stderr);
    expect(mismatch).toMatch(/--init .*csvrun\/best\.pt: its model is ferkit_lite, not resnet_xs/);
    // --init from a shipped float .onnx (the checkpoint is gone; the graph is committed)
    const onnxInit = await py(['ferkit_train.train', '--data', csv, '--out', join(tmp, 'csvonnx'), '--epochs', '1', '--threads', '1',
      '--model', 'resnet_s', '--init', '../models/ferkit-resnet-s.onnx']);
    expect(onnxInit).toMatch(new RegExp(`initialised from \\.\\./models/ferkit-resnet-s\\.onnx \\(BatchNorm statistics rebuilt from ${112 - held} training images\\)`));

    // Distillation from an ensemble of two shipped models, flip-averaged, with the teacher logits computed once
    const kd = join(tmp, 'csvkd');
    const kdArgs = ['ferkit_train.train', '--data', csv, '--out', kd, '--epochs', '1', '--threads', '1',
      '--teacher', '../models/ferkit-lite.onnx,../models/ferkit-resnet-s.onnx', '--teacher-flip', '--teacher-offline'];
    expect(await py(kdArgs)).toMatch(new RegExp(`teacher logits for ${112 - held} images`));
    const stdout = await pyCode([`import numpy as np; a = np.load("${join(kd, 'teacher_logits.npy')}"); print(a.shape, a.dtype)`]);
    expect(stdout.trim()).toBe(`(${112 - held}, 7) float32`);
    // the cache is reused for the same teachers and images, and recomputed for other teachers
    expect(await py(kdArgs)).not.toMatch(/teacher logits for/);
    const other = kdArgs.map((a) => (a.includes(',') ? '../models/ferkit-lite.onnx' : a));
    expect(await py(other)).toMatch(new RegExp(`teacher logits for ${112 - held} images`));
  }, 180_000);

  // Two queue workers started together used to write the same `<split>-<key>.tmp.npz`: one renamed it, the other's
  // rename failed (FileNotFoundError) and its run died before the first batch.
  test.skipIf(!HAS_TORCH)('the decoded-split cache: four trainers loading one folder at once all get it, one complete cache file stays', async () => {
    const data = join(tmp, 'cache-data');
    await pyCode([
      'import sys, numpy as np', 'from pathlib import Path', 'from PIL import Image', 'from ferkit_train.data import EXPRESSIONS',
      'rng = np.random.default_rng(3)',
      'for c in EXPRESSIONS:',
      '    d = Path(sys.argv[1]) / "Training" / c; d.mkdir(parents=True)',
      '    for i in range(40): Image.fromarray(rng.integers(0, 256, (48, 48), dtype=np.uint8)).save(d / f"{i}.png")',
    ], data);
    const cache = join(tmp, 'cache');
    // a slow disk, as the 66 MB cache of the real Training split has: each write takes a second, so the four overlap
    const load = ['import sys, time, numpy as np', 'from ferkit_train.data import load_split_with_ids',
      'save = np.savez', 'np.savez = lambda *a, **k: (save(*a, **k), time.sleep(1.0))',
      'x, y, ids = load_split_with_ids(sys.argv[1], "Training", sys.argv[2])', 'print(x.shape[0], int(x.sum() % 100003))'];
    const outs = await Promise.all(Array.from({ length: 4 }, async () => (await pyCode(load, data, cache)).trim()));
    expect(new Set(outs).size).toBe(1);
    expect(outs[0]!.split(' ')[0]).toBe('280');
    const files = readdirSync(cache);
    expect(files.filter((f) => f.endsWith('.tmp.npz')), 'a temporary file left behind').toEqual([]);
    expect(files).toHaveLength(1);
    // and it is complete: a fifth load reads it back (same images)
    expect((await pyCode(load, data, cache)).trim()).toBe(outs[0]);
  }, 120_000);

  // The spatial transformer's grid_sample exports only from opset 16 (GridSample); the rest stay at 13.
  test.skipIf(!HAS_TORCH)('the STN model (attention comparison) exports at opset 16 and ONNX Runtime matches PyTorch within 1e-3', async () => {
    const out = join(tmp, 'stn.onnx');
    const stdout = await pyCode([
      'import json, sys, torch, onnx', 'from ferkit_train.models import create_model', 'from ferkit_train.export import export_onnx',
      'torch.manual_seed(1)', 'm = create_model("stn_cnn").eval()',
      'with torch.no_grad():',  // a warp away from the identity, so the sampler really moves pixels
      '    m.stn.loc[-1].bias.copy_(torch.tensor([0.9, 0.1, 0.05, -0.1, 0.9, -0.05]))',
      'export_onnx(m, sys.argv[1])',
      'x = torch.rand(3, 1, 48, 48) * 2 - 1',
      'print(json.dumps({"opset": onnx.load(sys.argv[1]).opset_import[0].version, "x": x.flatten().tolist(), "logits": m(x).tolist()}))',
    ], out);
    const fx = JSON.parse(stdout) as { opset: number; x: number[]; logits: number[][] };
    expect(fx.opset).toBe(16);
    const session = await ort.InferenceSession.create(out);
    const result = await session.run({ input: new ort.Tensor('float32', Float32Array.from(fx.x), [3, 1, 48, 48]) });
    const logits = result['logits']!.data as Float32Array;
    fx.logits.flat().forEach((v, i) => expect(Math.abs(v - logits[i]!)).toBeLessThan(1e-3));
    await session.release();
  }, 120_000);

  test.skipIf(!HAS_TORCH)('probe: an untrained architecture as float and int8 graphs that ONNX Runtime runs (for timing before training)', async () => {
    const out = join(tmp, 'probe');
    expect(await py(['ferkit_train.probe', '--out', out, 'resnet_xs'])).toMatch(/resnet_xs: 0\.47\d M parameters/);
    const input = new ort.Tensor('float32', new Float32Array(2 * 48 * 48).fill(0.25), [2, 1, 48, 48]);
    for (const f of ['resnet_xs.onnx', 'resnet_xs-int8.onnx']) {
      const session = await ort.InferenceSession.create(join(out, f));
      const { logits } = await session.run({ input });
      expect(logits!.dims).toEqual([2, 7]);
      expect([...(logits!.data as Float32Array)].every(Number.isFinite)).toBe(true);
      await session.release();
    }
    // int8 weights: about a quarter of the float file
    expect(statSync(join(out, 'resnet_xs-int8.onnx')).size).toBeLessThan(0.35 * statSync(join(out, 'resnet_xs.onnx')).size);
  }, 120_000);

  test.skipIf(!HAS_TORCH)('ensemble: the accuracy of every combination of exported graphs, single crop and with flips', async () => {
    let s = 7;
    const rnd = () => ((s = (s * 16807) % 2147483647) % 256);
    const csv = join(tmp, 'ens.csv');
    writeFileSync(csv, ['emotion,pixels,Usage', ...Array.from({ length: 21 }, (_, i) => `${i % 7},${Array.from({ length: 2304 }, rnd).join(' ')},PublicTest`)].join('\n') + '\n');
    const table = (await py(['ferkit_train.ensemble', '--data', csv, 'lite=../models/ferkit-lite.onnx', 'default=../models/ferkit-resnet-s.onnx'])).trim().split('\n');
    const rows = table.slice(2, 5);
    expect(rows.map((r) => r.split(' | ')[0])).toEqual(['| lite', '| default', '| lite + default']);
    for (const r of rows) expect(r).toMatch(/^\| [^|]+ \| \d+\.\d\d% \| \d+\.\d\d% \|$/);
    // two models: the face-by-face comparison, whose counts explain the accuracy difference on the 21 faces
    const pair = /^face by face \(single crop\): right only with lite: (\d+), only with default: (\d+); exact McNemar p = ([\d.]+)$/.exec(table[5]!);
    expect(pair).not.toBeNull();
    const acc = rows.slice(0, 2).map((r) => Number(r.split(' | ')[1]!.replace('%', '')));
    expect(((Number(pair![1]) - Number(pair![2])) / 21) * 100).toBeCloseTo(acc[0]! - acc[1]!, 1);
    expect(Number(pair![3])).toBeGreaterThan(0);
    expect(Number(pair![3])).toBeLessThanOrEqual(1);
    // --views 2: every combination of up to two views (a model on the face, NAME, or on its mirror image, NAME~): 4 + 6
    // rows; a model with its own mirror equals that model with flips in the table above
    const viewTable = (await py(['ferkit_train.ensemble', '--data', csv, '--views', '2', 'lite=../models/ferkit-lite.onnx', 'default=../models/ferkit-resnet-s.onnx'])).trim().split('\n');
    const start = viewTable.indexOf('| views (NAME~: on the mirror image) | PublicTest |');
    const viewRows = viewTable.slice(start + 2, start + 12);
    expect(viewRows.map((r) => r.split(' | ')[0])).toEqual(['| lite', '| default', '| lite~', '| default~', '| lite + default', '| lite + lite~',
      '| lite + default~', '| default + lite~', '| default + default~', '| lite~ + default~']);
    expect(viewRows[5]!.split(' | ')[1]!.replace(' |', '')).toBe(rows[0]!.split(' | ')[2]!.replace(' |', ''));
    // --split holdout: the Training rows whose id falls in the calibration hold-out (FNV-1a of "Training:<line>" mod 100 < 7)
    const training = Array.from({ length: 140 }, (_, i) => `${i % 7},${Array.from({ length: 2304 }, rnd).join(' ')},Training`);
    writeFileSync(csv, ['emotion,pixels,Usage', ...training].join('\n') + '\n');
    const held = (await py(['ferkit_train.ensemble', '--data', csv, '--split', 'holdout', 'lite=../models/ferkit-lite.onnx'])).trim().split('\n');
    const n = Number(/calibration hold-out: (\d+) Training images/.exec(held[0]!)?.[1]);
    expect(n).toBeGreaterThan(0);
    expect(n).toBeLessThan(30);
    expect(held[1]).toBe('| members | holdout single crop | with flips |');
  }, 120_000);
});
