/**
 * Monitoring sessions in SQLite: migrations (empty and previous-version databases), the session API (create, join
 * by code, post aggregates, list, read, export CSV/JSON, end, delete with cascade), live events (SSE), persistence
 * across restarts, disk full / read-only database (503 E_STORAGE, then recovery) and kill -9 during ingest (every
 * acknowledged row is in the database afterwards).
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServeChild, VITE_NODE } from './fixtures/start-child.js';
import Database from 'better-sqlite3';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { MIGRATIONS, migrate, openDatabase, schemaVersion } from '../../src/server/db.js';
import { startServer, type RunningServer } from '../../src/server/app.js';
import { csvSafe } from '../../src/server/sessions-store.js';
import { batch, fakeAnalyzers } from './helpers.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'ferkit-sessions-'));

const json = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('migrations', () => {
  test('an empty database gets every migration, with WAL and foreign keys on', () => {
    const file = join(tmp(), 'a.db');
    const db = openDatabase(file);
    expect(schemaVersion(db)).toBe(MIGRATIONS.at(-1)!.version);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    const names = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
    expect(names).toEqual(['devices', 'group_samples', 'notices', 'schema_migrations', 'sessions', 'track_samples', 'video_jobs']);
    db.close();
  });

  test('a previous-version (v1) database with data is upgraded in place and keeps its rows', () => {
    const file = join(tmp(), 'old.db');
    const old = new Database(file);
    expect(migrate(old, MIGRATIONS, 1)).toEqual([1]);
    old.prepare("INSERT INTO sessions (id, name, code, created_at) VALUES ('00000000-0000-0000-0000-000000000001', 'old lesson', 'ABCDEF', 1)").run();
    old.close();
    const db = openDatabase(file);
    expect(schemaVersion(db)).toBe(2);
    expect(db.prepare('SELECT name FROM sessions').all()).toEqual([{ name: 'old lesson' }]);
    expect((db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all() as { version: number }[]).map((r) => r.version)).toEqual([1, 2]);
    expect(migrate(db)).toEqual([]); // idempotent
    db.close();
  });

  test('a database from a newer ferkit is refused with both versions named', () => {
    const file = join(tmp(), 'new.db');
    const db = openDatabase(file);
    db.prepare("INSERT INTO schema_migrations VALUES (99, 'future', 0)").run();
    db.close();
    expect(() => openDatabase(file)).toThrow(/schema version 99 is newer than this ferkit knows \(2\)/);
  });
});

describe('session API', () => {
  let s: RunningServer;
  let dbFile: string;
  beforeAll(async () => {
    dbFile = join(tmp(), 'sessions.db');
    s = await startServer({ root: null, port: 0, db: dbFile, warmUp: false, createAnalyzer: fakeAnalyzers(), rateLimitPerMinute: 0 });
  });
  afterAll(async () => { await s.close(); });

  test('create → join by code → aggregates from two devices → read, list, export CSV and JSON → end → delete', async () => {
    const created = await fetch(`${s.url}v1/sessions`, json({ name: 'Lesson 3B', settings: { negativeThresholdS: 10 } }));
    expect(created.status).toBe(201);
    const session = await created.json();
    expect(session).toMatchObject({ name: 'Lesson 3B', devices: 0, samples: 0, endedAt: null, settings: { negativeThresholdS: 10 } });
    expect(session.code).toMatch(/^[A-HJKMNP-Z2-9]{6}$/);
    expect(created.headers.get('location')).toBe(`/v1/sessions/${session.id}`);

    const joined = await (await fetch(`${s.url}v1/join/${session.code.toLowerCase().slice(0, 3)}-${session.code.slice(3)}`)).json();
    expect(joined.id).toBe(session.id);

    const at0 = Date.UTC(2026, 0, 5, 9, 0, 0);
    const a = await fetch(`${s.url}v1/sessions/${session.id}/aggregates`, json(batch('device-aaaa', at0, 10, '=HYPERLINK("x")')));
    expect(a.status).toBe(202);
    expect(await a.json()).toMatchObject({ groupRows: 10, trackRows: 20, notices: 1 });
    expect((await fetch(`${s.url}v1/sessions/${session.id}/aggregates`, json(batch('device-bbbb', at0, 5)))).status).toBe(202);
    // Re-sending the same seconds replaces them (idempotent).
    expect((await fetch(`${s.url}v1/sessions/${session.id}/aggregates`, json(batch('device-bbbb', at0, 5)))).status).toBe(202);

    const one = await (await fetch(`${s.url}v1/sessions/${session.id}`)).json();
    expect(one.session).toMatchObject({ devices: 2, samples: 15 });
    expect(one.devices.map((d: { key: string }) => d.key)).toEqual(['device-aaaa', 'device-bbbb']);

    const list = await (await fetch(`${s.url}v1/sessions?limit=10`)).json();
    expect(list.total).toBe(1);
    expect(list.sessions[0].id).toBe(session.id);

    const dump = await (await fetch(`${s.url}v1/sessions/${session.id}/export.json`)).json();
    expect(dump.format).toBe('ferkit-server-session/1');
    expect(dump.group).toHaveLength(15);
    expect(dump.tracks).toHaveLength(30);
    expect(dump.notices).toEqual([{ device: 'device-aaaa', at: at0 + 9000, trackId: 2, negativeForMs: 10_000, message: expect.any(String) }]);
    expect(dump.tracks[0].probabilities.happy).toBe(0.7);

    const csvRes = await fetch(`${s.url}v1/sessions/${session.id}/export.csv`);
    expect(csvRes.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(csvRes.headers.get('content-disposition')).toMatch(/attachment; filename="session-.*\.csv"/);
    const rows = parse(await csvRes.text(), { columns: true }) as Record<string, string>[];
    expect(rows).toHaveLength(15 + 30);
    expect(rows.filter((r) => r.kind === 'group')).toHaveLength(15);
    expect(rows[0]).toMatchObject({ kind: 'group', faces: '2', p_happy: '0.5', time: '2026-01-05T09:00:00.000Z' });
    // The device label starts with '=': escaped so that a spreadsheet does not run it as a formula.
    expect(rows.find((r) => r.device === 'device-aaaa')!.device_label).toBe('\'=HYPERLINK("x")');

    const ended = await (await fetch(`${s.url}v1/sessions/${session.id}/end`, { method: 'POST' })).json();
    expect(ended.endedAt).not.toBeNull();
    const late = await fetch(`${s.url}v1/sessions/${session.id}/aggregates`, json(batch('device-aaaa', at0 + 60_000, 1)));
    const lateProblem = await late.json();
    expect([late.status, lateProblem.code]).toEqual([409, 'E_CONFLICT']);
    expect(lateProblem.detail).toContain(`ended at ${ended.endedAt}`);

    expect((await fetch(`${s.url}v1/sessions/${session.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await fetch(`${s.url}v1/sessions/${session.id}`)).status).toBe(404);
    const gone = await fetch(`${s.url}v1/sessions/${session.id}/aggregates`, json(batch('device-aaaa', at0 + 90_000, 1)));
    expect([gone.status, (await gone.json()).code]).toEqual([404, 'E_NOT_FOUND']);
    const counts = s.db!.prepare('SELECT (SELECT COUNT(*) FROM devices) d, (SELECT COUNT(*) FROM group_samples) g, (SELECT COUNT(*) FROM track_samples) t, (SELECT COUNT(*) FROM notices) n').get();
    expect(counts).toEqual({ d: 0, g: 0, t: 0, n: 0 });
  });

  test('bad aggregates are refused whole (400), nothing stored', async () => {
    const { id } = await (await fetch(`${s.url}v1/sessions`, json({ name: 'x' }))).json();
    const bad = batch('device-cccc', 1000, 3);
    (bad.samples[2]!.tracks![0]!.probabilities as Record<string, number>).happy = 7;
    const res = await fetch(`${s.url}v1/sessions/${id}/aggregates`, json(bad));
    expect(res.status).toBe(400);
    expect((await res.json()).detail).toMatch(/maximum|<= 1/);
    expect((await fetch(`${s.url}v1/sessions/${id}/aggregates`, json({ device: { key: 'x' }, samples: [] }))).status).toBe(400);
    expect((await (await fetch(`${s.url}v1/sessions/${id}`)).json()).session.samples).toBe(0);
  });

  test('live events: a dashboard stream gets hello, then each device batch as it is posted', async () => {
    const { id } = await (await fetch(`${s.url}v1/sessions`, json({ name: 'live' }))).json();
    const ac = new AbortController();
    const res = await fetch(`${s.url}v1/sessions/${id}/events`, { signal: ac.signal });
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    const until = async (re: RegExp): Promise<void> => {
      while (!re.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${re}`);
        text += value;
      }
    };
    await until(/event: hello\ndata: .*\n\n/);
    await fetch(`${s.url}v1/sessions/${id}/aggregates`, json(batch('device-dddd', 5000, 2)));
    await until(/event: aggregates\ndata: (.*)\n\n/);
    const data = JSON.parse(/event: aggregates\ndata: (.*)\n\n/.exec(text)![1]!);
    expect(data.device.key).toBe('device-dddd');
    expect(data.samples).toHaveLength(2);
    ac.abort();
  });

  test('disk full (SQLITE_FULL) and read-only database → 503 E_STORAGE with Retry-After; writes work again after', async () => {
    const { id } = await (await fetch(`${s.url}v1/sessions`, json({ name: 'full' }))).json();
    const db = s.db!;
    const pages = db.pragma('page_count', { simple: true }) as number;
    db.pragma(`max_page_count = ${pages}`);
    try {
      let res: Response | undefined;
      for (let i = 0; i < 50; i++) {
        res = await fetch(`${s.url}v1/sessions/${id}/aggregates`, json(batch('device-eeee', 1_000_000 + i * 600_000, 300)));
        if (res.status !== 202) break;
      }
      expect(res!.status).toBe(503);
      expect(res!.headers.get('retry-after')).toBe('10');
      expect(await res!.json()).toMatchObject({ code: 'E_STORAGE', detail: expect.stringMatching(/SQLITE_FULL.*nothing was stored/) });
    } finally {
      db.pragma('max_page_count = 4294967294');
    }
    expect((await fetch(`${s.url}v1/sessions/${id}/aggregates`, json(batch('device-eeee', 5, 1)))).status).toBe(202);
    db.pragma('query_only = ON');
    try {
      const ro = await fetch(`${s.url}v1/sessions`, json({ name: 'ro' }));
      expect([ro.status, (await ro.json()).code]).toEqual([503, 'E_STORAGE']);
      expect((await fetch(`${s.url}v1/sessions`)).status).toBe(200); // reads still work
    } finally {
      db.pragma('query_only = OFF');
    }
    expect((await fetch(`${s.url}v1/sessions`, json({ name: 'back' }))).status).toBe(201);
  });
});

describe('persistence', () => {
  test('sessions survive a graceful restart; the WAL is checkpointed on close', async () => {
    const dbFile = join(tmp(), 'keep.db');
    const opts = { root: null, port: 0, db: dbFile, warmUp: false, createAnalyzer: fakeAnalyzers(), rateLimitPerMinute: 0 } as const;
    const a = await startServer(opts);
    const { id } = await (await fetch(`${a.url}v1/sessions`, json({ name: 'kept' }))).json();
    await fetch(`${a.url}v1/sessions/${id}/aggregates`, json(batch('device-ffff', 0, 30)));
    await a.close();
    expect(existsSync(`${dbFile}-wal`) ? (await import('node:fs')).statSync(`${dbFile}-wal`).size : 0).toBe(0);
    const b = await startServer(opts);
    try {
      expect((await (await fetch(`${b.url}v1/sessions/${id}`)).json()).session).toMatchObject({ name: 'kept', samples: 30 });
    } finally {
      await b.close();
    }
  });

  const viteNode = VITE_NODE;
  const startChild = (dbFile: string) => startServeChild([dbFile]);

  test.skipIf(!existsSync(viteNode))('kill -9 during ingest from 20 devices: every acknowledged row is in the database after restart', async () => {
    const dbFile = join(tmp(), 'crash.db');
    const { proc, url } = await startChild(dbFile);
    const { id } = await (await fetch(`${url}v1/sessions`, json({ name: 'crash' }))).json();
    const acked = new Set<string>();
    let stop = false;
    const device = async (d: number): Promise<void> => {
      for (let sec = 0; !stop; sec++) {
        const key = `device-${String(d).padStart(4, '0')}`;
        try {
          const res = await fetch(`${url}v1/sessions/${id}/aggregates`, json(batch(key, sec * 1000, 1)));
          if (res.status === 202) acked.add(`${key}@${sec * 1000}`);
        } catch {
          return; // connection reset by the kill
        }
      }
    };
    const devices = Array.from({ length: 20 }, (_, d) => device(d));
    await new Promise((r) => setTimeout(r, 1500));
    proc.kill('SIGKILL');
    stop = true;
    await Promise.all(devices);
    expect(acked.size).toBeGreaterThan(20);
    const db = openDatabase(dbFile);
    try {
      const rows = new Set((db.prepare('SELECT d.device_key AS k, g.at_ms AS t FROM group_samples g JOIN devices d ON d.id = g.device_id').all() as { k: string; t: number }[]).map((r) => `${r.k}@${r.t}`));
      const lost = [...acked].filter((k) => !rows.has(k));
      expect(lost).toEqual([]);
      // Rows written but not acknowledged (the kill came between commit and answer) are at most one per device.
      expect(rows.size - acked.size).toBeLessThanOrEqual(20);
    } finally {
      db.close();
    }
  });
});

test('csvSafe escapes formula-leading text and leaves numbers alone', () => {
  expect(['=1+2', '+cmd', '-x', '@SUM(A1)', '\tx', 'plain', '-0.5', '+3', 7, -2].map(csvSafe)).toEqual(["'=1+2", "'+cmd", "'-x", "'@SUM(A1)", "'\tx", 'plain', '-0.5', '+3', 7, -2]);
});
