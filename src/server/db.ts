/**
 * The server's SQLite database (better-sqlite3): WAL journal, foreign keys on, a `schema_migrations` table and
 * numbered migrations applied in order inside one transaction each. It holds monitoring sessions (per-second
 * aggregates only: never frames or face crops) and video jobs.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import { createRequire } from 'node:module';
import { FerkitError } from '../core/errors.js';
import { EXPRESSIONS } from '../core/labels.js';

/** A better-sqlite3 connection. */
export type Db = Database.Database;

/** One schema step. Versions are 1, 2, 3, … and never change once released. */
export interface Migration { version: number; name: string; sql: string }

const P_COLUMNS = EXPRESSIONS.map((e) => `p_${e} REAL NOT NULL`).join(', ');

/** Every migration, in order. */
export const MIGRATIONS: readonly Migration[] = Object.freeze([
  {
    version: 1,
    name: 'monitoring sessions',
    sql: `
      CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        code TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        ended_at INTEGER,
        settings TEXT NOT NULL DEFAULT '{}'
      );
      CREATE TABLE devices (
        id INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        device_key TEXT NOT NULL,
        label TEXT NOT NULL,
        joined_at INTEGER NOT NULL,
        UNIQUE (session_id, device_key)
      );
      CREATE TABLE group_samples (
        device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
        at_ms INTEGER NOT NULL,
        faces INTEGER NOT NULL,
        mean_valence REAL,
        shares TEXT NOT NULL,
        PRIMARY KEY (device_id, at_ms)
      ) WITHOUT ROWID;
      CREATE TABLE track_samples (
        device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
        at_ms INTEGER NOT NULL,
        track_id INTEGER NOT NULL,
        label TEXT NOT NULL,
        valence TEXT NOT NULL,
        valence_score REAL NOT NULL,
        ${P_COLUMNS},
        PRIMARY KEY (device_id, at_ms, track_id)
      ) WITHOUT ROWID;
      CREATE TABLE notices (
        id INTEGER PRIMARY KEY,
        device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
        at_ms INTEGER NOT NULL,
        track_id INTEGER NOT NULL,
        negative_for_ms INTEGER NOT NULL,
        message TEXT NOT NULL,
        UNIQUE (device_id, at_ms, track_id)
      );
      CREATE INDEX devices_session ON devices(session_id);
    `,
  },
  {
    version: 2,
    name: 'video jobs',
    sql: `
      CREATE TABLE video_jobs (
        id TEXT PRIMARY KEY,
        status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
        file_name TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        options TEXT NOT NULL DEFAULT '{}',
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        frames_done INTEGER NOT NULL DEFAULT 0,
        frames_expected INTEGER,
        error_code TEXT,
        error_message TEXT
      );
      CREATE INDEX video_jobs_status ON video_jobs(status, created_at);
    `,
  },
]);

/** The schema version a database is at (0: empty). */
export function schemaVersion(db: Db): number {
  const has = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
  if (!has) return 0;
  return (db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations').get() as { v: number }).v;
}

/**
 * Applies the migrations newer than the database's version, each in its own transaction, recording each in
 * `schema_migrations (version, name, applied_at)`.
 * @param upTo - stop after this version (tests use it to build an older database).
 * @returns the versions applied.
 * @throws Error when the database is newer than this program knows (a downgrade), naming both versions.
 */
export function migrate(db: Db, migrations: readonly Migration[] = MIGRATIONS, upTo = Infinity): number[] {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  const current = schemaVersion(db);
  const newest = migrations.at(-1)?.version ?? 0;
  if (current > newest) throw new Error(`database schema version ${current} is newer than this ferkit knows (${newest}); use a newer ferkit`);
  const applied: number[] = [];
  for (const m of migrations) {
    if (m.version <= current || m.version > upTo) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
    })();
    applied.push(m.version);
  }
  return applied;
}

/**
 * Loads better-sqlite3 lazily: it is an optional dependency (a native build), so a consumer whose npm could not build it
 * still has every command but the server's database.
 * @throws {FerkitError} `E_MODEL_LOAD` naming the package and the command that installs it.
 */
function loadBetterSqlite3(): typeof Database {
  try {
    return createRequire(import.meta.url)('better-sqlite3') as typeof Database;
  } catch (cause) {
    throw new FerkitError('E_MODEL_LOAD', `ferkit serve needs better-sqlite3 for its database, and it could not be loaded `
      + `(npm may have failed to build it): ${(cause as Error).message.split('\n')[0]}. Install it with: npm install better-sqlite3`, undefined, { cause });
  }
}

/**
 * Opens (creating when missing, with its folder) the database at `file` (`':memory:'` for a throw-away one), sets
 * WAL journaling, `synchronous = NORMAL` (a crash of the process loses nothing committed; a power cut may lose the
 * last transactions), foreign keys on, a 5 s busy timeout, and migrates it.
 * @throws Error from SQLite (unreadable file, not a database) or {@link migrate}.
 */
export function openDatabase(file: string, options: { readonly?: boolean } = {}): Db {
  if (file !== ':memory:' && !options.readonly) mkdirSync(dirname(file), { recursive: true });
  const db = new (loadBetterSqlite3())(file, { readonly: options.readonly ?? false });
  try {
    db.pragma('busy_timeout = 5000');
    if (!options.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
    }
    db.pragma('foreign_keys = ON');
    if (!options.readonly) migrate(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

/** Checkpoints the WAL into the main file (TRUNCATE) and closes the database. Safe to call on a closed one. */
export function closeDatabase(db: Db): void {
  if (!db.open) return;
  try {
    if (!db.readonly && db.name !== ':memory:') db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}
