/**
 * The "Share with a class dashboard" box of the monitoring tab: off by default; when the user turns it on (with a
 * join code from the teacher's dashboard), per-second aggregates of the running session are posted to the server
 * the page came from every 2 s. See `server-share.ts` for what is sent (aggregates only).
 */
import type { LiveFrame } from 'ferkit/web';
import { SecondAggregator, ShareClient, isLoopbackOrigin, newDeviceKey, shareNotice, type ShareNotice } from './server-share.js';
import type { SessionNotice } from './session.js';
import { byId } from './ui.js';

const KEY_STORAGE = 'ferkit.deviceKey';

function deviceKey(): string {
  try {
    const k = localStorage.getItem(KEY_STORAGE);
    if (k && /^[A-Za-z0-9_-]{6,64}$/.test(k)) return k;
    const fresh = newDeviceKey();
    localStorage.setItem(KEY_STORAGE, fresh);
    return fresh;
  } catch {
    return newDeviceKey();
  }
}

/** Wires the share box (elements `#share-*` of index.html). */
export class ShareView {
  private client: ShareClient | null = null;
  private aggregator = new SecondAggregator();
  private notices: ShareNotice[] = [];
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly on = byId<HTMLInputElement>('share-on');
  private readonly code = byId<HTMLInputElement>('share-code');
  private readonly label = byId<HTMLInputElement>('share-label');
  private readonly token = byId<HTMLInputElement>('share-token');
  private readonly statusEl = byId('share-status');
  private readonly summary = byId('share-summary');

  constructor() {
    byId('share-origin').textContent = location.origin;
    if (!isLoopbackOrigin(location.hostname)) {
      byId('share-remote').hidden = false;
    }
    this.on.checked = false; // never on by itself, also after a reload
    this.on.addEventListener('change', () => void (this.on.checked ? this.start() : this.stop('not sharing')));
  }

  /** True while aggregates are being shared. */
  get sharing(): boolean {
    return this.client !== null;
  }

  private show(text: string, bad = false): void {
    this.statusEl.textContent = text;
    this.statusEl.classList.toggle('error', bad);
    this.summary.textContent = this.client ? `Share with a class dashboard (on: ${this.client.sessionName ?? ''})` : 'Share with a class dashboard (off)';
  }

  private async start(): Promise<void> {
    const client = new ShareClient({
      fetch: (url, init) => fetch(url, init),
      origin: location.origin,
      deviceKey: deviceKey(),
      ...(this.label.value.trim() ? { deviceLabel: this.label.value.trim().slice(0, 80) } : {}),
      ...(this.token.value ? { token: this.token.value } : {}),
    });
    this.show('joining…');
    try {
      const s = await client.join(this.code.value);
      if (!this.on.checked) return;
      this.client = client;
      this.aggregator = new SecondAggregator();
      this.notices = [];
      this.timer = setInterval(() => void this.tick(), 2000);
      this.show(`sharing aggregates with “${s.name}” while the session records`);
    } catch (err) {
      this.on.checked = false;
      this.show((err as Error).message, true);
    }
  }

  private stop(text: string): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const c = this.client;
    this.client = null;
    if (c) {
      c.queue(this.aggregator.flushAll(), this.notices.splice(0));
      void c.send();
    }
    this.on.checked = false;
    this.show(text);
  }

  private async tick(): Promise<void> {
    const c = this.client;
    if (!c) return;
    c.queue(this.aggregator.take(), this.notices.splice(0));
    const st = await c.send();
    if (st.state === 'stopped') this.stop(st.error);
    else if (st.state === 'retrying') this.show(`server unreachable (${st.error}); ${st.buffered} s kept, retrying`, true);
    else if (st.state === 'sent') this.show(`sharing with “${c.sessionName ?? ''}”: last sent ${new Date(st.at).toLocaleTimeString()}`);
  }

  /** Feeds a frame of the running session and the notices it raised. */
  add(frame: LiveFrame, raised: readonly SessionNotice[]): void {
    if (!this.client) return;
    this.aggregator.add(frame, Date.now());
    for (const n of raised) this.notices.push(shareNotice(n));
  }

  /** The session stopped: send what is left (sharing stays on for the next session). */
  sessionStopped(): void {
    const c = this.client;
    if (!c) return;
    c.queue(this.aggregator.flushAll(), this.notices.splice(0));
    void c.send();
  }
}
