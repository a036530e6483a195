/** `startOrtRuntime` (src/web/ort.ts): its embedded one-node model is a real ONNX model, and a failure names the runtime files. */
import * as ortNode from 'onnxruntime-node';
import { expect, test } from 'vitest';
import { startOrtRuntime, type OrtWebModule } from '../../src/web/ort.js';

test('startOrtRuntime creates and releases a session of its 70-byte model (checked with onnxruntime-node)', async () => {
  const created: { inputNames: readonly string[]; outputNames: readonly string[]; bytes: number }[] = [];
  let released = 0;
  const ort = {
    env: { wasm: {} },
    Tensor: ortNode.Tensor,
    InferenceSession: {
      async create(bytes: Uint8Array, options?: object) {
        const s = await ortNode.InferenceSession.create(bytes, options);
        created.push({ inputNames: s.inputNames, outputNames: s.outputNames, bytes: bytes.length });
        const out = await s.run({ x: new ortNode.Tensor('float32', Float32Array.of(2.5), [1]) });
        expect(out.y!.data[0]).toBe(2.5); // Identity
        return { release: async () => { released++; await s.release(); } };
      },
    },
  } as unknown as OrtWebModule;
  await startOrtRuntime(ort, { logSeverityLevel: 3 });
  expect(created).toEqual([{ inputNames: ['x'], outputNames: ['y'], bytes: 70 }]);
  expect(released).toBe(1);
});

test('EXPECTED FAILURE: a runtime that cannot start gives E_MODEL_LOAD naming where its files were looked for', async () => {
  const ort = {
    env: { wasm: { wasmPaths: 'http://localhost/ort/' } },
    InferenceSession: { create: async () => { throw new Error('no available backend found'); } },
  } as unknown as OrtWebModule;
  await expect(startOrtRuntime(ort, {})).rejects.toMatchObject({
    code: 'E_MODEL_LOAD', message: expect.stringMatching(/runtime files from http:\/\/localhost\/ort\/.*no available backend found/),
  });
});
