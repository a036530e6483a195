/**
 * The monitoring tab: start/stop a session, the negative-streak threshold, notices, a row per person with their
 * timeline, the group valence chart, and CSV/JSON export.
 */
import type { LiveFrame } from 'ferkit/web';
import type uPlot from 'uplot';
import { ValenceChart, personTimeline } from './charts.js';
import { MonitorSession, type SessionNotice } from './session.js';
import { ShareView } from './share-view.js';
import { EXPRESSION_COLORS, VALENCE_COLORS, byId, clock, cssVar, download, el, stamp, swatch, trackChip, trackColor } from './ui.js';
import { parseThreshold } from './validate.js';


/** Wires the monitoring tab; `models` goes into exports. */
export class MonitorView {
  session: MonitorSession | null = null;
  private readonly btn = byId<HTMLButtonElement>('btn-session');
  private readonly threshold = byId<HTMLInputElement>('inp-threshold');
  private readonly csvBtn = byId<HTMLButtonElement>('btn-export-csv');
  private readonly jsonBtn = byId<HTMLButtonElement>('btn-export-json');
  private readonly clockEl = byId('session-clock');
  private readonly noticesEl = byId<HTMLUListElement>('notices');
  private readonly body = byId<HTMLTableSectionElement>('people-body');
  private readonly groupChart = new ValenceChart(byId('group-chart'), 180, { legend: false, xLabel: 's since start' });
  private plots: uPlot[] = [];
  /** Opt-in sharing of per-second aggregates with the server's class dashboard (off by default). */
  private readonly share = new ShareView();
  private lastRender = 0;
  /** Whether the current session's data was exported (CSV or JSON) since it last changed. */
  private exported = false;
  private readonly thresholdError = byId('threshold-error');

  constructor(private readonly models: () => Record<string, unknown>, private readonly onNotice: (n: SessionNotice) => void) {
    this.btn.addEventListener('click', () => {
      if (this.session?.running) this.stop();
      else if (this.mayDiscard()) this.start();
    });
    const check = (): void => {
      const r = this.readThreshold();
      if (r !== null) this.session?.setThreshold(r);
    };
    this.threshold.addEventListener('change', check);
    this.threshold.addEventListener('input', check);
    this.csvBtn.addEventListener('click', () => this.exportCsv());
    this.jsonBtn.addEventListener('click', () => this.exportJson());
  }

  /** The threshold field's value, or null (with a message next to the field) when it is not valid. */
  private readThreshold(): number | null {
    const r = parseThreshold(this.threshold.value);
    this.threshold.setAttribute('aria-invalid', String(!r.ok));
    this.thresholdError.textContent = r.ok ? '' : r.message;
    return r.ok ? r.value : null;
  }

  /** True when there is no stopped, unexported session with data, or the user agrees to discard it. */
  private mayDiscard(): boolean {
    const s = this.session;
    if (!s || this.exported || s.people.size === 0) return true;
    return window.confirm('The last session was not exported. Start a new one and discard it? (Cancel, then use Export CSV or Export JSON to keep it.)');
  }

  start(): void {
    const thr = this.readThreshold();
    if (thr === null) {
      this.threshold.focus();
      return;
    }
    this.exported = false;
    this.session = new MonitorSession({ negativeThresholdS: thr }, performance.now(), Date.now(), this.models());
    this.noticesEl.replaceChildren();
    this.btn.textContent = 'Stop session';
    this.btn.classList.add('recording');
    this.csvBtn.disabled = false;
    this.jsonBtn.disabled = false;
    this.render(true);
  }

  stop(): void {
    this.session?.stop(performance.now());
    this.share.sessionStopped();
    this.btn.textContent = 'Start new session';
    this.btn.classList.remove('recording');
    this.render(true);
  }

  /** Feeds a frame; renders at most once a second (and on notices). */
  add(frame: LiveFrame): void {
    if (!this.session?.running) return;
    const raised = this.session.add(frame);
    this.share.add(frame, raised);
    for (const n of raised) {
      const li = el('li', 'notice', `${new Date(n.at).toLocaleTimeString()} — ${n.message}`);
      li.style.borderLeftColor = trackColor(n.trackId);
      this.noticesEl.prepend(li);
      this.onNotice(n);
    }
    this.render(raised.length > 0);
  }

  /** Re-renders the clock, table and charts (throttled to 1 Hz unless forced). */
  render(force = false): void {
    const now = performance.now();
    if (!force && now - this.lastRender < 1000) return;
    this.lastRender = now;
    const s = this.session;
    if (!s) return;
    const elapsed = s.elapsedMs(now);
    this.clockEl.textContent = `${s.running ? '● recording' : 'stopped'} ${clock(elapsed)} · ${s.people.size} ${s.people.size === 1 ? 'person' : 'people'} · ${s.notices.length} notice(s)`;
    for (const p of this.plots) p.destroy();
    this.plots = [];
    const rows: HTMLTableRowElement[] = [];
    const people = [...s.people.values()].filter((p) => p.samples.length > 0).sort((a, b) => a.trackId - b.trackId);
    for (const p of people) {
      const tr = el('tr');
      const id = el('td');
      id.append(trackChip(p.trackId));
      const nowCell = el('td');
      nowCell.dataset.label = 'Now';
      if (p.current && elapsed - p.lastSeenMs < 1500) {
        const lab = el('span', 'label', p.current.label);
        lab.prepend(swatch(EXPRESSION_COLORS[p.current.label]));
        const val = el('span', 'valence', ` ${p.current.valence}`);
        val.prepend(' ', swatch(VALENCE_COLORS[p.current.valence]));
        nowCell.append(lab, val);
      } else {
        nowCell.append(el('span', 'muted', 'not in view'));
      }
      const negShare = p.observedMs > 0 ? `${((100 * p.negativeMs) / p.observedMs).toFixed(0)}%` : '–';
      const streak = p.negativeSinceMs !== null && s.running ? ` (now ${clock(p.lastSeenMs - p.negativeSinceMs)})` : '';
      const chartCell = el('td', 'timeline-cell');
      chartCell.dataset.label = 'Timeline';
      const cell = (label: string, text: string): HTMLTableCellElement => {
        const td = el('td', '', text);
        td.dataset.label = label;
        return td;
      };
      tr.append(id, nowCell, cell('Observed', clock(p.observedMs)), cell('Negative', negShare), cell('Longest negative', clock(p.longestNegativeMs) + streak), chartCell);
      rows.push(tr);
      queueMicrotask(() => {
        this.plots.push(personTimeline(chartCell, p.samples.map((x) => x.tMs / 1000), p.samples.map((x) => x.valenceScore),
          p.samples.map((x) => x.label), elapsed / 1000));
      });
    }
    if (rows.length === 0) {
      const tr = el('tr');
      const td = el('td', 'muted', s.running ? 'Waiting for a face…' : 'Nobody was seen in this session.');
      td.colSpan = 6;
      tr.append(td);
      rows.push(tr);
    }
    this.body.replaceChildren(...rows);
    this.groupChart.update(s.group.map((g) => g.tMs / 1000), [
      { spec: { key: 'group', label: 'group', color: cssVar('--text', '#e6edf3'), width: 2 }, values: s.group.map((g) => g.valenceScore) },
    ]);
  }

  private exportCsv(): void {
    if (!this.session) return;
    download(`ferkit-session-${stamp(new Date(this.session.toJSON().startedAt))}.csv`, this.session.toCSV(), 'text/csv');
    this.exported = !this.session.running;
  }

  private exportJson(): void {
    if (!this.session) return;
    const data = this.session.toJSON(performance.now());
    download(`ferkit-session-${stamp(new Date(data.startedAt))}.json`, `${JSON.stringify(data, null, 1)}\n`, 'application/json');
    this.exported = !this.session.running;
  }
}
