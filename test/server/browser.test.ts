/**
 * The browser app posting a session to the server, and the dashboard showing it, in Debian's Chromium (headless,
 * playwright-core) with the fake camera playing ../shared/media/test.mp4 (one face). Skips with a message without
 * Chromium, ffmpeg or ../shared (the same rig as test/web/app.test.ts). Screenshots go to results/tmp/screenshots/.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { REPO, TEST_VIDEO, WEB_DIST, browserSkipReason, buildWebApp, launchChromium, makeY4m, waitForFace } from '../../bench/web-bench.js';
import { startServer, type RunningServer } from '../../src/server/app.js';

const skip = browserSkipReason();
if (skip) console.warn(`skipped: browser session-sharing test (${skip})`);
const SHOTS = join(REPO, 'results', 'tmp', 'screenshots');

describe.skipIf(skip !== null)('app → server → dashboard in Chromium', () => {
  let tmp: string;
  let server: RunningServer;
  let context: BrowserContext;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'ferkit-share-test-'));
    mkdirSync(SHOTS, { recursive: true });
    await buildWebApp();
    server = await startServer({ root: WEB_DIST, port: 0, db: join(tmp, 'class.db'), warmUp: false, rateLimitPerMinute: 0 });
    context = await launchChromium(makeY4m(TEST_VIDEO, tmp, 30), join(tmp, 'profile'));
  }, 240_000);

  afterAll(async () => {
    await context?.close().catch(() => undefined);
    await server?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test('sharing is off by default; with the join code the running session\'s aggregates reach the server and the dashboard', async () => {
    const session = await (await fetch(`${server.url}v1/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Browser lesson' }) })).json();
    const page = context.pages()[0] ?? (await context.newPage());
    const posted: string[] = [];
    page.on('request', (r) => { if (r.method() === 'POST') posted.push(r.url()); });
    await page.goto(server.url);
    await waitForFace(page);
    await page.click('[data-tab=monitor]');
    expect(await page.isChecked('#share-on')).toBe(false);
    await page.click('#btn-session');
    await page.waitForTimeout(3000);
    expect(posted).toEqual([]); // nothing leaves the tab until the user opts in
    await page.click('#share-summary');
    await page.fill('#share-code', session.code);
    await page.fill('#share-label', 'Chromium test');
    await page.check('#share-on');
    await expect.poll(() => page.textContent('#share-status'), { timeout: 15_000 }).toMatch(/sharing/);
    await expect.poll(async () => (await (await fetch(`${server.url}v1/sessions/${session.id}`)).json()).session.samples, { timeout: 30_000, interval: 1000 })
      .toBeGreaterThanOrEqual(3);
    await page.screenshot({ path: join(SHOTS, 'web-share.png') });
    await page.click('#btn-session'); // stop: the rest is flushed
    expect(posted.every((u) => u.startsWith(`${server.url}v1/sessions/${session.id}/aggregates`))).toBe(true);

    const dump = await (await fetch(`${server.url}v1/sessions/${session.id}/export.json`)).json();
    expect(dump.devices).toEqual([expect.objectContaining({ label: 'Chromium test' })]);
    expect(dump.group.some((g: { faces: number }) => g.faces >= 1)).toBe(true);
    expect(dump.tracks.length).toBeGreaterThan(0);
    expect(JSON.stringify(dump)).not.toMatch(/data:image|base64/);

    const dash = await context.newPage();
    await dash.goto(`${server.url}dashboard?session=${session.id}`);
    await expect.poll(() => dash.textContent('#s-code'), { timeout: 15_000 }).toBe(session.code);
    await expect.poll(() => dash.locator('#s-dist > div').count(), { timeout: 15_000 }).toBeGreaterThan(0);
    expect(await dash.locator('#s-device-chart svg path').count()).toBeGreaterThan(0);
    expect(await dash.locator('#s-tracks .track-row').count()).toBeGreaterThan(0);
    await dash.screenshot({ path: join(SHOTS, 'dashboard.png'), fullPage: true });

    // Live: a batch posted now shows up on the open dashboard through the event stream.
    const before = await dash.textContent('#s-devices');
    await fetch(`${server.url}v1/sessions/${session.id}/aggregates`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ device: { key: 'second-device', label: 'Room camera' }, samples: [{ at: Date.now(), faces: 3, shares: { happy: 1 }, meanValence: 0.8 }] }),
    });
    await expect.poll(() => dash.textContent('#s-devices'), { timeout: 10_000 }).not.toBe(before);
    expect(await dash.textContent('#s-devices')).toMatch(/2 device/);
  }, 240_000);
});
