/**
 * Storage refusing writes, for real: the server runs in a child process under a file-size limit (RLIMIT_FSIZE via
 * `prlimit --fsize`), so the kernel fails any write that would make a file larger, with EFBIG, the way a full disk
 * fails it with ENOSPC. (A full or read-only file system cannot be mounted here, and chmod does not stop root; the
 * in-process variants, SQLite's max_page_count and query_only, are in sessions.test.ts.) Checked: a video upload past
 * the limit → 503 E_STORAGE with Retry-After and no partial file kept; session ingest once the database's WAL cannot
 * grow → 503 E_STORAGE, nothing half-stored; other requests still answered; once the limit is lifted (`prlimit --pid`,
 * the space coming back) both work again without a restart, and every acknowledged row is in SQLite after a clean stop.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { openDatabase } from '../../src/server/db.js';
import { startServeChild, VITE_NODE } from './fixtures/start-child.js';
import { batch } from './helpers.js';

const HAS_PRLIMIT = spawnSync('prlimit', ['--version']).status === 0;
const skip = !HAS_PRLIMIT ? 'prlimit (util-linux) is not installed' : !existsSync(VITE_NODE) ? 'vite-node is missing' : null;
if (skip) console.warn(`skipped: storage tests (${skip})`);
const json = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const LIMIT = 256 * 1024;

test.skipIf(skip !== null)('file-size limit (EFBIG, as a full disk): 503 E_STORAGE for uploads and ingest, nothing half-kept, recovery without a restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferkit-storage-'));
  const dbFile = join(dir, 'full.db');
  const { proc, url } = await startServeChild([dbFile, '200'], LIMIT);
  const acked = new Set<string>();
  try {
    // A video larger than any file may grow: refused as storage trouble, and its folder removed.
    const big = await fetch(`${url}v1/videos`, { method: 'POST', headers: { 'content-type': 'video/mp4' }, body: new Uint8Array(LIMIT * 2) });
    expect(big.status).toBe(503);
    expect(big.headers.get('retry-after')).toBe('30');
    expect(await big.json()).toMatchObject({ code: 'E_STORAGE', detail: expect.stringMatching(/cannot store the upload \(EFBIG\); nothing was kept/) });
    expect(readdirSync(`${dbFile}.data`)).toEqual([]);
    // The refusal came before the body was read to its end, so that connection was closed ("Connection: close"):
    // the next request does not land on a socket with half an upload in it (it used to fail with ECONNRESET).

    // Ingest until the database cannot grow (the WAL file reaches the limit first).
    const { id } = await (await fetch(`${url}v1/sessions`, json({ name: 'full disk' }))).json();
    let refused: Response | undefined;
    for (let i = 0; i < 400 && !refused; i++) {
      const key = `device-${String(i % 10).padStart(4, '0')}`;
      const at = Math.floor(i / 10) * 60_000;
      const res = await fetch(`${url}v1/sessions/${id}/aggregates`, json(batch(key, at, 60)));
      if (res.status === 202) for (let k = 0; k < 60; k++) acked.add(`${key}@${at + k * 1000}`);
      else refused = res;
    }
    expect(refused?.status).toBe(503);
    expect(refused!.headers.get('retry-after')).toBe('10');
    expect(await refused!.json()).toMatchObject({ code: 'E_STORAGE', detail: expect.stringMatching(/SQLITE_(FULL|IOERR)\w*.*nothing was stored/) });
    expect(acked.size).toBeGreaterThan(0);
    // Reads and health checks are still answered.
    expect((await fetch(`${url}v1/sessions/${id}`)).status).toBe(200);
    expect((await fetch(`${url}healthz`)).status).toBe(200);

    // The space comes back: lift the limit on the running process.
    expect(spawnSync('prlimit', ['--pid', String(proc.pid), '--fsize=unlimited:unlimited']).status).toBe(0);
    const after = await fetch(`${url}v1/sessions/${id}/aggregates`, json(batch('device-late', 10_000_000, 60)));
    expect(after.status).toBe(202);
    for (let k = 0; k < 60; k++) acked.add(`device-late@${10_000_000 + k * 1000}`);
    const video = await fetch(`${url}v1/videos`, { method: 'POST', headers: { 'content-type': 'video/mp4' }, body: new Uint8Array(LIMIT * 2) });
    expect(video.status).toBe(202);
    const job = await video.json();
    for (let i = 0; i < 100; i++) {
      if ((await (await fetch(`${url}v1/videos/${job.id}`)).json()).status === 'done') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect((await (await fetch(`${url}v1/videos/${job.id}`)).json()).status).toBe('done');
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  }
  const db = openDatabase(dbFile);
  try {
    const rows = new Set((db.prepare('SELECT d.device_key AS k, g.at_ms AS t FROM group_samples g JOIN devices d ON d.id = g.device_id').all() as { k: string; t: number }[]).map((r) => `${r.k}@${r.t}`));
    expect([...acked].filter((k) => !rows.has(k))).toEqual([]);
    expect(rows.size).toBe(acked.size); // the refused batch left nothing behind
  } finally {
    db.close();
  }
}, 120_000);
