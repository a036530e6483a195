/**
 * loadNodeRuntime: onnxruntime-node when it loads, the onnxruntime-web (WASM) fallback otherwise, with the same
 * results. The fallback is what a user gets when npm dropped the optional onnxruntime-node (its install script could not
 * download CUDA files); FERKIT_RUNTIME forces either one.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { BUNDLED_CLASSIFIERS, createExpressionClassifier } from '../../src/core/classifier/expression.js';
import { createFaceDetector } from '../../src/core/detector/index.js';
import { createPipeline } from '../../src/core/analyzer.js';
import { faceCropWindow, sampleGray } from '../../src/core/image.js';
import type { RawImage } from '../../src/core/types.js';
import { decodeImage } from '../../src/node/decode.js';
import { DEFAULT_CLASSIFIER, readClassifierModel, readDetectorModels } from '../../src/node/models.js';
import {
  NATIVE_RUNTIME_INSTALL, type NodeRuntime, type RuntimeImporters, loadNodeRuntime, selectNodeRuntime,
} from '../../src/node/runtime.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PHOTO = join(ROOT, 'node_modules', '@vladmandic', 'face-api', 'demo', 'sample1.jpg'); // MIT, 3 faces
const noPhoto = existsSync(PHOTO) ? null : `${PHOTO} is missing (npm install the devDependencies)`;
if (noPhoto) console.warn(`skipped: runtime equivalence on a real photo (${noPhoto})`);

const savedEnv = { runtime: process.env['FERKIT_RUNTIME'], threads: process.env['FERKIT_WASM_THREADS'] };
afterEach(() => {
  for (const [k, v] of [['FERKIT_RUNTIME', savedEnv.runtime], ['FERKIT_WASM_THREADS', savedEnv.threads]] as const) {
    if (v === undefined) delete process.env[k]; else process.env[k] = v;
  }
});

/** What Node throws for `import('onnxruntime-node')` when npm dropped the package. */
function notInstalled(): Error {
  return Object.assign(new Error(`Cannot find package 'onnxruntime-node' imported from ${ROOT}dist/src/node/runtime.js`), { code: 'ERR_MODULE_NOT_FOUND' });
}
/** What it throws when the package is there but its native binary is not (or does not load). */
function binaryMissing(): Error {
  return Object.assign(new Error(`Cannot find module '../bin/napi-v6/linux/x64/onnxruntime_binding.node'\nRequire stack:\n- ${ROOT}node_modules/onnxruntime-node/dist/binding.js`), { code: 'MODULE_NOT_FOUND' });
}
/** ORT errors only (BlazeFace's unused initializers make it warn otherwise). */
const QUIET = { logSeverityLevel: 3 as const };
const realWeb = (): Promise<unknown> => import('onnxruntime-web');

describe('loadNodeRuntime (FERKIT_RUNTIME)', () => {
  test('FERKIT_RUNTIME=node gives onnxruntime-node, =web gives onnxruntime-web, neither with a note; each is loaded once', async () => {
    process.env['FERKIT_RUNTIME'] = 'node';
    const node = await loadNodeRuntime();
    expect(node.name).toBe('onnxruntime-node');
    expect(node.note).toBeUndefined();
    expect(loadNodeRuntime()).toBe(loadNodeRuntime()); // memoised promise
    process.env['FERKIT_RUNTIME'] = 'web';
    const web = await loadNodeRuntime();
    expect(web.name).toBe('onnxruntime-web');
    expect(web.note).toBeUndefined();
    expect(web.wasmThreads).toBeGreaterThanOrEqual(1);
    expect(await loadNodeRuntime()).toBe(web);
  });

  test('unset (auto) picks onnxruntime-node here, where it is installed', async () => {
    delete process.env['FERKIT_RUNTIME'];
    const rt = await loadNodeRuntime();
    expect(rt.name).toBe('onnxruntime-node');
    expect(rt.note).toBeUndefined();
  });

  test('BAD VALUE: FERKIT_RUNTIME=gpu is E_OPTION naming the valid values, and is not cached', async () => {
    process.env['FERKIT_RUNTIME'] = 'gpu';
    await expect(loadNodeRuntime()).rejects.toMatchObject({ code: 'E_OPTION', message: expect.stringMatching(/'node', 'web' or 'auto'.*"gpu"/) });
    await expect(loadNodeRuntime()).rejects.toMatchObject({ code: 'E_OPTION' });
  });
});

describe('selectNodeRuntime: the fallback when onnxruntime-node cannot be loaded', () => {
  test('not installed (npm dropped it): WASM, and a one-line note with the reason, the slowdown and the install command', async () => {
    const rt = await selectNodeRuntime('auto', { node: () => Promise.reject(notInstalled()), web: realWeb }, {}, 2);
    expect(rt.name).toBe('onnxruntime-web');
    expect(rt.wasmThreads).toBe(1);
    expect(rt.note).toBeDefined();
    expect(rt.note).not.toContain('\n');
    expect(rt.note).toContain('onnxruntime-node is not installed');
    expect(rt.note).toContain('api.nuget.org');
    expect(rt.note).toMatch(/slower/);
    expect(rt.note).toContain(NATIVE_RUNTIME_INSTALL);
    expect(NATIVE_RUNTIME_INSTALL).toBe('ONNXRUNTIME_NODE_INSTALL=skip npm install onnxruntime-node');
  });

  test('installed but its native binary is missing: the note says it failed to load, with the first line of the error', async () => {
    const rt = await selectNodeRuntime('auto', { node: () => Promise.reject(binaryMissing()), web: realWeb }, {}, 8);
    expect(rt.name).toBe('onnxruntime-web');
    expect(rt.wasmThreads).toBe(4); // onnxruntime-web's own Node default: min(4, ceil(cores / 2))
    expect(rt.note).toContain("onnxruntime-node failed to load (Cannot find module '../bin/napi-v6/linux/x64/onnxruntime_binding.node')");
    expect(rt.note).not.toContain('Require stack');
    expect(rt.note).toContain(NATIVE_RUNTIME_INSTALL);
  });

  test('FERKIT_RUNTIME=node with onnxruntime-node missing is E_MODEL_LOAD with the install command (no silent fallback)', async () => {
    const err = await selectNodeRuntime('node', { node: () => Promise.reject(notInstalled()), web: realWeb }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_MODEL_LOAD' });
    expect((err as Error).message).toContain(NATIVE_RUNTIME_INSTALL);
    expect((err as Error).message).toContain("Cannot find package 'onnxruntime-node'");
  });

  test('web never imports onnxruntime-node; both missing is E_MODEL_LOAD naming both', async () => {
    let nodeImports = 0;
    const importers: RuntimeImporters = { node: () => { nodeImports++; return Promise.reject(notInstalled()); }, web: realWeb };
    expect((await selectNodeRuntime('web', importers)).name).toBe('onnxruntime-web');
    expect(nodeImports).toBe(0);
    const gone: RuntimeImporters = { node: () => Promise.reject(notInstalled()), web: () => Promise.reject(new Error('Cannot find package \'onnxruntime-web\'')) };
    await expect(selectNodeRuntime('auto', gone)).rejects.toMatchObject({
      code: 'E_MODEL_LOAD', message: expect.stringMatching(/onnxruntime-web cannot be loaded.*and onnxruntime-node: Cannot find package/),
    });
  });

  test('FERKIT_WASM_THREADS sets the WASM threads; a bad value is E_OPTION', async () => {
    const importers: RuntimeImporters = { node: () => Promise.reject(notInstalled()), web: realWeb };
    expect((await selectNodeRuntime('web', importers, { FERKIT_WASM_THREADS: '3' }, 2)).wasmThreads).toBe(3);
    await expect(selectNodeRuntime('web', importers, { FERKIT_WASM_THREADS: 'many' })).rejects.toMatchObject({ code: 'E_OPTION' });
  });

  test('every WASM session is created on the wasm backend (onnxruntime-node\'s higher-priority cpu backend is in this process too)', async () => {
    const seen: unknown[] = [];
    const fakeWeb = {
      InferenceSession: { create: (_b: Uint8Array, o: unknown) => { seen.push(o); return Promise.reject(new Error('stop')); } },
      Tensor: class {}, env: { wasm: {} as { numThreads?: number } },
    };
    const rt = await selectNodeRuntime('web', { node: () => Promise.reject(notInstalled()), web: () => Promise.resolve(fakeWeb) }, {}, 2);
    await expect(rt.ort.InferenceSession.create(new Uint8Array(1), { logSeverityLevel: 3, executionProviders: ['cpu'] })).rejects.toThrow('stop');
    expect(seen).toEqual([{ logSeverityLevel: 3, executionProviders: ['wasm'] }]);
    expect(fakeWeb.env.wasm.numThreads).toBe(1);
  });
});

describe.skipIf(noPhoto !== null)('onnxruntime-web gives the same results as onnxruntime-node (real photo)', () => {
  let node: NodeRuntime;
  let web: NodeRuntime;
  let image: RawImage;
  beforeAll(async () => {
    node = await selectNodeRuntime('node');
    web = await selectNodeRuntime('web');
    image = await decodeImage(PHOTO);
  });

  test('ferkit-resnet-s (float): the same probabilities within 1e-4 on the photo\'s 3 face crops and 2 shifted crops', async () => {
    const detector = await createFaceDetector(node.ort, await readDetectorModels(), {}, QUIET);
    const faces = await detector.detect(image);
    await detector.dispose();
    expect(faces).toHaveLength(3);
    const crops = faces.map((f) => sampleGray(image, faceCropWindow(f), 48));
    crops.push(sampleGray(image, faceCropWindow(faces[0]!, { margin: 0.4, shiftDown: 0.1 }), 48));
    crops.push(sampleGray(image, faceCropWindow(faces[2]!, { margin: 0, shiftDown: -0.1 }), 48));
    const model = await readClassifierModel(BUNDLED_CLASSIFIERS.float); // float kernels: the int8 models' integer kernels differ by rounding
    const [a, b] = await Promise.all([node, web].map((rt) => createExpressionClassifier(rt.ort, model.bytes, model.card, { session: QUIET })));
    try {
      const [pa, pb] = [await a!.classify(crops), await b!.classify(crops)];
      expect(pb).toHaveLength(5);
      let maxDiff = 0;
      pa.forEach((p, i) => {
        for (const [label, v] of Object.entries(p)) maxDiff = Math.max(maxDiff, Math.abs(v - pb[i]![label as keyof typeof p]));
      });
      console.log(`ferkit-resnet-s, onnxruntime-node vs onnxruntime-web on ${crops.length} crops: largest probability difference ${maxDiff.toExponential(2)}`);
      expect(maxDiff).toBeLessThan(1e-4);
      // and the crops are not all alike: the runtimes agree on different answers
      expect(new Set(pa.map((p) => Object.entries(p).sort((x, y) => y[1] - x[1])[0]![0])).size + new Set(pa.map((p) => p.happy.toFixed(2))).size).toBeGreaterThan(2);
    } finally {
      await Promise.all([a!.dispose(), b!.dispose()]);
    }
  }, 60_000);

  test('the whole pipeline on WASM (BlazeFace + the default classifier, int8) finds the same 3 faces with the same labels', async () => {
    const model = await readClassifierModel(DEFAULT_CLASSIFIER); // ferkit-resnet-s-int8: both runtimes' integer kernels
    const results = [];
    for (const rt of [node, web]) {
      const detector = await createFaceDetector(rt.ort, await readDetectorModels(), {}, QUIET);
      const classifier = await createExpressionClassifier(rt.ort, model.bytes, model.card, { session: QUIET });
      try {
        results.push(await createPipeline(detector, classifier).analyze(image));
      } finally {
        await Promise.all([detector.dispose(), classifier.dispose()]);
      }
    }
    const [rn, rw] = results;
    expect(rw!.faces).toHaveLength(3);
    const scoreDiff = Math.max(...rn!.faces.map((f, i) => Math.abs(rw!.faces[i]!.labelScore - f.labelScore)));
    console.log(`${DEFAULT_CLASSIFIER}, onnxruntime-node vs onnxruntime-web, whole pipeline: largest label-score difference ${scoreDiff.toExponential(2)}`);
    rn!.faces.forEach((f, i) => {
      const g = rw!.faces[i]!;
      expect(g.label).toBe(f.label);
      for (const k of ['x', 'y', 'width', 'height'] as const) expect(Math.abs(g.box[k] - f.box[k])).toBeLessThan(0.5);
      expect(Math.abs(g.labelScore - f.labelScore)).toBeLessThan(1e-3);
    });
  }, 120_000);
});
