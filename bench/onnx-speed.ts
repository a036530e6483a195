/**
 * Faces/s of classifier graphs in onnxruntime-node, card or not: for comparing architectures before training them
 * (`training/ferkit_train/probe.py` writes untrained ones). Every graph gets `[batch, 1, 48, 48]` float32 input named
 * `input`; the graphs are timed in interleaved rounds (all graphs once per round), so that a change in the machine's load
 * hits them alike. Prints a Markdown table (each round's figure, and the median) and writes the JSON.
 *
 *   npm run build && node dist/bench/onnx-speed.js [--batch 64] [--rounds 5] [--seconds 2] [--out results/onnx-speed.json] a.onnx b.onnx ...
 *
 * Pause other work on the machine (training: `kill -STOP`/`-CONT`) for figures worth comparing across runs.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { basename, dirname } from 'node:path';
import * as ort from 'onnxruntime-node';
import { benchArgs } from './args.js';

const { values, positionals } = benchArgs(import.meta.url, {
  allowPositionals: true,
  options: { batch: { type: 'string', default: '64' }, rounds: { type: 'string', default: '5' }, seconds: { type: 'string', default: '2' }, out: { type: 'string' } },
});
const batch = Number(values.batch);
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
if (!positionals.length || ![batch, rounds, seconds].every((v) => Number.isFinite(v) && v > 0)) {
  console.error('usage: node dist/bench/onnx-speed.js [--batch 64] [--rounds 5] [--seconds 2] [--out FILE.json] model.onnx ...');
  process.exit(2);
}

const input = new ort.Tensor('float32', Float32Array.from({ length: batch * 48 * 48 }, (_, i) => ((i * 7) % 256) / 127.5 - 1), [batch, 1, 48, 48]);
const sessions: { file: string; session: ort.InferenceSession; rates: number[] }[] = [];
for (const file of positionals) {
  const session = await ort.InferenceSession.create(file, { logSeverityLevel: 3 }).catch((e: unknown) => {
    throw new Error(`${file}: cannot load as an ONNX model (${e instanceof Error ? e.message : String(e)})`);
  });
  for (let i = 0; i < 3; i++) await session.run({ input });
  sessions.push({ file, session, rates: [] });
}
for (let r = 0; r < rounds; r++) {
  for (const s of sessions) {
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) { await s.session.run({ input }); n += batch; }
    s.rates.push(Math.round(n / ((performance.now() - t0) / 1000)));
  }
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`| graph | faces/s at batch ${batch}, each round | median |\n|---|---|---|`);
for (const s of sessions) console.log(`| ${basename(s.file)} | ${s.rates.join(' / ')} | ${median(s.rates)} |`);
if (values.out) {
  mkdirSync(dirname(values.out), { recursive: true });
  const json = {
    date: new Date().toISOString(), batch, rounds, seconds, runtime: `onnxruntime-node ${ort.env.versions?.common ?? ''}`.trim(),
    machine: `${cpus().length} CPU cores (${cpus()[0]?.model ?? 'unknown'})`, loadAverage1m: Math.round(loadavg()[0]! * 100) / 100,
    graphs: sessions.map((s) => ({ file: basename(s.file), facesPerSecond: s.rates, median: median(s.rates) })),
  };
  writeFileSync(`${values.out}.tmp`, JSON.stringify(json, null, 2) + '\n');
  renameSync(`${values.out}.tmp`, values.out);
  console.log(`wrote ${values.out}`);
}
await Promise.all(sessions.map((s) => s.session.release()));
