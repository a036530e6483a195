/**
 * The browser app end to end: Vite build → `ferkit serve`'s server on 127.0.0.1 → Debian's Chromium (headless,
 * playwright-core) with a fake camera playing a Y4M made from ../shared/media/test.mp4 (one face).
 * Screenshots go to results/tmp/screenshots/ (git-ignored). Skips with a message without Chromium, ffmpeg or ../shared.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  REPO, TEST_VIDEO, browserSkipReason, buildWebApp, makeY4m, openApp, pageStats, waitForFace, type WebRig,
} from '../../bench/web-bench.js';
import { EXPRESSIONS } from '../../src/core/labels.js';

const skip = browserSkipReason();
if (skip) console.warn(`skipped: browser tests (${skip})`);
const SHOTS = join(REPO, 'results', 'tmp', 'screenshots');
const MEDIA = join(TEST_VIDEO, '..');

async function downloadText(page: Page, click: () => Promise<void>): Promise<{ name: string; text: string }> {
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 15_000 }), click()]);
  const path = await dl.path();
  return { name: dl.suggestedFilename(), text: readFileSync(path, 'utf8') };
}

describe.skipIf(skip !== null)('web app in Chromium with a fake camera', () => {
  let tmp: string;
  let y4m: string;
  let rig: WebRig;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'ferkit-web-test-'));
    mkdirSync(SHOTS, { recursive: true });
    await buildWebApp();
    y4m = makeY4m(TEST_VIDEO, tmp, 30);
    rig = await openApp(y4m);
  }, 180_000);

  afterAll(async () => {
    await rig?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test('live view: a face box with a track id and an expression label, and a frame rate above zero', async () => {
    const { page } = rig;
    const first = await waitForFace(page);
    expect(first.crossOriginIsolated).toBe(true);
    expect(first.backend).toBe('wasm'); // --disable-gpu: no WebGPU adapter
    await page.waitForTimeout(2000);
    const s = await pageStats(page);
    expect(s.fps).toBeGreaterThan(0);
    expect(Number(await page.getAttribute('#stat-fps', 'data-fps'))).toBeGreaterThan(0);
    expect(s.framesWithFace / s.frames).toBeGreaterThan(0.8);
    // a card per face, with a label from the 7 expressions and 7 probability bars
    const card = page.locator('article.card').first();
    await expect.poll(() => card.count()).toBe(1);
    expect(await card.getAttribute('data-track')).toMatch(/^\d+$/);
    const label = (await card.locator('.label').textContent())!;
    expect(label).toMatch(new RegExp(`^(${EXPRESSIONS.join('|')}) \\d+%$`));
    expect(await card.locator('.bar-row').count()).toBe(7);
    // the overlay has a box drawn on it
    const inked = await page.evaluate(() => {
      const c = document.getElementById('overlay') as HTMLCanvasElement;
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i]! > 0) n++;
      return n;
    });
    expect(inked).toBeGreaterThan(500);
    expect(await page.textContent('#privacy')).toMatch(/no camera frame or photo leaves this device/);
    await page.screenshot({ path: join(SHOTS, 'web-live.png') });
  });

  test('monitoring session: start, stop, export CSV and JSON', async () => {
    const { page } = rig;
    await page.click('[data-tab=monitor]');
    await page.fill('#inp-threshold', '1');
    await page.dispatchEvent('#inp-threshold', 'change');
    await page.click('#btn-session');
    await page.waitForTimeout(3500);
    await page.screenshot({ path: join(SHOTS, 'web-monitor.png') });
    await page.click('#btn-session');
    expect(await page.textContent('#btn-session')).toBe('Start new session');
    expect(await page.locator('#people-body .track').count()).toBeGreaterThanOrEqual(1);

    const csv = await downloadText(page, () => page.click('#btn-export-csv'));
    expect(csv.name).toMatch(/^ferkit-session-.*\.csv$/);
    const lines = csv.text.trimEnd().split('\r\n');
    expect(lines[0]).toMatch(/^t_ms,time,track_id,label,label_score,valence,valence_score,raw_label,x,y,width,height,p_angry,/);
    expect(lines.length).toBeGreaterThan(5); // ~4 samples a second for 3.5 s

    const json = await downloadText(page, () => page.click('#btn-export-json'));
    const data = JSON.parse(json.text) as { format: string; endedAt: string | null; people: { samples: unknown[] }[]; group: unknown[] };
    expect(data.format).toBe('ferkit-session/1');
    expect(data.endedAt).not.toBeNull();
    expect(data.people.length).toBeGreaterThanOrEqual(1);
    expect(data.people[0]!.samples.length).toBeGreaterThan(5);
    expect(data.group.length).toBeGreaterThan(5);
  });

  test('photos tab: many photos at once give a table with thumbnails and a CSV', async () => {
    const { page } = rig;
    await page.click('[data-tab=photos]');
    const notImage = join(tmp, 'notes.txt');
    writeFileSync(notImage, 'not an image');
    await page.setInputFiles('#file-input', [join(MEDIA, 'test_image.jpg'), join(MEDIA, 'justin.jpg'), join(MEDIA, 'no-faces.jpg'), notImage]);
    await expect.poll(() => page.textContent('#photo-progress'), { timeout: 90_000 }).toMatch(/^4 photo\(s\), \d+ face\(s\), 1 failed\.$/);
    expect(await page.locator('#photo-body tr').count()).toBe(4);
    expect(await page.locator('#photo-body canvas').count()).toBe(4);
    await page.screenshot({ path: join(SHOTS, 'web-photos.png'), fullPage: true });
    const csv = await downloadText(page, () => page.click('#btn-photos-csv'));
    const rows = csv.text.trimEnd().split('\r\n');
    expect(rows[0]).toBe(`file,face,x,y,width,height,detection_score,label,label_score,valence,${EXPRESSIONS.map((e) => `p_${e}`).join(',')},error_code,error_message`);
    const group = rows.filter((r) => r.startsWith('test_image.jpg,'));
    expect(group.length).toBeGreaterThanOrEqual(4); // a group photo
    expect(rows.some((r) => r.startsWith('justin.jpg,0,'))).toBe(true);
    expect(rows.filter((r) => r.startsWith('no-faces.jpg,'))).toEqual([`no-faces.jpg${','.repeat(18)}`]);
    expect(rows.find((r) => r.startsWith('notes.txt,'))).toMatch(/,E_DECODE,/);
    await page.click('[data-tab=live]');
  });

  test('EXPECTED FAILURE: camera denied, no camera, and an unsupported browser each get a plain message', async () => {
    for (const [opts, pattern] of [
      [{ denyCamera: true }, /Camera access was denied/],
      [{ noCamera: true }, /No camera was found/],
    ] as const) {
      const r = await openApp(null, '', opts);
      try {
        await expect.poll(() => r.page.textContent('#camera-message'), { timeout: 30_000 }).toMatch(pattern);
        expect(await r.page.isVisible('#camera-message')).toBe(true);
      } finally {
        await r.close();
      }
    }
    // models that cannot be fetched: a plain error, and photos (queued or added later) fail with E_MODEL_LOAD, not silently
    const broken = await openApp(null, '', {
      noCamera: true,
      beforeGoto: async (c) => { await c.route(/models\/manifest\.json$/, (route) => route.fulfill({ status: 404, body: 'gone' })); },
    });
    try {
      await broken.page.click('[data-tab=photos]');
      await broken.page.setInputFiles('#file-input', [join(MEDIA, 'justin.jpg')]);
      await expect.poll(() => broken.page.textContent('#banner'), { timeout: 30_000 }).toMatch(/The models could not be loaded \(E_MODEL_LOAD\)/);
      await expect.poll(() => broken.page.textContent('#photo-body'), { timeout: 30_000 }).toMatch(/E_MODEL_LOAD: the models could not be loaded/);
    } finally {
      await broken.close();
    }
    const r = await openApp(null, '', { noCamera: true, initScript: 'delete globalThis.OffscreenCanvas' });
    try {
      await expect.poll(() => r.page.textContent('#banner'), { timeout: 30_000 }).toMatch(/This browser cannot run ferkit: OffscreenCanvas is not available/);
      // the notice is an alert and can be dismissed from the keyboard
      expect(await r.page.getAttribute('#banner', 'role')).toBe('alert');
      await r.page.focus('#banner-close');
      await r.page.keyboard.press('Enter');
      expect(await r.page.isVisible('#banner')).toBe(false);
    } finally {
      await r.close();
    }
  });
});
