/**
 * The browser app's opt-in sharing (web/src/server-share.ts) against a real server: live frames become per-second
 * aggregates, a device joins by code and posts them, the server stores exactly those seconds; unsent seconds are kept
 * while the server is unreachable and sent after. Also the web CSV's formula-injection escaping (issue 13 item 6).
 */
import { parse } from 'csv-parse/sync';
import { describe, expect, test } from 'vitest';
import { EXPRESSIONS, type Expression } from '../../src/core/labels.js';
import type { LiveFrame } from '../../src/web/live.js';
import { startServer } from '../../src/server/app.js';
import { csvField, photosToCsv, toCsv } from '../../web/src/csv.js';
import { SecondAggregator, ShareClient, newDeviceKey, type FetchLike } from '../../web/src/server-share.js';
import { fakeAnalyzers } from './helpers.js';

function face(trackId: number, top: Expression, valenceScore: number): LiveFrame['faces'][number] {
  const probabilities = Object.fromEntries(EXPRESSIONS.map((e) => [e, e === top ? 0.7 : 0.05])) as Record<Expression, number>;
  return {
    trackId, box: { x: 0, y: 0, width: 10, height: 10 }, keypoints: {} as never, score: 0.9, probabilities, label: top, labelScore: 0.7,
    valence: valenceScore > 0.2 ? 'positive' : valenceScore < -0.2 ? 'negative' : 'neutral',
    smoothed: { probabilities, label: top, labelScore: 0.7, valence: valenceScore > 0.2 ? 'positive' : valenceScore < -0.2 ? 'negative' : 'neutral', valenceScore },
    displayLabel: top,
  } as unknown as LiveFrame['faces'][number];
}
const frame = (i: number, faces: LiveFrame['faces']): LiveFrame => ({ frameIndex: i, timestampMs: i * 100, width: 640, height: 480, detectorRan: true, labelSet: '7', faces, timingsMs: { detect: 0, classify: 0, track: 0, total: 0 } });

describe('SecondAggregator', () => {
  test('10 frames per second for 3 s → 3 seconds with label shares, mean valence and each track\'s last state', () => {
    const agg = new SecondAggregator();
    const t0 = Date.UTC(2026, 0, 1, 8, 0, 0);
    for (let i = 0; i < 30; i++) {
      const faces = [face(1, 'happy', 0.6), ...(i % 10 < 5 ? [face(2, 'sad', -0.4)] : [])];
      agg.add(frame(i, faces), t0 + i * 100);
    }
    expect(agg.take().map((s) => s.at)).toEqual([t0, t0 + 1000]);
    const all = agg.flushAll();
    expect(all).toHaveLength(1);
    const s = all[0]!;
    expect(s.at).toBe(t0 + 2000);
    expect(s.faces).toBe(2); // 1.5 on average, rounded
    expect(s.shares.happy).toBeCloseTo(10 / 15);
    expect(s.shares.sad).toBeCloseTo(5 / 15);
    expect(s.meanValence).toBeCloseTo((10 * 0.6 + 5 * -0.4) / 15);
    expect(s.tracks.map((t) => [t.trackId, t.label, t.valence])).toEqual([[1, 'happy', 'positive'], [2, 'sad', 'negative']]);
    expect(JSON.stringify(s)).not.toMatch(/box|keypoints|data/); // aggregates only
  });

  test('a second without faces: faces 0, no shares, mean valence null', () => {
    const agg = new SecondAggregator();
    agg.add(frame(0, []), 5000);
    expect(agg.flushAll()).toEqual([{ at: 5000, faces: 0, shares: {}, meanValence: null, tracks: [] }]);
  });
});

describe('ShareClient against the server', () => {
  test('join by code, post, buffer while unreachable, re-send, stop when the session ends', async () => {
    const s = await startServer({ root: null, port: 0, warmUp: false, createAnalyzer: fakeAnalyzers(), rateLimitPerMinute: 0 });
    try {
      const session = await (await fetch(`${s.url}v1/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Room 12' }) })).json();
      let offline = false;
      const f: FetchLike = async (url, init) => {
        if (offline) throw new TypeError('fetch failed');
        return fetch(url, init);
      };
      const origin = s.url.replace(/\/$/, '');
      const client = new ShareClient({ fetch: f, origin, deviceKey: newDeviceKey(), deviceLabel: 'Tablet 1' });
      await expect(client.join('ZZZZZZ')).rejects.toThrow(/no session with the code ZZZZZZ/);
      await expect(client.join('no!')).rejects.toThrow(/6 letters/);
      expect(await client.join(session.code.toLowerCase())).toMatchObject({ id: session.id, name: 'Room 12' });

      const agg = new SecondAggregator();
      for (let i = 0; i < 50; i++) agg.add(frame(i, [face(1, 'happy', 0.5)]), 10_000 + i * 100);
      client.queue(agg.take());
      expect(await client.send()).toMatchObject({ state: 'sent', seconds: 4 });
      offline = true;
      for (let i = 50; i < 80; i++) agg.add(frame(i, [face(1, 'neutral', 0)]), 10_000 + i * 100);
      client.queue(agg.take());
      expect(await client.send()).toMatchObject({ state: 'retrying', buffered: 3 });
      offline = false;
      client.queue(agg.flushAll());
      expect(await client.send()).toMatchObject({ state: 'sent', seconds: 4 });
      const dump = await (await fetch(`${s.url}v1/sessions/${session.id}/export.json`)).json();
      expect(dump.group.map((g: { at: number }) => g.at)).toEqual([10, 11, 12, 13, 14, 15, 16, 17].map((x) => x * 1000));
      expect(dump.devices[0].label).toBe('Tablet 1');

      await fetch(`${s.url}v1/sessions/${session.id}/end`, { method: 'POST' });
      client.queue([{ at: 99_000, faces: 0, shares: {}, meanValence: null, tracks: [] }]);
      expect(await client.send()).toEqual({ state: 'stopped', error: 'the session has ended on the server' });
    } finally {
      await s.close();
    }
  });

  test('a server with a token: join fails with a clear message without it, works with it', async () => {
    const token = 'classroom-token-0123456789';
    const s = await startServer({ root: null, port: 0, warmUp: false, createAnalyzer: fakeAnalyzers(), rateLimitPerMinute: 0, token });
    try {
      const session = await (await fetch(`${s.url}v1/sessions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ name: 't' }) })).json();
      const origin = s.url.replace(/\/$/, '');
      await expect(new ShareClient({ fetch, origin, deviceKey: 'device-1' }).join(session.code)).rejects.toThrow(/needs a token/);
      const c = new ShareClient({ fetch, origin, deviceKey: 'device-1', token });
      await c.join(session.code);
      c.queue([{ at: 1000, faces: 0, shares: {}, meanValence: null, tracks: [] }]);
      expect((await c.send()).state).toBe('sent');
    } finally {
      await s.close();
    }
  });
});

describe('web CSV: formula injection (OWASP)', () => {
  test('text cells starting with = + - @ tab CR get a leading quote; numbers and plain-number text do not; round trip keeps the text', () => {
    expect(csvField('=HYPERLINK("http://x","y")')).toBe('"\'=HYPERLINK(""http://x"",""y"")"');
    expect(['+1+2', '-cmd', '@SUM(A1)', '\tx', 'ok', '-0.5', '12'].map(csvField)).toEqual(["'+1+2", "'-cmd", "'@SUM(A1)", "'\tx", 'ok', '-0.5', '12']);
    expect([-0.25, 3].map(csvField)).toEqual(['-0.25', '3']);
    const text = toCsv([['file'], ['=cmd|\' /C calc\'!A0.jpg'], ['@evil.png']]);
    expect(parse(text)).toEqual([['file'], ["'=cmd|' /C calc'!A0.jpg"], ["'@evil.png"]]);
    const photos = photosToCsv([{ file: '=1+1.jpg', ok: false, error: { code: 'E_DECODE', message: '-bad' } }]);
    expect(parse(photos)[1]).toEqual(expect.arrayContaining(["'=1+1.jpg", 'E_DECODE', "'-bad"]));
  });
});
