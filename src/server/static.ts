/**
 * The browser app server of earlier versions, kept as a thin wrapper: {@link startStaticServer} starts the Fastify
 * server of `./app.ts` with the API turned off (GET/HEAD of the app's files only), with the same headers.
 */
import type { Server } from 'node:http';
import { startServer } from './app.js';

export { APP_HEADERS, isLoopbackHost } from './headers.js';

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

/**
 * Starts serving `root` (the app only: no API, no database).
 * @throws {FerkitError} `E_INPUT_READ` when `root` has no `index.html` (the app is not built: `npm run build:web`);
 *   `E_OPTION` for a non-loopback host (use `startServer` with a token); the listen error (e.g. `EADDRINUSE`) as is.
 */
export async function startStaticServer(options: StaticServerOptions): Promise<StaticServer> {
  return startServer({
    root: options.root, host: options.host, port: options.port, api: false, rateLimitPerMinute: 0,
    ...(options.onError ? { onErrorLine: options.onError } : {}),
  });
}
