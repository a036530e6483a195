/**
 * Timeline charts on uPlot: valence (P(positive) − P(negative), in [−1, 1]) against seconds.
 * Charts are rebuilt only when their set of series changes, otherwise fed with `setData`.
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { EXPRESSION_COLORS, cssVar } from './ui.js';
import type { Expression } from 'ferkit/web';

export interface SeriesSpec { key: string; label: string; color: string; width?: number }

/** Axis colours from the current theme (light or dark). */
const axisStyle = (): { stroke: string; grid: { stroke: string; width: number }; ticks: { stroke: string; width: number } } => ({
  stroke: cssVar('--muted', '#9da7b3'), grid: { stroke: cssVar('--grid', 'rgba(255,255,255,0.08)'), width: 1 }, ticks: { stroke: cssVar('--line', '#30363d'), width: 1 },
});

/** A line chart of several valence series over time, resized with its container. */
export class ValenceChart {
  private plot: uPlot | null = null;
  private keys = '';
  private readonly observer: ResizeObserver;

  constructor(private readonly host: HTMLElement, private readonly height: number, private readonly opts: { legend?: boolean; xLabel?: string } = {}) {
    this.observer = new ResizeObserver(() => this.plot?.setSize({ width: this.width(), height: this.height }));
    this.observer.observe(host);
  }

  private width(): number {
    return Math.max(200, this.host.clientWidth);
  }

  /**
   * @param xs - times in seconds.
   * @param series - one value array per series, aligned with `xs` (`null` where absent).
   */
  update(xs: number[], series: { spec: SeriesSpec; values: (number | null)[] }[]): void {
    const keys = series.map((s) => `${s.spec.key}:${s.spec.color}`).join('|');
    const data = [xs, ...series.map((s) => s.values)] as uPlot.AlignedData;
    if (!this.plot || keys !== this.keys) {
      this.plot?.destroy();
      this.keys = keys;
      this.plot = new uPlot({
        width: this.width(),
        height: this.height,
        legend: { show: this.opts.legend ?? true, live: false },
        cursor: { show: false },
        scales: { x: { time: false }, y: { range: [-1, 1] } },
        axes: [
          { ...axisStyle(), label: this.opts.xLabel ?? 's', labelSize: 14, size: 34 },
          { ...axisStyle(), size: 50, values: (_u, v) => v.map((x) => (x > 0 ? `+${x}` : String(x))) },
        ],
        series: [{}, ...series.map((s) => ({ label: s.spec.label, stroke: s.spec.color, width: s.spec.width ?? 1.5, spanGaps: false, points: { show: false } }))],
      }, data, this.host);
    } else {
      this.plot.setData(data);
    }
  }

  destroy(): void {
    this.observer.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }
}

/**
 * A person's timeline: valence as a line, and under it a strip coloured by the displayed expression.
 */
export function personTimeline(host: HTMLElement, xs: number[], values: number[], labels: Expression[], xMax: number): uPlot {
  const strip = (u: uPlot): void => {
    const { ctx } = u;
    const { left, top, width, height } = u.bbox;
    const h = Math.round(6 * devicePixelRatio);
    for (let i = 0; i < xs.length; i++) {
      const x0 = u.valToPos(xs[i]!, 'x', true);
      const x1 = i + 1 < xs.length ? u.valToPos(xs[i + 1]!, 'x', true) : x0 + 2;
      ctx.fillStyle = EXPRESSION_COLORS[labels[i]!];
      ctx.fillRect(Math.max(left, x0), top + height - h, Math.max(1, Math.min(left + width, x1) - x0), h);
    }
  };
  return new uPlot({
    width: Math.max(200, host.clientWidth),
    height: 70,
    legend: { show: false },
    cursor: { show: false },
    scales: { x: { time: false, range: [0, Math.max(1, xMax)] }, y: { range: [-1, 1] } },
    axes: [
      { ...axisStyle(), size: 22, font: '10px sans-serif' },
      { ...axisStyle(), size: 30, font: '10px sans-serif', splits: () => [-1, 0, 1] },
    ],
    series: [{}, { stroke: cssVar('--text', '#e6edf3'), width: 1.5, points: { show: false } }],
    hooks: { draw: [strip] },
  }, [xs, values], host);
}
