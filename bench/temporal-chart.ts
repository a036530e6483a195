/**
 * The chart of the temporal benchmark (docs/temporal.png), drawn as SVG and rasterised with sharp. Used by
 * bench/temporal.ts; run on its own, it redraws the chart from results/temporal.json without measuring again:
 *
 *   node dist/bench/temporal-chart.js [results/temporal.json] [docs/temporal]
 */
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { writeFileAtomic } from '../src/node/output.js';

/** One setting's figures (`null` latency: never followed, written by JSON for Infinity). */
export interface ChartRow { medianLatencyS: number | null; falseSwitchesPerMin: number; displayAccuracy: number }

export interface ChartData {
  fps: number;
  /** False switches per minute allowed when choosing the defaults. */
  budget: number;
  rows: ChartRow[];
  /** Pareto front of (median latency, false switches/min), sorted by latency. */
  front: ChartRow[];
  /** Highlighted settings, drawn in this order. */
  marks: { label: string; row: ChartRow; colour: string }[];
  /** Display accuracy by the displayed label's smoothed probability (bin starts `lo`). */
  byScore: { lo: number; n: number; accuracy: number }[];
  floor: number;
}

const ok = (r: ChartRow): r is ChartRow & { medianLatencyS: number } => r.medianLatencyS !== null && Number.isFinite(r.medianLatencyS);

/** The three-panel chart as an SVG document. */
export function temporalChartSvg(d: ChartData): string {
  const H = 470; const T = 44; const ph = 340; const pw = 420; const gap = 95;
  const L1 = 70; const L2 = L1 + pw + gap; const L3 = L2 + pw + gap; const pw3 = 330;
  const W = L3 + pw3 + 30;
  const p: string[] = [`<rect width="${W}" height="${H}" fill="white"/>`];
  // log10(f + 0.1): a log scale that still shows 0 false switches
  const fMax = Math.max(...d.rows.map((r) => r.falseSwitchesPerMin)) * 1.3;
  const lf = (v: number): number => Math.log10(v + 0.1);
  const fTicks = [0, 0.3, 1, 3, 10, 30, 100, 300].filter((v) => v <= fMax);
  const rowsOk = d.rows.filter(ok);

  // Panel 1: median latency (x) vs false switches (y).
  const xMax = Math.min(4, Math.max(...rowsOk.map((r) => r.medianLatencyS)) * 1.05);
  const X1 = (v: number): number => L1 + (Math.min(v, xMax) / xMax) * pw;
  const Y1 = (v: number): number => T + ph - ((lf(v) - lf(0)) / (lf(fMax) - lf(0))) * ph;
  p.push(`<text x="${L1}" y="24" font-size="14" font-weight="bold">Latency vs false switches (${d.rows.length} settings, ${d.fps} fps)</text>`);
  for (let x = 0; x <= xMax + 1e-9; x += 0.5) p.push(`<line x1="${X1(x)}" x2="${X1(x)}" y1="${T}" y2="${T + ph}" stroke="#eee"/><text x="${X1(x)}" y="${T + ph + 16}" font-size="11" text-anchor="middle">${x}</text>`);
  for (const y of fTicks) p.push(`<line x1="${L1}" x2="${L1 + pw}" y1="${Y1(y)}" y2="${Y1(y)}" stroke="#eee"/><text x="${L1 - 6}" y="${Y1(y) + 4}" font-size="11" text-anchor="end">${y}</text>`);
  p.push(`<text x="${L1 + pw / 2}" y="${T + ph + 34}" font-size="12" text-anchor="middle">median latency to follow a change (s)</text>`);
  p.push(`<text x="18" y="${T + ph / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 18 ${T + ph / 2})">false switches per minute (log of f + 0.1)</text>`);
  p.push(`<line x1="${L1}" x2="${L1 + pw}" y1="${Y1(d.budget)}" y2="${Y1(d.budget)}" stroke="#2ca02c" stroke-dasharray="5 4"/><text x="${L1 + pw - 4}" y="${Y1(d.budget) - 4}" font-size="11" text-anchor="end" fill="#2ca02c">budget ${d.budget}/min</text>`);
  for (const r of rowsOk) p.push(`<circle cx="${X1(r.medianLatencyS).toFixed(1)}" cy="${Y1(r.falseSwitchesPerMin).toFixed(1)}" r="2" fill="#bbb"/>`);
  p.push(`<path d="${d.front.filter(ok).map((r, i) => `${i ? 'L' : 'M'}${X1(r.medianLatencyS).toFixed(1)} ${Y1(r.falseSwitchesPerMin).toFixed(1)}`).join(' ')}" fill="none" stroke="#1f77b4" stroke-width="2"/>`);
  d.marks.forEach((m, i) => {
    if (ok(m.row)) p.push(`<circle cx="${X1(m.row.medianLatencyS).toFixed(1)}" cy="${Y1(m.row.falseSwitchesPerMin).toFixed(1)}" r="${i === 2 ? 5 : 7}" fill="${m.colour}" stroke="black" fill-opacity="0.85"/>`);
    p.push(`<rect x="${L1 + pw - 225}" y="${T + 8 + i * 18}" width="12" height="12" fill="${m.colour}" stroke="black"/><text x="${L1 + pw - 208}" y="${T + 18 + i * 18}" font-size="11">${m.label}</text>`);
  });
  p.push(`<line x1="${L1 + pw - 225}" x2="${L1 + pw - 213}" y1="${T + 14 + d.marks.length * 18}" y2="${T + 14 + d.marks.length * 18}" stroke="#1f77b4" stroke-width="2"/><text x="${L1 + pw - 208}" y="${T + 18 + d.marks.length * 18}" font-size="11">Pareto front (median latency)</text>`);
  p.push(`<rect x="${L1}" y="${T}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);

  // Panel 2: false switches (x) vs display accuracy (y); the choice is the highest point left of the budget.
  const aMin = Math.floor(Math.min(...d.rows.map((r) => r.displayAccuracy)) * 20) / 20;
  const X2 = (v: number): number => L2 + ((lf(v) - lf(0)) / (lf(fMax) - lf(0))) * pw;
  const Y2 = (a: number): number => T + ph - ((a - aMin) / (1 - aMin)) * ph;
  p.push(`<text x="${L2}" y="24" font-size="14" font-weight="bold">Share of frames showing the true class</text>`);
  for (const x of fTicks) p.push(`<line x1="${X2(x)}" x2="${X2(x)}" y1="${T}" y2="${T + ph}" stroke="#eee"/><text x="${X2(x)}" y="${T + ph + 16}" font-size="11" text-anchor="middle">${x}</text>`);
  for (let a = aMin; a <= 1 + 1e-9; a += 0.05) p.push(`<line x1="${L2}" x2="${L2 + pw}" y1="${Y2(a)}" y2="${Y2(a)}" stroke="#eee"/><text x="${L2 - 6}" y="${Y2(a) + 4}" font-size="11" text-anchor="end">${Math.round(a * 100)}%</text>`);
  p.push(`<text x="${L2 + pw / 2}" y="${T + ph + 34}" font-size="12" text-anchor="middle">false switches per minute (log of f + 0.1)</text>`);
  p.push(`<line x1="${X2(d.budget)}" x2="${X2(d.budget)}" y1="${T}" y2="${T + ph}" stroke="#2ca02c" stroke-dasharray="5 4"/><text x="${X2(d.budget) + 4}" y="${T + 14}" font-size="11" fill="#2ca02c">budget ${d.budget}/min</text>`);
  for (const r of d.rows) p.push(`<circle cx="${X2(r.falseSwitchesPerMin).toFixed(1)}" cy="${Y2(r.displayAccuracy).toFixed(1)}" r="2" fill="#bbb"/>`);
  // upper envelope: the best display accuracy at or below each false-switch rate
  const env = [...d.rows].sort((a, b) => a.falseSwitchesPerMin - b.falseSwitchesPerMin);
  let best = -1;
  const steps: string[] = [];
  for (const r of env) if (r.displayAccuracy > best) { best = r.displayAccuracy; steps.push(`${steps.length ? 'L' : 'M'}${X2(r.falseSwitchesPerMin).toFixed(1)} ${Y2(best).toFixed(1)}`); }
  p.push(`<path d="${steps.join(' ')}" fill="none" stroke="#1f77b4" stroke-width="2"/>`);
  d.marks.forEach((m, i) => p.push(`<circle cx="${X2(m.row.falseSwitchesPerMin).toFixed(1)}" cy="${Y2(m.row.displayAccuracy).toFixed(1)}" r="${i === 2 ? 5 : 7}" fill="${m.colour}" stroke="black" fill-opacity="0.85"/>`));
  p.push(`<rect x="${L2}" y="${T}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);

  // Panel 3: display accuracy by displayed probability, and the floor.
  p.push(`<text x="${L3}" y="24" font-size="14" font-weight="bold">Displayed label right (%), by its probability</text>`);
  const bw = pw3 / d.byScore.length;
  d.byScore.forEach((b, i) => {
    const h = b.accuracy * ph;
    p.push(`<rect x="${(L3 + i * bw + 1).toFixed(1)}" y="${(T + ph - h).toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${b.lo < d.floor - 1e-9 ? '#d62728' : '#2ca02c'}"/>`);
    if (i % 2 === 0) p.push(`<text x="${(L3 + i * bw).toFixed(1)}" y="${T + ph + 16}" font-size="10" text-anchor="middle">${b.lo.toFixed(1)}</text>`);
    if (b.n > 0) p.push(`<text x="${(L3 + (i + 0.5) * bw).toFixed(1)}" y="${(T + ph - h - 4).toFixed(1)}" font-size="8" text-anchor="middle">${Math.round(b.accuracy * 100)}</text>`);
  });
  for (const y of [0, 0.25, 0.5, 0.75, 1]) p.push(`<text x="${L3 - 6}" y="${T + ph - y * ph + 4}" font-size="11" text-anchor="end">${y * 100}%</text>`);
  const fx = L3 + d.floor * d.byScore.length * bw;
  p.push(`<line x1="${fx}" x2="${fx}" y1="${T}" y2="${T + ph}" stroke="black" stroke-dasharray="4 3"/><rect x="${fx + 2}" y="${T + ph / 2 - 13}" width="200" height="18" fill="white" stroke="#999"/><text x="${fx + 6}" y="${T + ph / 2}" font-size="11">floor ${d.floor}: below it, marked uncertain</text>`);
  p.push(`<text x="${L3 + pw3 / 2}" y="${T + ph + 34}" font-size="12" text-anchor="middle">smoothed probability of the displayed label</text>`);
  p.push(`<rect x="${L3}" y="${T}" width="${pw3}" height="${ph}" fill="none" stroke="#333"/>`);
  p.push(`<text x="${L1}" y="${H - 14}" font-size="11" fill="#555">Synthetic sequences of real FER2013 PublicTest crops through the shipped classifier (bench/temporal.ts), both scenarios pooled. Grey: every setting of the grid.</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Arial, sans-serif">\n${p.join('\n')}\n</svg>\n`;
}

/** Writes `<base>.svg` and `<base>.png`. */
export async function writeTemporalChart(base: string, d: ChartData): Promise<void> {
  const svg = temporalChartSvg(d);
  await writeFileAtomic(`${base}.svg`, Buffer.from(svg));
  await writeFileAtomic(`${base}.png`, await sharp(Buffer.from(svg)).png().toBuffer());
}

/** The chart's data from a results/temporal.json written by bench/temporal.ts. */
export function chartDataFromResults(r: {
  protocol: { fps: number }; budgetFalseSwitchesPerMin: number; rows: ChartRow[]; front: ChartRow[];
  rawArgmax: ChartRow; old: { oldRule: ChartRow; newRule: ChartRow }; chosen: ChartRow & { floor: number };
  /** The shipped defaults' row (results written since 2026-12-02 22:30; older ones lack it). */
  shipped?: ChartRow;
  displayAccuracyByScore: ChartData['byScore'];
}): ChartData {
  return {
    fps: r.protocol.fps,
    budget: r.budgetFalseSwitchesPerMin,
    rows: r.rows,
    front: r.front,
    marks: [
      { label: 'raw argmax (no smoothing)', row: r.rawArgmax, colour: '#000000' },
      { label: 'old defaults, old hysteresis rule', row: r.old.oldRule, colour: '#d62728' },
      { label: 'old defaults, new rule', row: r.old.newRule, colour: '#ff7f0e' },
      ...(r.shipped
        ? [{ label: 'shipped defaults (DEFAULT_SMOOTHING)', row: r.shipped, colour: '#2ca02c' }, { label: "the selection rule's pick", row: r.chosen, colour: '#9467bd' }]
        : [{ label: 'new defaults', row: r.chosen, colour: '#2ca02c' }]),
    ],
    byScore: r.displayAccuracyByScore,
    floor: r.chosen.floor,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [input = 'results/temporal.json', base = 'docs/temporal'] = process.argv.slice(2);
  await writeTemporalChart(base, chartDataFromResults(JSON.parse(await readFile(input, 'utf8'))));
  console.log(`wrote ${base}.svg, ${base}.png from ${input}`);
}
