#!/usr/bin/env node
// onnxruntime-node vs the onnxruntime-web (WASM) fallback in Node, same machine, same run: classifier faces/s at batch
// 64 (ferkit-lite and ferkit-resnet-s, real crops from the parity fixtures) and ms per photo for the whole pipeline (decode +
// BlazeFace + classify, 1920×1280 photo with 3 faces). Each runtime/thread count runs in its own child process (the
// WASM backend is initialised once per process). Not a test: prints a table and writes results/runtime-speed.json.
//   usage: npm run build && nice -n 19 node test/pack/runtime-speed.mjs [seconds-per-measure, default 8]
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PHOTO = `${ROOT}node_modules/@vladmandic/face-api/demo/sample1.jpg`;
const SECONDS = Number(process.env.SECONDS_PER_MEASURE ?? (process.argv[2] === '--child' ? 8 : process.argv[2] ?? 8));

async function child(runtime, threads) {
  process.env.FERKIT_RUNTIME = runtime;
  if (threads) process.env.FERKIT_WASM_THREADS = String(threads);
  const d = (p) => import(`${ROOT}dist/src/${p}`);
  const { loadNodeRuntime } = await d('node/runtime.js');
  const { readClassifierModel, readDetectorModels } = await d('node/models.js');
  const { decodeImage } = await d('node/decode.js');
  const { createExpressionClassifier } = await d('core/classifier/expression.js');
  const { createFaceDetector } = await d('core/detector/index.js');
  const { createPipeline } = await d('core/analyzer.js');
  const rt = await loadNodeRuntime();
  const session = { logSeverityLevel: 3, ...(runtime === 'node' && threads ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}) };
  const timeLoop = async (fn) => { // warm up twice, then as many runs as fit in SECONDS
    await fn(); await fn();
    let n = 0; const t0 = performance.now();
    while (performance.now() - t0 < SECONDS * 1000) { await fn(); n++; }
    return (performance.now() - t0) / n;
  };
  const out = { runtime: rt.name, threads: rt.wasmThreads ?? (threads || 'ORT default') };
  for (const id of ['ferkit-lite', 'ferkit-resnet-s']) {
    const m = await readClassifierModel(id);
    const fx = JSON.parse(readFileSync(`${ROOT}test/fixtures/${id}.parity.json`, 'utf8'));
    const crops = Array.from({ length: 64 }, (_, i) => Float32Array.from(fx.pixels[i % fx.pixels.length]));
    const c = await createExpressionClassifier(rt.ort, m.bytes, m.card, { session });
    const ms = await timeLoop(() => c.classify(crops));
    out[`${id}_faces_per_s_b64`] = Math.round(64 / (ms / 1000));
    await c.dispose();
  }
  const m = await readClassifierModel('ferkit-resnet-s');
  const classifier = await createExpressionClassifier(rt.ort, m.bytes, m.card, { session });
  const detector = await createFaceDetector(rt.ort, await readDetectorModels(), {}, session);
  const pipeline = createPipeline(detector, classifier);
  const bytes = new Uint8Array(readFileSync(PHOTO));
  let faces = 0;
  out.photo_ms = Number((await timeLoop(async () => { faces = (await pipeline.analyze(await decodeImage(bytes))).faces.length; })).toFixed(1));
  out.photo_faces = faces;
  await classifier.dispose(); await detector.dispose();
  process.stdout.write(JSON.stringify(out));
}

if (process.argv[2] === '--child') {
  await child(process.argv[3], Number(process.argv[4]) || 0);
} else {
  const configs = [['node', 0], ['node', 1], ['web', 1], ['web', 2]];
  const rows = [];
  for (const [runtime, threads] of configs) {
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', runtime, String(threads)], {
      encoding: 'utf8', env: { ...process.env, SECONDS_PER_MEASURE: String(SECONDS) }, timeout: 600_000,
    });
    if (r.status !== 0) { console.error(`${runtime} ${threads}: exit ${r.status}\n${r.stderr}`); continue; }
    rows.push(JSON.parse(r.stdout));
  }
  console.table(rows);
  const machine = { node: process.version, cpu: cpus()[0]?.model, cores: availableParallelism(), secondsPerMeasure: SECONDS };
  mkdirSync(`${ROOT}results`, { recursive: true });
  writeFileSync(`${ROOT}results/runtime-speed.json`, `${JSON.stringify({ machine, rows, date: new Date().toISOString() }, null, 2)}\n`);
}
