/**
 * The built browser app (`dist/web`) as static files: GET/HEAD only, `index.html` for folders, MIME types the app
 * needs (`.wasm`, `.mjs`), long caching for hashed bundle names, `no-cache` otherwise, strong validators (ETag and
 * Last-Modified: 304 on If-None-Match / If-Modified-Since), byte ranges (206), and no way out of the served folder:
 * `..` is refused lexically and symbolic links are resolved and must stay inside.
 * Pre-compressed siblings written by `npm run build:web` (`<file>.br`, `<file>.gz`) are sent instead of the file to
 * clients whose `Accept-Encoding` allows it, with `Content-Encoding`, `Vary: Accept-Encoding` and the original file's
 * MIME type; Range then applies to the compressed bytes (the representation sent).
 */
import { stat } from 'node:fs/promises';
import { extname, join, normalize, relative, sep } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { MIME } from './headers.js';
import { HttpProblem } from './problem.js';
import { realPathInside } from './security.js';

/** Options of {@link registerStaticFiles}. */
export interface StaticFilesOptions {
  /** `realpath` of the folder to serve. */
  realRoot: string;
  /** Path prefixes that belong to the API (a POST there is not answered with "the app is read-only"). */
  apiPrefixes: readonly string[];
}

/** Registers the static-file routes (`GET|HEAD /*`) and a 405 for other methods on app paths. */
export async function registerStaticFiles(app: FastifyInstance, options: StaticFilesOptions): Promise<void> {
  const { realRoot } = options;
  await app.register(fastifyStatic, {
    root: realRoot,
    serve: false,
    decorateReply: true,
    cacheControl: false,
    etag: true,
    lastModified: true,
    acceptRanges: true,
    preCompressed: true,
    dotfiles: 'deny',
  });

  app.route({
    method: ['GET', 'HEAD'],
    url: '/*',
    schema: { hide: true },
    // The MIME type of the file asked for, also when its .br/.gz sibling is sent (set last, over @fastify/static's).
    onSend: async (request, reply, payload) => {
      const type = (request as { ferkitType?: string }).ferkitType;
      if (type && reply.statusCode < 300) reply.header('content-type', type);
      return payload;
    },
    handler: async (request, reply) => {
      let pathname: string;
      try {
        pathname = decodeURIComponent(new URL(request.url, 'http://x').pathname);
      } catch {
        throw new HttpProblem(400, 'E_BAD_REQUEST', 'bad request: the path is not valid percent-encoding');
      }
      if (pathname.includes('\0')) throw new HttpProblem(400, 'E_BAD_REQUEST', 'bad request: NUL in the path');
      if (options.apiPrefixes.some((p) => pathname.startsWith(p))) throw new HttpProblem(404, 'E_NOT_FOUND', `not found: ${request.method} ${pathname}`);
      if (pathname.endsWith('/')) pathname += 'index.html';
      const file = normalize(join(realRoot, pathname));
      if (file !== realRoot && !file.startsWith(realRoot + sep)) throw new HttpProblem(403, 'E_FORBIDDEN', 'forbidden: the path leads outside the served folder');
      const real = await realPathInside(file, realRoot, pathname);
      const st = await stat(real).catch(() => null);
      if (!st?.isFile()) throw new HttpProblem(404, 'E_NOT_FOUND', `not found: ${pathname}`);
      // Hashed bundle names never change; everything else (html, models, manifest) is revalidated.
      const immutable = /\/assets\/[^/]+-[A-Za-z0-9_-]{8,}\.[a-z]+$/.test(pathname);
      reply.header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
      (request as { ferkitType?: string }).ferkitType = MIME[extname(real).toLowerCase()] ?? 'application/octet-stream';
      return reply.sendFile(relative(realRoot, real), realRoot);
    },
  });

  app.route({
    method: ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    url: '/*',
    schema: { hide: true },
    handler: async (request, reply) => {
      const path = request.url.split('?')[0] ?? '/';
      if (options.apiPrefixes.some((p) => path.startsWith(p))) throw new HttpProblem(404, 'E_NOT_FOUND', `not found: ${request.method} ${path}`);
      reply.header('allow', 'GET, HEAD');
      throw new HttpProblem(405, 'E_METHOD', `method ${request.method} not allowed: the app's files are read-only (GET, HEAD); the API is under /v1/`, { Allow: 'GET, HEAD' });
    },
  });
}
