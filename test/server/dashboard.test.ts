/**
 * The class dashboard page: served with the app's CSP (no inline script), its script and style from this server, and
 * its pure helpers (group distribution now, series per device and track, SSE parsing) on real aggregates.
 */
import { runInNewContext } from 'node:vm';
import { describe, expect, test } from 'vitest';
import { startServer } from '../../src/server/app.js';
import { DASHBOARD_JS } from '../../src/server/dashboard-page.js';
import { APP_HEADERS } from '../../src/server/headers.js';
import { fakeAnalyzers } from './helpers.js';

interface Dash {
  groupNow(group: unknown[], windowMs: number): { at: number | null; devices: number; faces: number; shares: Record<string, number>; meanValence: number | null };
  seriesByDevice(group: unknown[]): Record<string, [number, number | null][]>;
  seriesByTrack(tracks: unknown[]): Record<string, [number, number, string][]>;
  parseSse(buffer: string): { events: { event: string; data: unknown }[]; rest: string };
}
const dash = (): Dash => {
  const ctx: { ferkitDashboard?: Dash } = {};
  runInNewContext(DASHBOARD_JS, ctx);
  return ctx.ferkitDashboard!;
};

describe('dashboard page', () => {
  test('/dashboard: HTML with the same-origin CSP, no inline script, its script and style served from here', async () => {
    const s = await startServer({ root: null, port: 0, warmUp: false, createAnalyzer: fakeAnalyzers(), rateLimitPerMinute: 0, token: 'dashboard-token-0123456789' });
    try {
      const res = await fetch(`${s.url}dashboard`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-security-policy')).toBe(APP_HEADERS['Content-Security-Policy']);
      const html = await res.text();
      expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      expect(html).not.toMatch(/https?:\/\//);
      const js = await fetch(`${s.url}dashboard/app.js`);
      expect([js.status, js.headers.get('content-type')]).toEqual([200, 'text/javascript; charset=utf-8']);
      expect((await fetch(`${s.url}dashboard/style.css`)).headers.get('content-type')).toBe('text/css; charset=utf-8');
      // The page is public; its data is not.
      expect((await fetch(`${s.url}v1/sessions`)).status).toBe(401);
    } finally {
      await s.close();
    }
  });

  test('groupNow: each device\'s newest second within the window, shares weighted by faces', () => {
    const d = dash();
    const group = [
      { device: 'a', at: 1000, faces: 2, shares: { happy: 1 }, meanValence: 0.6 },
      { device: 'a', at: 2000, faces: 2, shares: { happy: 0.5, sad: 0.5 }, meanValence: 0.1 },
      { device: 'b', at: 2000, faces: 1, shares: { neutral: 1 }, meanValence: 0 },
      { device: 'old', at: -20_000, faces: 5, shares: { angry: 1 }, meanValence: -0.8 },
    ];
    const now = d.groupNow(group, 10_000);
    expect(now).toMatchObject({ at: 2000, devices: 2, faces: 3 });
    expect(now.shares.happy).toBeCloseTo(1 / 3);
    expect(now.shares.sad).toBeCloseTo(1 / 3);
    expect(now.shares.neutral).toBeCloseTo(1 / 3);
    expect(now.shares.angry).toBeUndefined();
    expect(now.meanValence).toBeCloseTo((0.1 * 2 + 0) / 3);
    expect(d.groupNow([], 10_000)).toMatchObject({ at: null, faces: 0, meanValence: null });
    expect(d.seriesByDevice(group).a).toEqual([[1000, 0.6], [2000, 0.1]]);
    expect(d.seriesByTrack([{ device: 'a', at: 2, trackId: 1, valenceScore: 0.5, label: 'happy' }, { device: 'a', at: 1, trackId: 1, valenceScore: 0.1, label: 'neutral' }])['a#1'])
      .toEqual([[1, 0.1, 'neutral'], [2, 0.5, 'happy']]);
  });

  test('parseSse: complete messages out, the unfinished rest kept', () => {
    const r = dash().parseSse('retry: 3000\n\nevent: hello\ndata: {"id":"x"}\n\nevent: aggregates\ndata: {"samples":[1');
    expect(r.events).toEqual([{ event: 'hello', data: { id: 'x' } }]);
    expect(r.rest).toBe('event: aggregates\ndata: {"samples":[1');
  });
});
