/**
 * Server load benchmark (issue 12): `ferkit serve`'s server in a child process on 127.0.0.1, driven by autocannon.
 *
 * 1. `POST /v1/analyze` with a 640×480 one-face JPEG (cut from the face-api sample photo around one face) at
 *    concurrency 1, 8 and 64: requests/s, p50/p99 latency, non-2xx answers split into 503 (backpressure, expected
 *    at 64) and other errors.
 * 2. Session ingest: N simulated devices (default 200) each posting one per-second aggregate for S seconds
 *    (default 60), with one live dashboard following the session: rows written, p50/p99 latency, rows acknowledged
 *    but missing from SQLite afterwards (must be 0), batches the dashboard received.
 *
 * 0. Profile first: `--profile 100` sequential requests (after 10 unmeasured), reading the server's `Server-Timing`
 *    header (queue, decode, detect, classify) beside the latency the client measured; the rest is HTTP + JSON; and the
 *    server's CPU ms per request, in all and on its main thread (HTTP, validation, JSON; the rest is the analysis threads).
 *
 * Run: `npm run bench:server` (= `npm run build && node dist/bench/server.js`), options `--seconds 10` (per load
 * step), `--concurrency 1,8,64`, `--ingest-seconds 60` (0 skips ingest), `--devices 200`, `--workers 2`, `--threads 1`
 * (ONNX Runtime threads per analysis), `--main-thread` (analyses on the server's main thread, not in worker threads), `--model ferkit-lite` (default: the server's default classifier),
 * `--profile 100`, `--out results/server-bench.json`. The 1-minute load average is recorded before and after every step
 * (figures taken while other work runs are not comparable with a quiet machine).
 * Needs the `autocannon` package (a dev dependency); prints and writes JSON, asserts nothing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { EXPRESSIONS } from '../src/core/labels.js';
import { benchArgs } from './args.js';

interface Args {
  seconds: number; ingestSeconds: number; devices: number; workers: number; threads: number; model: string; concurrency: number[];
  profileRequests: number; mainThread: boolean; out: string; child: boolean; db: string;
}

function parseServerArgs(argv: string[]): Args {
  const { values: v } = benchArgs(import.meta.url, {
    args: argv.filter((a) => a !== '--'), // a runner's separator (vite-node) is not an argument
    options: {
      seconds: { type: 'string', default: '10' }, 'ingest-seconds': { type: 'string', default: '60' }, devices: { type: 'string', default: '200' },
      workers: { type: 'string', default: '2' }, threads: { type: 'string', default: '1' }, model: { type: 'string', default: '' },
      concurrency: { type: 'string', default: '1,8,64' }, profile: { type: 'string', default: '100' }, 'main-thread': { type: 'boolean', default: false },
      out: { type: 'string', default: 'results/server-bench.json' }, child: { type: 'boolean', default: false }, db: { type: 'string', default: '' },
    },
  });
  return {
    seconds: Number(v.seconds), ingestSeconds: Number(v['ingest-seconds']), devices: Number(v.devices), workers: Number(v.workers), threads: Number(v.threads),
    // --concurrency 0: no load steps
    model: v.model, concurrency: v.concurrency.split(',').map(Number).filter((c) => c > 0), profileRequests: Number(v.profile),
    mainThread: v['main-thread'], out: v.out, child: v.child, db: v.db,
  };
}

/** Child mode: the server alone in this process (so that the load generator does not share its event loop). */
async function runChild(args: Args): Promise<void> {
  const { startServer } = await import('../src/server/app.js');
  const s = await startServer({
    root: null, port: 0, db: args.db, workers: args.workers, threadsPerAnalysis: args.threads, analysisThreads: !args.mainThread, rateLimitPerMinute: 0,
    maxConnections: 2048, maxConnectionsPerClient: 2048, logger: false,
  });
  // Wait for the models so that the first measured request does not pay for loading them.
  for (let i = 0; i < 600; i++) {
    const r = await fetch(`${s.url}readyz`);
    if (r.status === 200) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  process.stdout.write(`${s.url}\n`);
  const stop = (): void => { void s.close().then(() => process.exit(0)); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/** The 640×480 one-face JPEG: the first face of face-api's sample1.jpg with room around it, resized. */
async function oneFaceJpeg(): Promise<Buffer> {
  const pkg = createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json');
  const photo = join(dirname(pkg), 'demo', 'sample1.jpg');
  const { createAnalyzer } = await import('../src/node/index.js');
  const analyzer = await createAnalyzer();
  try {
    const res = await analyzer.analyze(photo);
    const meta = await sharp(photo).metadata();
    const f = res.faces[0]!.box;
    const h = Math.min(meta.height, Math.round(f.height * 2.2));
    const w = Math.min(meta.width, Math.round((h * 4) / 3));
    const left = Math.max(0, Math.min(meta.width - w, Math.round(f.x + f.width / 2 - w / 2)));
    const top = Math.max(0, Math.min(meta.height - h, Math.round(f.y + f.height / 2 - h / 2)));
    const jpeg = await sharp(photo).extract({ left, top, width: w, height: h }).resize(640, 480, { fit: 'fill' }).jpeg({ quality: 90 }).toBuffer();
    const check = await analyzer.analyze(new Uint8Array(jpeg));
    if (check.faces.length !== 1) throw new Error(`the bench image has ${check.faces.length} faces, expected 1`);
    return jpeg;
  } finally {
    await analyzer.dispose();
  }
}

function startChild(args: Args, db: string): Promise<{ proc: ChildProcess; url: string }> {
  return new Promise((ok, fail) => {
    // From dist: node dist/bench/server.js --child; from source (vite-node bench/server.ts): the same runner again.
    const self = fileURLToPath(import.meta.url);
    const runner = self.endsWith('.ts') ? [process.argv[1]!, self, '--'] : [self];
    const proc = spawn(process.execPath, [...runner, '--child', '--db', db, '--workers', String(args.workers), '--threads', String(args.threads), ...(args.mainThread ? ['--main-thread'] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /(http:\/\/127\.0\.0\.1:\d+\/)\n/.exec(out);
      if (m) ok({ proc, url: m[1]! });
    });
    proc.on('exit', (code) => fail(new Error(`server child exited with ${code}`)));
  });
}

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number; max: number };
  errors: number; timeouts: number; non2xx: number;
  statusCodeStats?: Record<string, { count: number }>;
  duration: number;
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;

async function loadAutocannon(): Promise<Autocannon | null> {
  const name = 'autocannon';
  try {
    return ((await import(name)) as { default: Autocannon }).default;
  } catch {
    return null;
  }
}

/**
 * CPU time used so far by process `pid` (all its threads: user + system), ms, from /proc (Linux); NaN elsewhere.
 * CPU ms per request is the figure that holds on a busy machine, where wall-clock rates depend on the other load.
 */
function cpuMs(pid: number | undefined, mainThreadOnly = false): number {
  try {
    const fields = readFileSync(mainThreadOnly ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ = 100 on Linux)
  } catch {
    return NaN;
  }
}

/** The 1-minute load average, rounded to 2 decimals. */
const load1 = (): number => Math.round((loadavg()[0] ?? NaN) * 100) / 100;

/** Parses `Server-Timing: queue;dur=1.0, decode;dur=3.2, …` into `{ queue: 1, decode: 3.2, … }`. */
function parseServerTiming(header: string | null): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of (header ?? '').split(',')) {
    const m = /^\s*([\w-]+)\s*;\s*dur=([\d.]+)/.exec(part);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** `n` sequential requests (after 10 unmeasured): medians of the server's stage timings and of the client's latency. */
async function profile(url: string, jpeg: Buffer, n: number, pid: number | undefined): Promise<Record<string, number>> {
  const rows: Record<string, number>[] = [];
  let cpu0 = NaN;
  let main0 = NaN;
  for (let i = 0; i < n + 10; i++) {
    if (i === 10) {
      cpu0 = cpuMs(pid);
      main0 = cpuMs(pid, true);
    }
    const t0 = performance.now();
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: new Uint8Array(jpeg) });
    await res.arrayBuffer();
    const client = performance.now() - t0;
    if (res.status !== 200) throw new Error(`profile request answered ${res.status}`);
    const st = parseServerTiming(res.headers.get('server-timing'));
    if (i >= 10) rows.push({ ...st, client, other: client - (st.queue ?? 0) - (st.decode ?? 0) - (st.detect ?? 0) - (st.classify ?? 0) });
  }
  const median = (k: string): number => {
    const v = rows.map((r) => r[k] ?? NaN).sort((a, b) => a - b);
    return Math.round(v[v.length >> 1]! * 100) / 100;
  };
  const serverCpu = Math.round(((cpuMs(pid) - cpu0) / n) * 100) / 100;
  const mainCpu = Math.round(((cpuMs(pid, true) - main0) / n) * 100) / 100;
  return {
    ...Object.fromEntries(['client', 'queue', 'decode', 'detect', 'classify', 'other'].map((k) => [k, median(k)])),
    serverCpuPerRequest: serverCpu, serverMainThreadCpuPerRequest: mainCpu,
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** N devices × S seconds of per-second aggregates; returns latency figures and the acknowledged keys. */
async function ingest(url: string, devices: number, seconds: number): Promise<{ acked: Set<string>; latencies: number[]; failures: Record<string, number>; dashboardEvents: number }> {
  const s = await (await fetch(`${url}v1/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bench' }) })).json() as { id: string };
  // A teacher's dashboard follows the session live (Server-Sent Events): count the batches it receives.
  const dashboard = new AbortController();
  let dashboardEvents = 0;
  let subscribed: () => void = () => undefined;
  const hello = new Promise<void>((ok) => { subscribed = ok; });
  const follow = (async () => {
    const res = await fetch(`${url}v1/sessions/${s.id}/events`, { signal: dashboard.signal });
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      subscribed(); // the server sends its hello once the stream is registered
      buf += decoder.decode(chunk, { stream: true });
      const parts = buf.split('\n\n');
      buf = parts.pop()!;
      dashboardEvents += parts.filter((p) => p.startsWith('event: aggregates')).length;
    }
  })().catch(() => undefined);
  await Promise.race([hello, new Promise((r) => setTimeout(r, 5000))]);
  const acked = new Set<string>();
  const latencies: number[] = [];
  const failures: Record<string, number> = {};
  const probs = Object.fromEntries(EXPRESSIONS.map((e, i) => [e, i === 3 ? 0.7 : 0.05]));
  const t0 = Date.now();
  const device = async (d: number): Promise<void> => {
    const key = `bench-device-${d}`;
    await new Promise((r) => setTimeout(r, (d * 1000) / devices)); // spread over the second
    for (let sec = 0; sec < seconds; sec++) {
      const at = t0 + sec * 1000;
      const body = JSON.stringify({
        device: { key, label: `Device ${d}` },
        samples: [{ at, faces: 2, shares: { happy: 0.5, neutral: 0.5 }, meanValence: 0.3, tracks: [1, 2].map((trackId) => ({ trackId, label: 'happy', valence: 'positive', valenceScore: 0.6, probabilities: probs })) }],
      });
      const start = performance.now();
      try {
        const res = await fetch(`${url}v1/sessions/${s.id}/aggregates`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        await res.arrayBuffer();
        latencies.push(performance.now() - start);
        if (res.status === 202) acked.add(`${key}@${at}`);
        else failures[res.status] = (failures[res.status] ?? 0) + 1;
      } catch (err) {
        const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
        const why = `${(err as Error).message}${cause ? ` (${cause.code ?? cause.message})` : ''}`;
        failures[why] = (failures[why] ?? 0) + 1;
      }
      const next = t0 + (sec + 1) * 1000 + (d * 1000) / devices;
      await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
    }
  };
  await Promise.all(Array.from({ length: devices }, (_, d) => device(d)));
  await new Promise((r) => setTimeout(r, 1000)); // the last events in flight
  dashboard.abort();
  await follow;
  latencies.sort((a, b) => a - b);
  return { acked, latencies, failures, dashboardEvents };
}

async function main(): Promise<void> {
  const args = parseServerArgs(process.argv.slice(2));
  if (args.child) return runChild(args);
  const autocannon = await loadAutocannon();
  if (!autocannon) {
    console.error('bench:server needs the autocannon package (npm install --save-dev autocannon)');
    process.exitCode = 1;
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'ferkit-server-bench-'));
  const db = join(dir, 'bench.db');
  const jpeg = await oneFaceJpeg();
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '?', loadavg1: loadavg()[0], node: process.version };
  console.log(`machine: ${machine.cpus} CPUs (${machine.cpuModel}), load average ${machine.loadavg1?.toFixed(2)} before the run; server workers ${args.workers}`);
  const { proc, url } = await startChild(args, db);
  const results: Record<string, unknown> = {
    date: new Date().toISOString(), command: `bench/server ${process.argv.slice(2).join(' ')}`.trim(), machine,
    image: { width: 640, height: 480, bytes: jpeg.length, faces: 1 }, workers: args.workers, analysisIn: args.mainThread ? 'main thread' : 'worker threads', threadsPerAnalysis: args.threads, model: args.model || '(server default)',
  };
  const analyzeUrl = `${url}v1/analyze${args.model ? `?model=${encodeURIComponent(args.model)}` : ''}`;
  try {
    if (args.profileRequests > 0) {
      const loadBefore = load1();
      const p = await profile(analyzeUrl, jpeg, args.profileRequests, proc.pid);
      results.profileMs = { requests: args.profileRequests, ...p, loadavg1Before: loadBefore, loadavg1After: load1() };
      console.log(`profile (median of ${args.profileRequests} sequential requests, ms): client ${p.client}, queue ${p.queue}, decode ${p.decode}, `
        + `detect ${p.detect}, classify ${p.classify}, HTTP+JSON ${p.other}; server CPU ${p.serverCpuPerRequest} ms/request (main thread ${p.serverMainThreadCpuPerRequest}); load ${loadBefore}`);
    }
    const steps: Record<string, unknown>[] = [];
    for (const connections of args.concurrency) {
      const loadBefore = load1();
      const cpu0 = cpuMs(proc.pid);
      const r = await autocannon({
        url: analyzeUrl, method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: jpeg,
        connections, duration: args.seconds, timeout: 30,
      });
      const codes = Object.fromEntries(Object.entries(r.statusCodeStats ?? {}).map(([k, v]) => [k, v.count]));
      const busy = codes['503'] ?? 0;
      const ok = codes['200'] ?? 0;
      const other = Object.entries(codes).filter(([k]) => k !== '200' && k !== '503').reduce((n, [, c]) => n + c, 0) + r.errors + r.timeouts;
      const cpuPerOk = ok > 0 ? Math.round(((cpuMs(proc.pid) - cpu0) / ok) * 100) / 100 : NaN;
      const step = {
        connections, seconds: args.seconds, requestsPerSecond: r.requests.average, okPerSecond: ok / r.duration, total: r.requests.total,
        latencyMs: { p50: r.latency.p50, p99: r.latency.p99, mean: r.latency.average, max: r.latency.max }, statusCodes: codes, busy503: busy, otherErrors: other,
        serverCpuMsPerOk: cpuPerOk, loadavg1Before: loadBefore, loadavg1After: load1(),
      };
      steps.push(step);
      console.log(`POST /v1/analyze c=${String(connections).padStart(2)}: ${r.requests.average.toFixed(1)} req/s (${(ok / r.duration).toFixed(1)} ok/s), `
        + `p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, 503 ${busy}, other errors ${other}, server CPU ${cpuPerOk} ms per 200; load ${loadBefore} → ${load1()}`);
    }
    results.analyze = steps;
    if (args.ingestSeconds <= 0) return;

    const loadBefore = load1();
    const ingestCpu0 = cpuMs(proc.pid);
    const ing = await ingest(url, args.devices, args.ingestSeconds);
    const ingestCpuPerRow = Math.round(((cpuMs(proc.pid) - ingestCpu0) / Math.max(1, ing.acked.size)) * 100) / 100;
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
    const d = new Database(db, { readonly: true });
    const present = new Set((d.prepare('SELECT d.device_key AS k, g.at_ms AS t FROM group_samples g JOIN devices d ON d.id = g.device_id').all() as { k: string; t: number }[]).map((x) => `${x.k}@${x.t}`));
    const trackRows = (d.prepare('SELECT COUNT(*) AS n FROM track_samples').get() as { n: number }).n;
    d.close();
    const lost = [...ing.acked].filter((k) => !present.has(k)).length;
    results.ingest = {
      devices: args.devices, seconds: args.ingestSeconds, posted: args.devices * args.ingestSeconds, acknowledged: ing.acked.size,
      groupRowsWritten: present.size, trackRowsWritten: trackRows, lostAcknowledgedRows: lost,
      latencyMs: { p50: percentile(ing.latencies, 50), p99: percentile(ing.latencies, 99), max: ing.latencies.at(-1) ?? NaN }, failures: ing.failures,
      dashboardEventsReceived: ing.dashboardEvents, serverCpuMsPerBatch: ingestCpuPerRow, loadavg1Before: loadBefore, loadavg1After: load1(),
    };
    console.log(`ingest: ${args.devices} devices × ${args.ingestSeconds} s: ${ing.acked.size} acknowledged, ${present.size} group rows + ${trackRows} track rows written, `
      + `${lost} acknowledged rows lost, p50 ${percentile(ing.latencies, 50).toFixed(1)} ms, p99 ${percentile(ing.latencies, 99).toFixed(1)} ms, failures ${JSON.stringify(ing.failures)}, live dashboard got ${ing.dashboardEvents} batches, server CPU ${ingestCpuPerRow} ms per batch; load ${loadBefore} → ${load1()}`);
  } finally {
    if (proc.exitCode === null) proc.kill('SIGTERM');
    results.loadavgAfter = load1();
    mkdirSync(dirname(args.out), { recursive: true });
    writeFileSync(`${args.out}.tmp`, `${JSON.stringify(results, null, 2)}\n`);
    renameSync(`${args.out}.tmp`, args.out);
    console.log(`wrote ${args.out}`);
  }
}

await main();
