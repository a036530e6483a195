/**
 * A small static file server for the built browser app (`dist/web`), with the headers the app needs:
 * cross-origin isolation (COOP/COEP, for multi-threaded WebAssembly) and a content security policy that lets the
 * page talk to its own origin only. It serves GET and HEAD and nothing else: no frame or photo can be sent to it.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { FerkitError } from '../core/errors.js';

/** Headers sent with every response. */
export const APP_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  // Cross-origin isolation: SharedArrayBuffer, hence WASM threads.
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  // The page may load and connect to its own origin only ('wasm-unsafe-eval' compiles the ONNX Runtime WASM).
  'Content-Security-Policy': [
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "worker-src 'self' blob:",
    "connect-src 'self'",
    "img-src 'self' blob: data:",
    "media-src 'self' blob: mediastream:",
    "style-src 'self' 'unsafe-inline'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; '),
  'Permissions-Policy': 'camera=(self), microphone=()',
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
});

const MIME: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

/** Options of {@link startStaticServer}. */
export interface StaticServerOptions {
  /** Folder to serve (the app build, with `index.html`). */
  root: string;
  /** Address to listen on. Default `127.0.0.1` (this machine only). */
  host?: string;
  /** TCP port; 0 picks a free one. Default 8080. */
  port?: number;
  /** Called with one line per failed request (4xx/5xx), for logs. */
  onError?: (line: string) => void;
}

/** A running server. */
export interface StaticServer {
  /** `http://host:port/` */
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

/** True for loopback host names and addresses (where browsers allow the camera over plain http). */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { ...APP_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(body);
}

/**
 * Starts serving `root`.
 * @throws {FerkitError} `E_INPUT_READ` when `root` has no `index.html` (the app is not built: `npm run build:web`);
 *   the listen error (e.g. `EADDRINUSE`) as is.
 */
export async function startStaticServer(options: StaticServerOptions): Promise<StaticServer> {
  const root = resolve(options.root);
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 8080;
  try {
    if (!(await stat(join(root, 'index.html'))).isFile()) throw new Error('not a file');
  } catch (cause) {
    throw new FerkitError('E_INPUT_READ', `no index.html in ${root}: build the web app first (npm run build:web)`, undefined, { cause });
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      send(res, 405, 'method not allowed: this server only serves the app\n');
      return;
    }
    let pathname: string;
    try {
      pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      send(res, 400, 'bad request\n');
      return;
    }
    if (pathname.includes('\0')) {
      send(res, 400, 'bad request\n');
      return;
    }
    if (pathname.endsWith('/')) pathname += 'index.html';
    const file = normalize(join(root, pathname));
    if (file !== root && !file.startsWith(root + sep)) {
      send(res, 403, 'forbidden\n');
      return;
    }
    let size: number;
    let modified: string;
    try {
      const st = await stat(file);
      if (!st.isFile()) throw new Error('not a file');
      size = st.size;
      modified = new Date(Math.floor(st.mtimeMs / 1000) * 1000).toUTCString();
    } catch {
      send(res, 404, `not found: ${pathname}\n`);
      return;
    }
    const type = MIME[extname(file).toLowerCase()] ?? 'application/octet-stream';
    // Hashed bundle names never change; everything else (html, models, manifest) is revalidated.
    const immutable = /\/assets\/[^/]+-[A-Za-z0-9_-]{8,}\.[a-z]+$/.test(pathname);
    const headers = {
      ...APP_HEADERS,
      'Content-Type': type,
      'Cache-Control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      'Last-Modified': modified,
    };
    if (req.headers['if-modified-since'] === modified) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Length': String(size) });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const stream = createReadStream(file);
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  };

  const server = createServer((req, res) => {
    handle(req, res)
      .then(() => {
        if (res.statusCode >= 400) options.onError?.(`${req.method} ${req.url} -> ${res.statusCode}`);
      })
      .catch((err: Error) => {
        options.onError?.(`${req.method} ${req.url} -> 500 ${err.message}`);
        if (!res.headersSent) send(res, 500, 'internal error\n');
        else res.destroy();
      });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      ok();
    });
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${shownHost}:${addr.port}/`,
    port: addr.port,
    server,
    close: () => new Promise<void>((ok) => {
      server.close(() => ok());
      server.closeAllConnections();
    }),
  };
}
