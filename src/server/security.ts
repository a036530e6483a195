/**
 * Access control and resource caps of the server: bearer-token check (constant time), Host-header allow-list against
 * DNS rebinding, caps on open connections (in all and per client address) answered with a raw 503, and the
 * realpath check that keeps static files inside the served folder.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { realpath } from 'node:fs/promises';
import type { Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { sep } from 'node:path';
import { hostNameOf, isLoopbackHost } from './headers.js';
import { HttpProblem, problem } from './problem.js';

/**
 * True when `authorization` is `Bearer <token>` with exactly `token`. Both sides are hashed (SHA-256) and compared
 * with `timingSafeEqual`, so the time taken does not depend on how much of the token matched, nor on its length.
 */
export function bearerMatches(authorization: string | undefined, token: string): boolean {
  if (!authorization) return false;
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
  const given = createHash('sha256').update(m?.[1] ?? '').digest();
  const want = createHash('sha256').update(token).digest();
  return timingSafeEqual(given, want) && m !== null;
}

/**
 * True when `authorization` is `Basic base64(user:password)` with `password` exactly `token` (any user name): what a
 * browser sends after its own login prompt, so that the docs page can be opened in a browser on a server with a token.
 * Compared like {@link bearerMatches}.
 */
export function basicMatches(authorization: string | undefined, token: string): boolean {
  if (!authorization) return false;
  const m = /^Basic[ ]+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
  const decoded = m ? Buffer.from(m[1]!, 'base64').toString('utf8') : '';
  const colon = decoded.indexOf(':');
  const given = createHash('sha256').update(colon >= 0 ? decoded.slice(colon + 1) : '').digest();
  const want = createHash('sha256').update(token).digest();
  return timingSafeEqual(given, want) && colon >= 0;
}

/**
 * The host names a server bound to `bindHost` answers to, or `null` for "any" (a server bound to a non-loopback
 * address without an explicit list: the token protects it). Loopback servers answer to `localhost`, `127.0.0.1`,
 * `[::1]` and the bound name, plus `extra`, so that a page on another site cannot reach them through a DNS name that
 * was re-pointed at 127.0.0.1 (DNS rebinding).
 */
export function allowedHostNames(bindHost: string, extra: readonly string[] = []): ReadonlySet<string> | null {
  if (!isLoopbackHost(bindHost) && extra.length === 0) return null;
  const names = new Set(extra.map((h) => hostNameOf(h.includes(':') && !h.startsWith('[') && h.split(':').length > 2 ? `[${h}]` : h)));
  if (isLoopbackHost(bindHost)) {
    for (const h of ['localhost', '127.0.0.1', '[::1]']) names.add(h);
    names.add(bindHost === '::1' ? '[::1]' : bindHost.toLowerCase());
  }
  return names;
}

/** Throws 403 `E_HOST` unless the Host header names an allowed host (`allowed === null`: any host). */
export function checkHost(hostHeader: string | undefined, allowed: ReadonlySet<string> | null): void {
  if (allowed === null) return;
  const name = hostNameOf(hostHeader);
  if (!allowed.has(name)) {
    throw new HttpProblem(403, 'E_HOST', `host ${JSON.stringify(hostHeader ?? '')} is not allowed; this server answers to ${[...allowed].join(', ')} `
      + '(add a name with --allow-host)');
  }
}

/** Limits of {@link capConnections}. */
export interface ConnectionCaps {
  /** Open connections in all. */
  max: number;
  /** Open connections from one client address. */
  perClient: number;
  /** Seconds for the Retry-After header of the refusal. */
  retryAfterS?: number;
  /** Called for each refused connection. */
  onReject?: (remoteAddress: string, reason: string) => void;
}

/** Live counts of {@link capConnections}. */
export interface ConnectionStats { readonly open: number; readonly refused: number; byClient(address: string): number }

/**
 * Caps the open connections of `server`. A connection over a cap is answered at once with a complete
 * `503 Service Unavailable` problem (`E_BUSY`, `Retry-After`, `Connection: close`) written on the raw socket, then
 * closed; it never reaches the HTTP parser, so idle sockets cannot starve the server of file descriptors beyond the
 * cap. Must be called before the server listens.
 */
export function capConnections(server: Server, caps: ConnectionCaps): ConnectionStats {
  const perClient = new Map<string, number>();
  let open = 0;
  let refused = 0;
  const original = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  server.on('connection', (socket: Socket) => {
    const addr = socket.remoteAddress ?? '?';
    const mine = perClient.get(addr) ?? 0;
    const reason = open >= caps.max ? `too many open connections (limit ${caps.max})`
      : mine >= caps.perClient ? `too many open connections from ${addr} (limit ${caps.perClient} per client)` : null;
    if (reason) {
      refused++;
      caps.onReject?.(addr, reason);
      rejectSocket(socket, reason, caps.retryAfterS ?? 5);
      return;
    }
    open++;
    perClient.set(addr, mine + 1);
    socket.once('close', () => {
      open--;
      const n = (perClient.get(addr) ?? 1) - 1;
      if (n <= 0) perClient.delete(addr);
      else perClient.set(addr, n);
    });
    for (const listener of original) listener.call(server, socket);
  });
  return { get open() { return open; }, get refused() { return refused; }, byClient: (a) => perClient.get(a) ?? 0 };
}

/**
 * Lingering close, as Apache and nginx do it: when the answer to a request whose body was not read to its end (a refused
 * upload) has been written, the server stops writing (FIN) but goes on reading and dropping what the client still
 * sends, for at most `ms` or `maxBytes`, and only then closes. A client busy uploading thus reads the answer (a 413)
 * instead of a connection reset (EPIPE/ECONNRESET), and the server reads at most `maxBytes` more of an unwanted upload.
 * Hooks the socket's `destroySoon`, which Node's HTTP server calls after an answer with `Connection: close`.
 */
export function lingerOnClose(socket: Socket | null | undefined, ms = 2000, maxBytes = 16 * 1024 * 1024): void {
  const s = socket as (Socket & { destroySoon?: () => void; ferkitLinger?: boolean }) | null | undefined;
  if (!s || s.ferkitLinger || typeof s.destroySoon !== 'function') return; // no socket: it was closed already
  s.ferkitLinger = true;
  s.destroySoon = function lingeringClose(this: Socket) {
    if (this.writable) this.end();
    let seen = 0;
    const stop = (): void => { this.destroy(); };
    const timer = setTimeout(stop, ms);
    timer.unref();
    this.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > maxBytes) stop();
    });
    this.once('close', () => clearTimeout(timer));
    this.resume();
  };
}

function rejectSocket(socket: Socket, reason: string, retryAfterS: number): void {
  const body = JSON.stringify(problem(503, 'E_BUSY', `${reason}; retry later`));
  socket.on('error', () => undefined);
  // Read and drop whatever the client sends, so that closing does not reset the connection before it reads the answer.
  socket.on('data', () => undefined);
  socket.end([
    'HTTP/1.1 503 Service Unavailable',
    'Content-Type: application/problem+json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    `Retry-After: ${retryAfterS}`,
    'Connection: close',
    '', body,
  ].join('\r\n'));
  socket.setTimeout(2000, () => socket.destroy());
}

/**
 * Resolves `file` (already known to lie lexically inside `root`) with `realpath` and checks that the real file is
 * inside the real `root`, so a symbolic link in the served folder cannot hand out a file elsewhere (`/etc/passwd`).
 * @param realRoot - `realpath(root)`.
 * @returns the real path.
 * @throws {HttpProblem} 404 when the file does not exist, 403 `E_FORBIDDEN` when it resolves outside the root.
 */
export async function realPathInside(file: string, realRoot: string, shown: string): Promise<string> {
  let real: string;
  try {
    real = await realpath(file);
  } catch {
    throw new HttpProblem(404, 'E_NOT_FOUND', `not found: ${shown}`);
  }
  if (real !== realRoot && !real.startsWith(realRoot.endsWith(sep) ? realRoot : realRoot + sep)) {
    throw new HttpProblem(403, 'E_FORBIDDEN', `forbidden: ${shown} is a link that leads outside the served folder`);
  }
  return real;
}

/** Sets `headers` on a raw response that has not started (used where Fastify's reply is not at hand). */
export function setRawHeaders(res: ServerResponse, headers: Readonly<Record<string, string>>): void {
  if (res.headersSent) return;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
}
