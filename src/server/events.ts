/**
 * Server-Sent Events for live dashboards: a hub per server (no global state) that fans each session's new
 * aggregates out to the open event streams of that session.
 */
import type { ServerResponse } from 'node:http';

/** One open stream. */
interface Subscriber { res: ServerResponse; heartbeat: NodeJS.Timeout }

/** Options of {@link createEventHub}. */
export interface EventHubOptions {
  /** Comment line sent this often to keep proxies from closing an idle stream, ms. Default 15 000. */
  heartbeatMs?: number;
  /** Open streams allowed per session (a dashboard per teacher, not per student). Default 32. */
  maxPerSession?: number;
}

/** See the module comment. */
export interface EventHub {
  /**
   * Starts an event stream on `res` (headers written here; `headers` are added). Returns false, writing nothing,
   * when the session already has the maximum of streams.
   */
  subscribe(sessionId: string, res: ServerResponse, headers: Readonly<Record<string, string>>, first?: { event: string; data: unknown }): boolean;
  /** Sends an event to every stream of the session. */
  publish(sessionId: string, event: string, data: unknown): void;
  /** Open streams of a session. */
  count(sessionId: string): number;
  /** Ends every stream (before the server closes, so that close does not wait for them). */
  closeAll(): void;
}

/** Formats one SSE message. Data is one JSON line (JSON never holds a raw newline). */
export function sseMessage(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** See {@link EventHub}. */
export function createEventHub(options: EventHubOptions = {}): EventHub {
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const maxPerSession = options.maxPerSession ?? 32;
  const bySession = new Map<string, Set<Subscriber>>();
  const drop = (sessionId: string, sub: Subscriber): void => {
    clearInterval(sub.heartbeat);
    const set = bySession.get(sessionId);
    set?.delete(sub);
    if (set?.size === 0) bySession.delete(sessionId);
  };
  return {
    subscribe(sessionId, res, headers, first) {
      const set = bySession.get(sessionId) ?? new Set<Subscriber>();
      if (set.size >= maxPerSession) return false;
      bySession.set(sessionId, set);
      res.writeHead(200, {
        ...headers,
        'Content-Type': 'text/event-stream; charset=utf-8',
        'Cache-Control': 'no-store',
        'X-Accel-Buffering': 'no',
        Connection: 'keep-alive',
      });
      res.write('retry: 3000\n\n');
      if (first) res.write(sseMessage(first.event, first.data));
      const sub: Subscriber = { res, heartbeat: setInterval(() => res.write(': keep-alive\n\n'), heartbeatMs) };
      set.add(sub);
      res.on('close', () => drop(sessionId, sub));
      return true;
    },
    publish(sessionId, event, data) {
      const set = bySession.get(sessionId);
      if (!set) return;
      const msg = sseMessage(event, data);
      for (const sub of set) sub.res.write(msg);
    },
    count: (sessionId) => bySession.get(sessionId)?.size ?? 0,
    closeAll() {
      for (const [id, set] of bySession) {
        for (const sub of set) {
          sub.res.end();
          drop(id, sub);
        }
      }
    },
  };
}
