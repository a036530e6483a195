/**
 * Opt-in sharing of a monitoring session's per-second aggregates with the ferkit server the page came from
 * (`ferkit serve`, `POST /v1/sessions/:id/aggregates`), so that a dashboard can follow several devices live.
 * Only aggregates leave the tab: per second, how many faces were in view, the share of each displayed label, the
 * mean valence, and per track its displayed label, valence and smoothed probabilities. Never a frame, photo or crop.
 * Pure (no DOM), so it is unit-tested in Node; `fetch` is passed in.
 */
import { EXPRESSIONS, type Expression, type ExpressionProbabilities, type Valence } from '../../src/core/labels.js';
import type { LiveFrame } from '../../src/web/live.js';
import { shownLabel } from './labels.js';
import type { SessionNotice } from './session.js';

/** One track's state in one second (the server's TrackAggregate). */
export interface ShareTrack { trackId: number; label: Expression; valence: Valence; valenceScore: number; probabilities: ExpressionProbabilities }
/** One second of this device (the server's SecondAggregate). */
export interface ShareSecond { at: number; faces: number; shares: Partial<Record<Expression, number>>; meanValence: number | null; tracks: ShareTrack[] }
/** A negative-streak notice as the server stores it. */
export interface ShareNotice { at: number; trackId: number; negativeForMs: number; message: string }

interface Bucket { at: number; frames: number; faceSum: number; labelCounts: Map<Expression, number>; valenceSum: number; valenceN: number; tracks: Map<number, ShareTrack> }

/**
 * Turns live frames into one {@link ShareSecond} per wall-clock second. A second is complete once a frame of a later
 * second arrives (or on {@link SecondAggregator.flushAll}).
 */
export class SecondAggregator {
  private bucket: Bucket | null = null;
  private readonly done: ShareSecond[] = [];

  /**
   * Adds a frame seen at wall-clock time `wallMs` (epoch ms).
   */
  add(frame: LiveFrame, wallMs: number): void {
    const at = Math.floor(wallMs / 1000) * 1000;
    if (this.bucket && this.bucket.at !== at) this.close();
    const b = this.bucket ??= { at, frames: 0, faceSum: 0, labelCounts: new Map(), valenceSum: 0, valenceN: 0, tracks: new Map() };
    b.frames++;
    b.faceSum += frame.faces.length;
    for (const face of frame.faces) {
      const shown = shownLabel(face);
      b.labelCounts.set(shown.label, (b.labelCounts.get(shown.label) ?? 0) + 1);
      b.valenceSum += face.smoothed.valenceScore;
      b.valenceN++;
      b.tracks.set(face.trackId, {
        trackId: face.trackId, label: shown.label, valence: face.smoothed.valence, valenceScore: face.smoothed.valenceScore,
        probabilities: { ...face.smoothed.probabilities },
      });
    }
  }

  /** Completed seconds since the last call (oldest first). */
  take(): ShareSecond[] {
    return this.done.splice(0);
  }

  /** Completes the current second too, and returns everything not taken yet. */
  flushAll(): ShareSecond[] {
    this.close();
    return this.take();
  }

  private close(): void {
    const b = this.bucket;
    if (!b) return;
    this.bucket = null;
    const observations = [...b.labelCounts.values()].reduce((x, y) => x + y, 0);
    const shares: Partial<Record<Expression, number>> = {};
    for (const e of EXPRESSIONS) {
      const n = b.labelCounts.get(e);
      if (n) shares[e] = n / observations;
    }
    this.done.push({
      at: b.at, faces: Math.round(b.faceSum / b.frames), shares,
      meanValence: b.valenceN ? b.valenceSum / b.valenceN : null,
      tracks: [...b.tracks.values()].sort((x, y) => x.trackId - y.trackId),
    });
  }
}

/** A session notice in the server's shape. */
export function shareNotice(n: SessionNotice): ShareNotice {
  return { at: Date.parse(n.at), trackId: n.trackId, negativeForMs: Math.round(n.negativeForMs), message: n.message };
}

/** The part of `fetch` the client uses. */
export type FetchLike = (url: string, init?: { method?: string; headers?: Record<string, string>; body?: string }) => Promise<{ ok: boolean; status: number; json(): Promise<unknown> }>;

/** Options of {@link ShareClient}. */
export interface ShareClientOptions {
  fetch: FetchLike;
  /** Origin of the server (`location.origin`). */
  origin: string;
  /** This device's stable random key (6–64 of A–Z a–z 0–9 _ -). */
  deviceKey: string;
  /** A name the dashboard shows, e.g. "Room camera". */
  deviceLabel?: string;
  /** Bearer token when the server has one. */
  token?: string;
  /** Most unsent seconds kept while the server is unreachable (oldest dropped first). Default 600. */
  maxBuffered?: number;
}

/** What happened to the last send. */
export type ShareStatus =
  | { state: 'idle' }
  | { state: 'sent'; seconds: number; at: number }
  | { state: 'retrying'; buffered: number; error: string }
  | { state: 'stopped'; error: string };

/**
 * Joins a server session by its code and posts aggregates in batches, keeping unsent seconds (bounded) and sending
 * them again after a failure (re-sent seconds replace the server's rows, so nothing is counted twice).
 */
export class ShareClient {
  sessionId: string | null = null;
  sessionName: string | null = null;
  status: ShareStatus = { state: 'idle' };
  private pending: ShareSecond[] = [];
  private notices: ShareNotice[] = [];
  private sending = false;

  constructor(private readonly o: ShareClientOptions) {}

  private headers(json: boolean): Record<string, string> {
    return { ...(json ? { 'content-type': 'application/json' } : {}), ...(this.o.token ? { authorization: `Bearer ${this.o.token}` } : {}) };
  }

  /**
   * Finds the session of a join code.
   * @throws Error with a message for the page: unknown code, token needed, server unreachable.
   */
  async join(code: string): Promise<{ id: string; name: string }> {
    const clean = code.toUpperCase().replace(/[\s-]/g, '');
    if (!/^[A-Z0-9]{4,12}$/.test(clean)) throw new Error('a join code is 6 letters and digits, e.g. K7QW2M');
    const res = await this.o.fetch(`${this.o.origin}/v1/join/${clean}`, { headers: this.headers(false) });
    if (res.status === 404) throw new Error(`no session with the code ${clean}`);
    if (res.status === 401) throw new Error('this server needs a token: enter it below');
    if (!res.ok) throw new Error(`the server answered ${res.status}`);
    const s = (await res.json()) as { id: string; name: string };
    this.sessionId = s.id;
    this.sessionName = s.name;
    return s;
  }

  /** Queues seconds and notices for the next {@link send}. */
  queue(seconds: readonly ShareSecond[], notices: readonly ShareNotice[] = []): void {
    this.pending.push(...seconds);
    this.notices.push(...notices);
    const max = this.o.maxBuffered ?? 600;
    if (this.pending.length > max) this.pending.splice(0, this.pending.length - max);
    if (this.notices.length > 200) this.notices.splice(0, this.notices.length - 200);
  }

  /** Unsent seconds. */
  get buffered(): number {
    return this.pending.length;
  }

  /**
   * Posts everything queued (at most 300 seconds per request). Keeps it queued when the post fails; stops for good
   * (status `stopped`) when the session has ended or is gone.
   */
  async send(): Promise<ShareStatus> {
    if (this.sending || !this.sessionId || this.status.state === 'stopped') return this.status;
    if (this.pending.length === 0 && this.notices.length === 0) return this.status;
    this.sending = true;
    const samples = this.pending.slice(0, 300);
    const notices = this.notices.slice(0, 200);
    try {
      const res = await this.o.fetch(`${this.o.origin}/v1/sessions/${this.sessionId}/aggregates`, {
        method: 'POST', headers: this.headers(true),
        body: JSON.stringify({ device: { key: this.o.deviceKey, ...(this.o.deviceLabel ? { label: this.o.deviceLabel } : {}) }, samples, notices }),
      });
      if (res.status === 202) {
        this.pending.splice(0, samples.length);
        this.notices.splice(0, notices.length);
        this.status = { state: 'sent', seconds: samples.length, at: Date.now() };
      } else if (res.status === 404 || res.status === 409) {
        this.status = { state: 'stopped', error: res.status === 404 ? 'the session was deleted on the server' : 'the session has ended on the server' };
      } else {
        this.status = { state: 'retrying', buffered: this.pending.length, error: `the server answered ${res.status}` };
      }
    } catch (err) {
      this.status = { state: 'retrying', buffered: this.pending.length, error: (err as Error).message };
    } finally {
      this.sending = false;
    }
    return this.status;
  }
}

/** A random device key (URL-safe, 16 characters) from `getRandomValues`. */
export function newDeviceKey(random: (a: Uint8Array<ArrayBuffer>) => Uint8Array = (a) => crypto.getRandomValues(a)): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  return [...random(new Uint8Array(16))].map((b) => alphabet[b & 63]).join('');
}

/** Whether the page was loaded from this machine (loopback), where sharing stays with the local server. */
export function isLoopbackOrigin(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || hostname === '::1' || /^127(\.\d{1,3}){3}$/.test(hostname);
}
