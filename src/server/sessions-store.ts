/**
 * Monitoring sessions in SQLite: a session (name, join code, start/end), the devices that joined it, and their
 * per-second aggregates: per group (faces in view, label shares, mean valence) and per track (displayed label,
 * valence, smoothed probabilities), plus negative-streak notices. Aggregates only: no frame or face crop is stored.
 */
import { randomInt, randomUUID } from 'node:crypto';
import { stringify } from 'csv-stringify/sync';
import { EXPRESSIONS, type Expression } from '../core/labels.js';
import type { Db } from './db.js';
import { HttpProblem } from './problem.js';

/** Letters of join codes: no 0/O, 1/I/L, so a code read aloud or off a board is typed right. */
export const JOIN_CODE_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
/** Length of a join code (31^6 ≈ 887 million codes). */
export const JOIN_CODE_LENGTH = 6;

/** A session as the API shows it. */
export interface SessionInfo {
  id: string;
  name: string;
  /** Join code for devices, e.g. `K7QW2M`. */
  code: string;
  startedAt: string;
  endedAt: string | null;
  settings: Record<string, unknown>;
  devices: number;
  /** Seconds of group aggregates stored (summed over devices). */
  samples: number;
}

/** A device of a session. */
export interface DeviceInfo { id: number; key: string; label: string; joinedAt: string }

/** One track's aggregate of one second. */
export interface TrackAggregate {
  trackId: number;
  label: string;
  valence: 'positive' | 'neutral' | 'negative';
  /** Valence score of the smoothed probabilities (the app's `valenceScore`), in [−1, 1]. */
  valenceScore: number;
  /** Smoothed probabilities over the 7 expressions. */
  probabilities: Record<Expression, number>;
}

/** One second of one device. */
export interface SecondAggregate {
  /** Wall-clock time of the second, epoch milliseconds. */
  at: number;
  /** Faces in view. */
  faces: number;
  /** Share of faces per displayed label (labels with no face may be left out). */
  shares: Record<string, number>;
  /** Mean valence score of the faces in view; `null` without faces. */
  meanValence: number | null;
  tracks?: TrackAggregate[];
}

/** A negative-streak notice raised on a device. */
export interface NoticeAggregate { at: number; trackId: number; negativeForMs: number; message: string }

/** The body of `POST /v1/sessions/:id/aggregates`. */
export interface AggregateBatch {
  device: { key: string; label?: string };
  samples: SecondAggregate[];
  notices?: NoticeAggregate[];
}

/** What an ingest stored (re-sent seconds replace the earlier rows: posting is idempotent). */
export interface IngestResult { deviceId: number; groupRows: number; trackRows: number; notices: number }

/** The JSON export of a session. */
export interface SessionDump {
  format: 'ferkit-server-session/1';
  session: SessionInfo;
  devices: DeviceInfo[];
  group: ({ device: string } & SecondAggregate)[];
  tracks: ({ device: string; at: number } & TrackAggregate)[];
  notices: ({ device: string } & NoticeAggregate)[];
  note: string;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** True for SQLite errors that mean "cannot write now" (disk full, read-only, I/O). */
export function isStorageError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^SQLITE_(FULL|READONLY|IOERR|CANTOPEN|BUSY|LOCKED|CORRUPT|NOTADB)/.test(code);
}

/** Runs `fn`, turning storage errors into 503 `E_STORAGE` (the client may retry; nothing half-written stays). */
export function guardStorage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (isStorageError(err)) {
      const code = (err as { code: string }).code;
      throw new HttpProblem(503, 'E_STORAGE', `the database cannot be written (${code}: ${(err as Error).message}); nothing was stored, retry later`, { 'Retry-After': '10' });
    }
    throw err;
  }
}

/** A random join code of {@link JOIN_CODE_LENGTH} letters of {@link JOIN_CODE_ALPHABET}. */
export function newJoinCode(): string {
  let s = '';
  for (let i = 0; i < JOIN_CODE_LENGTH; i++) s += JOIN_CODE_ALPHABET[randomInt(JOIN_CODE_ALPHABET.length)];
  return s;
}

/** Upper-cases a typed code and drops spaces and dashes. */
export function normaliseJoinCode(code: string): string {
  return code.toUpperCase().replace(/[\s-]/g, '');
}

/** Session storage bound to one database (statements prepared once). */
export type SessionStore = ReturnType<typeof createSessionStore>;

/** Prepares the statements and returns the session operations. Every write is one transaction. */
export function createSessionStore(db: Db) {
  const pCols = EXPRESSIONS.map((e) => `p_${e}`);
  const st = {
    insertSession: db.prepare('INSERT INTO sessions (id, name, code, created_at, settings) VALUES (?, ?, ?, ?, ?)'),
    session: db.prepare(`SELECT s.*, (SELECT COUNT(*) FROM devices d WHERE d.session_id = s.id) AS n_devices,
      (SELECT COUNT(*) FROM group_samples g JOIN devices d ON d.id = g.device_id WHERE d.session_id = s.id) AS n_samples
      FROM sessions s WHERE s.id = ?`),
    byCode: db.prepare('SELECT id FROM sessions WHERE code = ?'),
    // Ingest needs only whether the session exists and is running: not `session`'s counts, which read every sample row.
    state: db.prepare('SELECT ended_at FROM sessions WHERE id = ?'),
    list: db.prepare(`SELECT s.*, (SELECT COUNT(*) FROM devices d WHERE d.session_id = s.id) AS n_devices,
      (SELECT COUNT(*) FROM group_samples g JOIN devices d ON d.id = g.device_id WHERE d.session_id = s.id) AS n_samples
      FROM sessions s ORDER BY s.created_at DESC, s.id LIMIT ? OFFSET ?`),
    count: db.prepare('SELECT COUNT(*) AS n FROM sessions'),
    end: db.prepare('UPDATE sessions SET ended_at = COALESCE(ended_at, ?) WHERE id = ?'),
    del: db.prepare('DELETE FROM sessions WHERE id = ?'),
    device: db.prepare('SELECT id, label FROM devices WHERE session_id = ? AND device_key = ?'),
    insertDevice: db.prepare('INSERT INTO devices (session_id, device_key, label, joined_at) VALUES (?, ?, ?, ?)'),
    relabel: db.prepare('UPDATE devices SET label = ? WHERE id = ?'),
    devices: db.prepare('SELECT id, device_key, label, joined_at FROM devices WHERE session_id = ? ORDER BY id'),
    group: db.prepare('INSERT OR REPLACE INTO group_samples (device_id, at_ms, faces, mean_valence, shares) VALUES (?, ?, ?, ?, ?)'),
    track: db.prepare(`INSERT OR REPLACE INTO track_samples (device_id, at_ms, track_id, label, valence, valence_score, ${pCols.join(', ')})
      VALUES (?, ?, ?, ?, ?, ?, ${pCols.map(() => '?').join(', ')})`),
    notice: db.prepare('INSERT OR REPLACE INTO notices (device_id, at_ms, track_id, negative_for_ms, message) VALUES (?, ?, ?, ?, ?)'),
    groupRows: db.prepare(`SELECT d.device_key, g.* FROM group_samples g JOIN devices d ON d.id = g.device_id
      WHERE d.session_id = ? ORDER BY g.at_ms, d.id`),
    trackRows: db.prepare(`SELECT d.device_key, t.* FROM track_samples t JOIN devices d ON d.id = t.device_id
      WHERE d.session_id = ? ORDER BY t.at_ms, d.id, t.track_id`),
    noticeRows: db.prepare(`SELECT d.device_key, n.* FROM notices n JOIN devices d ON d.id = n.device_id
      WHERE d.session_id = ? ORDER BY n.at_ms, d.id, n.track_id`),
  };

  type Row = { id: string; name: string; code: string; created_at: number; ended_at: number | null; settings: string; n_devices: number; n_samples: number };
  const info = (r: Row): SessionInfo => ({
    id: r.id, name: r.name, code: r.code, startedAt: iso(r.created_at)!, endedAt: iso(r.ended_at),
    settings: JSON.parse(r.settings) as Record<string, unknown>, devices: r.n_devices, samples: r.n_samples,
  });
  const mustGet = (id: string): SessionInfo => {
    const row = st.session.get(id) as Row | undefined;
    if (!row) throw new HttpProblem(404, 'E_NOT_FOUND', `no session ${id}`);
    return info(row);
  };

  const ingestTx = db.transaction((sessionId: string, batch: AggregateBatch): IngestResult => {
    let dev = st.device.get(sessionId, batch.device.key) as { id: number; label: string } | undefined;
    const label = batch.device.label ?? `device ${batch.device.key.slice(0, 6)}`;
    if (!dev) {
      const r = st.insertDevice.run(sessionId, batch.device.key, label, Date.now());
      dev = { id: Number(r.lastInsertRowid), label };
    } else if (batch.device.label && batch.device.label !== dev.label) {
      st.relabel.run(batch.device.label, dev.id);
    }
    let trackRows = 0;
    for (const s of batch.samples) {
      st.group.run(dev.id, s.at, s.faces, s.meanValence, JSON.stringify(s.shares));
      for (const t of s.tracks ?? []) {
        st.track.run(dev.id, s.at, t.trackId, t.label, t.valence, t.valenceScore, ...EXPRESSIONS.map((e) => t.probabilities[e]));
        trackRows++;
      }
    }
    for (const n of batch.notices ?? []) st.notice.run(dev.id, n.at, n.trackId, n.negativeForMs, n.message);
    return { deviceId: dev.id, groupRows: batch.samples.length, trackRows, notices: batch.notices?.length ?? 0 };
  });

  return {
    /** Creates a session with a fresh, unused join code. */
    create(name: string, settings: Record<string, unknown> = {}): SessionInfo {
      return guardStorage(() => {
        const id = randomUUID();
        for (let attempt = 0; ; attempt++) {
          try {
            st.insertSession.run(id, name, newJoinCode(), Date.now(), JSON.stringify(settings));
            return mustGet(id);
          } catch (err) {
            if (attempt < 5 && (err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') continue;
            throw err;
          }
        }
      });
    },
    get: (id: string): SessionInfo => guardStorage(() => mustGet(id)),
    /** The session with this join code (case and dashes ignored). @throws 404 */
    byCode(code: string): SessionInfo {
      return guardStorage(() => {
        const row = st.byCode.get(normaliseJoinCode(code)) as { id: string } | undefined;
        if (!row) throw new HttpProblem(404, 'E_NOT_FOUND', `no session with join code ${JSON.stringify(code)}`);
        return mustGet(row.id);
      });
    },
    list(limit: number, offset: number): { total: number; sessions: SessionInfo[] } {
      return guardStorage(() => ({
        total: (st.count.get() as { n: number }).n,
        sessions: (st.list.all(limit, offset) as Row[]).map(info),
      }));
    },
    end(id: string): SessionInfo {
      return guardStorage(() => {
        mustGet(id);
        st.end.run(Date.now(), id);
        return mustGet(id);
      });
    },
    /** Deletes the session with its devices and aggregates (foreign keys cascade). @returns false when there was none. */
    delete: (id: string): boolean => guardStorage(() => st.del.run(id).changes > 0),
    /**
     * Stores one batch of a device's aggregates (the device joins on its first batch) in one transaction.
     * @throws 404 for an unknown session, 409 `E_CONFLICT` for an ended one, 503 `E_STORAGE` when the disk refuses.
     */
    ingest(sessionId: string, batch: AggregateBatch): IngestResult {
      return guardStorage(() => {
        const s = st.state.get(sessionId) as { ended_at: number | null } | undefined;
        if (!s) throw new HttpProblem(404, 'E_NOT_FOUND', `no session ${sessionId}`);
        if (s.ended_at !== null) throw new HttpProblem(409, 'E_CONFLICT', `session ${sessionId} ended at ${iso(s.ended_at)}; start a new one`);
        return ingestTx(sessionId, batch);
      });
    },
    devices(sessionId: string): DeviceInfo[] {
      return guardStorage(() => (st.devices.all(sessionId) as { id: number; device_key: string; label: string; joined_at: number }[])
        .map((d) => ({ id: d.id, key: d.device_key, label: d.label, joinedAt: iso(d.joined_at)! })));
    },
    /** Everything stored for a session. @throws 404 */
    dump(sessionId: string): SessionDump {
      return guardStorage(() => {
        const session = mustGet(sessionId);
        type G = { device_key: string; at_ms: number; faces: number; mean_valence: number | null; shares: string };
        type T = { device_key: string; at_ms: number; track_id: number; label: string; valence: TrackAggregate['valence']; valence_score: number } & Record<string, number>;
        type N = { device_key: string; at_ms: number; track_id: number; negative_for_ms: number; message: string };
        return {
          format: 'ferkit-server-session/1',
          session,
          devices: (st.devices.all(sessionId) as { id: number; device_key: string; label: string; joined_at: number }[])
            .map((d) => ({ id: d.id, key: d.device_key, label: d.label, joinedAt: iso(d.joined_at)! })),
          group: (st.groupRows.all(sessionId) as G[]).map((g) => ({
            device: g.device_key, at: g.at_ms, faces: g.faces, meanValence: g.mean_valence, shares: JSON.parse(g.shares) as Record<string, number>,
          })),
          tracks: (st.trackRows.all(sessionId) as T[]).map((t) => ({
            device: t.device_key, at: t.at_ms, trackId: t.track_id, label: t.label, valence: t.valence, valenceScore: t.valence_score,
            probabilities: Object.fromEntries(EXPRESSIONS.map((e) => [e, t[`p_${e}`]!])) as Record<Expression, number>,
          })),
          notices: (st.noticeRows.all(sessionId) as N[]).map((n) => ({
            device: n.device_key, at: n.at_ms, trackId: n.track_id, negativeForMs: n.negative_for_ms, message: n.message,
          })),
          note: 'Per-second aggregates posted by the devices; no frame or face crop was sent. Labels are facial displays, not felt emotions; track IDs are not identities.',
        };
      });
    },
  };
}

/** Cells starting with these characters are read as formulas by spreadsheets (OWASP CSV injection). */
const FORMULA_START = /^[=+\-@\t\r]/;
const PLAIN_NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/**
 * Makes a text cell safe for spreadsheets: a string that starts with `=`, `+`, `-`, `@`, tab or CR (and is not a plain
 * number) gets a leading `'`, as OWASP's CSV-injection guidance says. Numbers are left as they are.
 */
export function csvSafe(v: string | number | null | undefined): string | number {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return v;
  return FORMULA_START.test(v) && !PLAIN_NUMBER.test(v) ? `'${v}` : v;
}

/** Columns of {@link sessionCsv}. */
export const SESSION_CSV_HEADER: readonly string[] = [
  'time', 'at_ms', 'device', 'device_label', 'kind', 'track_id', 'faces', 'label', 'valence', 'valence_score', ...EXPRESSIONS.map((e) => `p_${e}`),
];

/**
 * A session as CSV (RFC 4180, CRLF): one `group` row per device and second (faces, mean valence in `valence_score`,
 * label shares in the `p_*` columns) and one `track` row per track and second (label, valence, valence score,
 * smoothed probabilities), sorted by time. Text cells are {@link csvSafe}.
 */
export function sessionCsv(dump: SessionDump): string {
  const labels = new Map(dump.devices.map((d) => [d.key, d.label]));
  const rows: (string | number)[][] = [];
  for (const g of dump.group) {
    rows.push([new Date(g.at).toISOString(), g.at, g.device, labels.get(g.device) ?? '', 'group', '', g.faces, '', '',
      g.meanValence ?? '', ...EXPRESSIONS.map((e) => g.shares[e] ?? 0)]);
  }
  for (const t of dump.tracks) {
    rows.push([new Date(t.at).toISOString(), t.at, t.device, labels.get(t.device) ?? '', 'track', t.trackId, '', t.label, t.valence,
      t.valenceScore, ...EXPRESSIONS.map((e) => t.probabilities[e])]);
  }
  rows.sort((a, b) => (a[1] as number) - (b[1] as number) || String(a[2]).localeCompare(String(b[2])) || (a[4] === b[4] ? Number(a[5] || 0) - Number(b[5] || 0) : a[4] === 'group' ? -1 : 1));
  return stringify([[...SESSION_CSV_HEADER], ...rows.map((r) => r.map(csvSafe))], { record_delimiter: '\r\n' });
}
