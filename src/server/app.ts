/**
 * `ferkit serve`'s server: Fastify with the app's security headers, problem+json errors, OpenAPI 3.1 at
 * `/openapi.json` and a docs page at `/docs` (Swagger UI served from this machine), the `/v1` API (analysis,
 * monitoring sessions in SQLite, video jobs), the live dashboard and the built browser app as static files.
 *
 * Hardening: a Host-header allow-list for loopback binding (DNS rebinding), a bearer token required for non-loopback
 * binding, caps on open connections (in all and per client) answered with 503, header/request/idle timeouts
 * (slow clients are cut off), per-client rate limits, request bodies only in the content types and sizes each route
 * takes, no request decompression, and static files that cannot leave the served folder (symbolic links included).
 */
import { realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import fastifyMultipart from '@fastify/multipart';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { FerkitError } from '../core/errors.js';
import type { BundledClassifierId } from '../core/classifier/expression.js';
import { DEFAULT_MAX_PIXELS } from '../node/decode.js';
import { analysisWorkerFile, compiledWorkerFile, createAnalysisPool, type AnalysisPool } from './analysis-pool.js';
import { closeDatabase, openDatabase, type Db } from './db.js';
import { createEventHub, type EventHub } from './events.js';
import { APP_HEADERS, isLoopbackHost } from './headers.js';
import { createInference, type Inference, type ServerAnalyzerFactory } from './inference.js';
import { HttpProblem, PROBLEM_SCHEMA, formatBytes, problem, registerProblemHandlers, sendProblem } from './problem.js';
import { registerAnalyzeRoutes } from './routes-analyze.js';
import { registerDashboardRoutes } from './routes-dashboard.js';
import { registerSessionRoutes } from './routes-sessions.js';
import { registerVideoRoutes } from './routes-videos.js';
import { allowedHostNames, basicMatches, bearerMatches, capConnections, checkHost, lingerOnClose, type ConnectionStats } from './security.js';
import { createSessionStore } from './sessions-store.js';
import { registerStaticFiles } from './static-files.js';
import { createVideoJobs, threadVideoRunner, type VideoJobRunner, type VideoJobs } from './video-jobs.js';

/** Options of {@link startServer}. Every limit has a default; see docs/server.md. */
export interface ServerOptions {
  /** The built browser app to serve (with `index.html`); `null`: no app files (API only). */
  root: string | null;
  /** Address to listen on. Default `127.0.0.1`. Anything but loopback needs `token`. */
  host?: string;
  /** TCP port; 0 picks a free one. Default 8080. */
  port?: number;
  /** Bearer token for `/v1`, `/openapi.json` and `/docs`; required when `host` is not loopback. */
  token?: string;
  /** Extra host names the Host header may carry (a loopback server answers to localhost, 127.0.0.1 and [::1] only). */
  allowedHosts?: readonly string[];
  /** Whether the `/v1` API, OpenAPI and dashboard are served. Default true; false serves the app only. */
  api?: boolean;
  /** SQLite file of sessions and video jobs. Default `':memory:'` (nothing kept after exit). */
  db?: string;
  /** Folder for uploaded videos and their results. Default `<db>.data/` beside the database (a temp folder for `:memory:`). */
  dataDir?: string;
  /** Largest image upload, bytes. Default 20 MiB. */
  maxUploadBytes?: number;
  /** Largest video upload, bytes. Default 1 GiB. */
  maxVideoBytes?: number;
  /** Files per multipart analysis request. Default 16. */
  maxFiles?: number;
  /** Largest image, pixels (checked from the header before decoding). Default 100 MP, as the CLI. */
  maxPixels?: number;
  /** Analyses that run at once. Default: the number of CPU cores (`os.availableParallelism()`). */
  workers?: number;
  /**
   * Run analyses in a pool of `workers` worker threads, and each video job in a thread of its own (default true when
   * the compiled worker scripts are found, see `compiledWorkerFile`; ignored with `createAnalyzer` / `videoRunner`).
   * false: on the main thread.
   */
  analysisThreads?: boolean;
  /** Classifier of `/v1/analyze` when the request names none: one of `BUNDLED_CLASSIFIER_IDS` (default `ferkit-resnet-s-int8-ensemble`). */
  defaultModel?: BundledClassifierId;
  /** ONNX Runtime threads per analysis. Default 1 (parallelism comes from `workers`; more threads per run oversubscribe the cores). */
  threadsPerAnalysis?: number;
  /** Analyses that may wait; beyond, 503 + Retry-After. Default 16 × workers. */
  queueLimit?: number;
  /** Video jobs that run at once (each runs one ffmpeg decoder). Default 1. */
  videoWorkers?: number;
  /** Longest analysis of one image, ms; past it the answer is 503 `E_TIMEOUT`. Default 30 000. */
  analyzeTimeoutMs?: number;
  /**
   * With analysis threads: an analysis still running this long after it started, ms, has its thread stopped and
   * replaced (a runaway decode cannot hold an inference slot for ever). Default `analyzeTimeoutMs` + 10 000.
   */
  stopAnalysisAfterMs?: number;
  /** Open connections in all / per client address. Defaults 512 / 128. */
  maxConnections?: number;
  maxConnectionsPerClient?: number;
  /** Time to receive the request headers / the whole request / idle socket, ms. Defaults 10 000 / 120 000 / 60 000. */
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  idleTimeoutMs?: number;
  /** How often Node checks the header and request timeouts, ms. Default 1 000. */
  timeoutCheckMs?: number;
  /** Requests per minute per client address; 0 turns the limit off. Default 1 200. */
  rateLimitPerMinute?: number;
  /** Logger: Fastify's pino logger options, or false. Default false. Request logs carry method, URL, status and time, never bodies. */
  logger?: FastifyServerOptions['logger'];
  /** Load the default models at start (so /readyz turns ready). Default true. */
  warmUp?: boolean;
  /** Analyzer factory (tests pass fakes). Default: `createAnalyzer` of `ferkit/node`. */
  createAnalyzer?: ServerAnalyzerFactory;
  /** Video job runner (tests pass fakes). Default: `analyzeVideoFile` of `ferkit/node`. */
  videoRunner?: VideoJobRunner;
  /** Called with one line per answer with status ≥ 400 (`METHOD URL -> STATUS`), for terse logs. */
  onErrorLine?: (line: string) => void;
}

/** A running server. */
export interface RunningServer {
  /** `http://host:port/` */
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  readonly app: FastifyInstance;
  readonly connections: ConnectionStats;
  /** The open database (`null` with `api: false`), for maintenance and tests. */
  readonly db: Db | null;
  /** Stops accepting, finishes in-flight requests, ends live streams, stops video workers, checkpoints the WAL, closes the database. */
  close(): Promise<void>;
}

const MiB = 1024 * 1024;
/** Paths under the API (everything else is the app's files). */
export const API_PREFIXES = ['/v1/', '/openapi.json', '/docs', '/dashboard', '/healthz', '/readyz'] as const;

/** Paths that need the token when one is set (the app's files, the dashboard page and health checks do not). */
function needsToken(path: string): boolean {
  return path.startsWith('/v1/') || path === '/v1' || path === '/openapi.json' || path.startsWith('/docs');
}

/** Collects a raw request body into one Buffer, refusing more than `limit` bytes (413, with the limit in the message). */
function collectBody(payload: Readable, declared: number | undefined, limit: number, what: string): Promise<Buffer> {
  if (declared !== undefined && declared > limit) {
    return Promise.reject(new HttpProblem(413, 'E_TOO_LARGE', `${what} of ${formatBytes(declared)} is over the limit of ${formatBytes(limit)} (--max-upload-mb)`));
  }
  return new Promise((ok, fail) => {
    const chunks: Buffer[] = [];
    let n = 0;
    payload.on('data', (c: Buffer) => {
      n += c.length;
      if (n > limit) {
        payload.removeAllListeners('data');
        payload.resume();
        fail(new HttpProblem(413, 'E_TOO_LARGE', `${what} is over the limit of ${formatBytes(limit)} (--max-upload-mb)`));
        return;
      }
      chunks.push(c);
    });
    payload.on('end', () => ok(Buffer.concat(chunks, n)));
    payload.on('error', fail);
  });
}

type OpenApiDoc = { paths?: Record<string, Record<string, { requestBody?: unknown }>> };

/**
 * Adds the request bodies Fastify's schemas cannot state (raw image and video bodies, multipart files) to the
 * OpenAPI document.
 */
function addRawBodies(doc: OpenApiDoc): OpenApiDoc {
  const binary = { schema: { type: 'string', contentMediaType: 'application/octet-stream' } };
  const multipart = (field: string, many: boolean) => ({
    schema: {
      type: 'object',
      properties: { [field]: many ? { type: 'array', items: { type: 'string', contentMediaType: 'application/octet-stream' } } : { type: 'string', contentMediaType: 'application/octet-stream' } },
    },
  });
  const analyze = doc.paths?.['/v1/analyze']?.post;
  if (analyze) {
    analyze.requestBody = {
      required: true,
      description: 'One image (raw bytes with its content type), or multipart/form-data with one or more file fields.',
      content: { 'image/jpeg': binary, 'image/png': binary, 'image/webp': binary, 'application/octet-stream': binary, 'multipart/form-data': multipart('files', true) },
    };
  }
  const videos = doc.paths?.['/v1/videos']?.post;
  if (videos) {
    videos.requestBody = {
      required: true,
      description: 'The video (raw bytes with a video/* content type), or multipart/form-data with one file field.',
      content: { 'video/mp4': binary, 'video/webm': binary, 'video/quicktime': binary, 'multipart/form-data': multipart('file', false) },
    };
  }
  return doc;
}

/** The video runner in worker threads, or `undefined` (jobs on the main thread) when off or not compiled. */
function videoRunnerInThreads(on: boolean, log: FastifyInstance['log']): VideoJobRunner | undefined {
  if (!on) return undefined;
  const file = compiledWorkerFile('video-worker.js');
  if (!file) log.warn('the compiled video worker was not found (npm run build): video jobs run on the main thread');
  return file ? threadVideoRunner(file) : undefined;
}

/**
 * Builds the server and starts listening.
 * @throws {FerkitError} `E_OPTION` for bad options (non-loopback host without a token, bad limits);
 *   `E_INPUT_READ` when `root` has no `index.html` (the app is not built: `npm run build:web`);
 *   the listen error (e.g. `EADDRINUSE`) as is; SQLite errors opening the database.
 */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 8080;
  const api = options.api ?? true;
  const token = options.token && options.token.length > 0 ? options.token : undefined;
  if (!isLoopbackHost(host) && !token) {
    throw new FerkitError('E_OPTION', `listening on ${host} (not loopback) needs a token: pass --token or set FERKIT_TOKEN; clients then send "Authorization: Bearer <token>"`);
  }
  if (token !== undefined && token.length < 16) throw new FerkitError('E_OPTION', `the token must be at least 16 characters long, got ${token.length}`);
  const positive = (name: string, v: number | undefined, dflt: number): number => {
    const x = v ?? dflt;
    if (!(Number.isFinite(x) && x > 0)) throw new FerkitError('E_OPTION', `${name} must be a positive number, got ${String(v)}`);
    return x;
  };
  const maxUploadBytes = positive('maxUploadBytes', options.maxUploadBytes, 20 * MiB);
  const maxVideoBytes = positive('maxVideoBytes', options.maxVideoBytes, 1024 * MiB);
  const maxFiles = Math.floor(positive('maxFiles', options.maxFiles, 16));
  const maxPixels = positive('maxPixels', options.maxPixels, DEFAULT_MAX_PIXELS);
  const workers = Math.floor(positive('workers', options.workers, availableParallelism()));
  const threadsPerAnalysis = Math.floor(positive('threadsPerAnalysis', options.threadsPerAnalysis, 1));
  const queueLimit = options.queueLimit ?? workers * 16;
  const rateLimitPerMinute = options.rateLimitPerMinute ?? 1200;
  const analyzeTimeoutMs = positive('analyzeTimeoutMs', options.analyzeTimeoutMs, 30_000);

  let realRoot: string | null = null;
  if (options.root !== null) {
    const root = resolve(options.root);
    try {
      if (!(await stat(join(root, 'index.html'))).isFile()) throw new Error('not a file');
      realRoot = await realpath(root);
    } catch (cause) {
      throw new FerkitError('E_INPUT_READ', `no index.html in ${root}: build the web app first (npm run build:web)`, undefined, { cause });
    }
  }

  let connections: ConnectionStats | undefined;
  const serverFactory = (handler: (req: IncomingMessage, res: ServerResponse) => void): Server => {
    const server = createServer({
      headersTimeout: options.headersTimeoutMs ?? 10_000,
      requestTimeout: options.requestTimeoutMs ?? 120_000,
      keepAliveTimeout: 5_000,
      connectionsCheckingInterval: options.timeoutCheckMs ?? 1_000,
    }, handler);
    server.setTimeout(options.idleTimeoutMs ?? 60_000);
    connections = capConnections(server, {
      max: options.maxConnections ?? 512,
      perClient: options.maxConnectionsPerClient ?? 128,
      onReject: (addr, reason) => app.log.warn({ remoteAddress: addr }, `connection refused: ${reason}`),
    });
    return server;
  };

  const app: FastifyInstance = Fastify({
    logger: options.logger ?? false,
    serverFactory,
    bodyLimit: Math.max(maxUploadBytes, 1 * MiB),
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    // Errors Fastify raises before routing (a malformed URL, a bad Content-Type header) get problem answers too.
    frameworkErrors: (error, _request, reply) => {
      const bad = error.code === 'FST_ERR_BAD_URL' ? 'the URL is not valid percent-encoding' : error.message;
      const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 400;
      reply.headers(APP_HEADERS);
      sendProblem(reply, { status, body: problem(status, status === 415 ? 'E_MEDIA_TYPE' : 'E_BAD_REQUEST', `bad request: ${bad}`), headers: {} });
    },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false, allowUnionTypes: true } },
  });

  const hostsAllowed = allowedHostNames(host, options.allowedHosts ?? []);
  registerProblemHandlers(app, { maxUploadBytes });
  const onErrorLine = options.onErrorLine;
  if (onErrorLine) {
    app.addHook('onResponse', async (request, reply) => {
      if (reply.statusCode >= 400) onErrorLine(`${request.method} ${request.url.split('?')[0]} -> ${reply.statusCode}`);
    });
  }
  // An answer sent before the request body was read to its end (an upload refused half way: too large, disk full)
  // closes the connection: the unread rest would otherwise be parsed as the next request, and a client that reuses
  // the socket gets a reset on its next request. The close lingers (`lingerOnClose`): the client, still sending, gets to
  // read the answer.
  app.addHook('onSend', async (request, reply, payload) => {
    if (!request.raw.complete) {
      reply.header('Connection', 'close');
      lingerOnClose(request.raw.socket);
    }
    return payload;
  });
  app.addHook('onRequest', async (request, reply) => {
    reply.headers(APP_HEADERS);
    checkHost(request.headers.host, hostsAllowed);
    const path = request.url.split('?')[0] ?? '/';
    if (token !== undefined && needsToken(path) && !bearerMatches(request.headers.authorization, token)) {
      // The docs page is also opened in browsers, which cannot add a bearer header to a navigation: for it (reads
      // only) the browser's own login prompt works too, with the token as the password.
      const docs = path === '/docs' || path.startsWith('/docs/');
      const read = request.method === 'GET' || request.method === 'HEAD';
      if (!(docs && read && basicMatches(request.headers.authorization, token))) {
        throw new HttpProblem(401, 'E_UNAUTHORIZED', docs
          ? 'the docs need the token given to ferkit serve: "Authorization: Bearer <token>", or in a browser the login prompt with the token as the password (any user name)'
          : 'this server needs "Authorization: Bearer <token>" (the token given to ferkit serve)',
        { 'WWW-Authenticate': docs && read ? 'Basic realm="ferkit docs", charset="UTF-8"' : 'Bearer realm="ferkit"' });
      }
    }
    const encoding = request.headers['content-encoding'];
    if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
      throw new HttpProblem(415, 'E_MEDIA_TYPE', `request bodies with Content-Encoding ${JSON.stringify(encoding)} are not accepted; send them uncompressed`);
    }
  });

  if (rateLimitPerMinute > 0) {
    await app.register(fastifyRateLimit, {
      global: true,
      max: rateLimitPerMinute,
      timeWindow: 60_000,
      errorResponseBuilder: (_req, ctx) => new HttpProblem(429, 'E_RATE_LIMIT',
        `too many requests from this client: limit ${ctx.max} per minute; retry after ${Math.ceil(ctx.ttl / 1000)} s`, { 'Retry-After': String(Math.ceil(ctx.ttl / 1000)) }),
    });
  }

  let db: Db | null = null;
  let inference: Inference | null = null;
  let pool: AnalysisPool | null = null;
  let hub: EventHub | null = null;
  let jobs: VideoJobs | null = null;
  try {
    if (api) {
      const dbFile = options.db ?? ':memory:';
      db = openDatabase(dbFile);
      const dataDir = options.dataDir ?? (dbFile === ':memory:' ? null : `${resolve(dbFile)}.data`);
      let createAnalyzer = options.createAnalyzer;
      if (!createAnalyzer && options.analysisThreads !== false) {
        const file = analysisWorkerFile();
        if (file) {
          pool = createAnalysisPool(workers, file, {
            stopAfterMs: options.stopAnalysisAfterMs ?? analyzeTimeoutMs + 10_000,
            onReplace: (why) => app.log.warn(`${why}; a new analysis thread replaces it`),
          });
          createAnalyzer = pool.factory;
        } else {
          app.log.warn('the compiled analysis worker was not found (npm run build): analyses run on the main thread, one at a time');
        }
      }
      inference = createInference({
        createAnalyzer, workers, queueLimit, maxPixels, timeoutMs: analyzeTimeoutMs, threadsPerAnalysis,
        ...(options.defaultModel ? { defaultModel: options.defaultModel } : {}),
      });
      hub = createEventHub();
      jobs = await createVideoJobs({
        db, dataDir, workers: Math.floor(positive('videoWorkers', options.videoWorkers, 1)), maxBytes: maxVideoBytes,
        runner: options.videoRunner ?? videoRunnerInThreads(options.analysisThreads !== false, app.log), log: app.log,
      });

      app.addSchema(PROBLEM_SCHEMA);
      await app.register(fastifySwagger, {
        openapi: {
          openapi: '3.1.0',
          info: {
            title: 'ferkit server',
            version: '1',
            description: 'Facial expression recognition over HTTP (server-side ONNX Runtime, the same pipeline as the ferkit CLI), '
              + 'monitoring sessions of per-second aggregates in SQLite, video jobs and a live dashboard. Errors are RFC 9457 '
              + 'problem+json with ferkit\'s E_* codes. Expressions are facial displays, not felt emotions; no identity recognition.',
          },
          components: { securitySchemes: token ? { bearer: { type: 'http', scheme: 'bearer' } } : {} },
          ...(token ? { security: [{ bearer: [] }] } : {}),
        },
        transformObject: (doc) => ('openapiObject' in doc ? addRawBodies(doc.openapiObject as OpenApiDoc) : doc.swaggerObject) as never,
        refResolver: { buildLocalReference: (json, _base, _frag, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
      });
      await app.register(fastifySwaggerUi, {
        routePrefix: '/docs',
        uiConfig: { validatorUrl: null, deepLinking: false },
        staticCSP: false,
      });
      app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

      // Raw bodies: images for /v1/analyze (buffered, bounded), videos for /v1/videos (streamed to disk by the route).
      const rawBody = (request: FastifyRequest, payload: Readable, done: (err: Error | null, body?: unknown) => void): void => {
        const declared = request.headers['content-length'] ? Number(request.headers['content-length']) : undefined;
        if (request.routeOptions.url === '/v1/videos') {
          // Streamed to disk by the route, which cuts it at the limit; a declared length over it is refused unread.
          if (declared !== undefined && declared > maxVideoBytes) {
            done(new HttpProblem(413, 'E_TOO_LARGE', `video upload of ${formatBytes(declared)} is over the limit of ${formatBytes(maxVideoBytes)} (--max-video-mb)`));
          } else {
            done(null, payload);
          }
          return;
        }
        collectBody(payload, declared, maxUploadBytes, 'the upload').then((b) => done(null, b), (err: Error) => done(err));
      };
      app.addContentTypeParser('application/octet-stream', rawBody);
      app.addContentTypeParser(/^(image|video)\/[\w.+-]+$/, rawBody);
      await app.register(fastifyMultipart, {
        limits: { fileSize: maxUploadBytes, files: maxFiles, fields: 20, fieldSize: 64 * 1024, parts: maxFiles + 20, headerPairs: 100 },
        throwFileSizeLimit: true,
      });

      const db0 = db;
      const inf = inference;
      const pool0 = pool;
      app.get('/healthz', { schema: { summary: 'Liveness: the process answers', tags: ['health'], response: { 200: { type: 'object', properties: { status: { type: 'string' } } } } } },
        async () => ({ status: 'ok' }));
      app.get('/readyz', {
        schema: {
          summary: 'Readiness: models loaded and the database answers', tags: ['health'],
          response: { 200: { type: 'object', additionalProperties: true }, 503: { type: 'object', additionalProperties: true } },
        },
      }, async (_request, reply) => {
        let dbOk = false;
        try { dbOk = db0.open && (db0.prepare('SELECT 1 AS one').get() as { one: number }).one === 1; } catch { dbOk = false; }
        const ready = dbOk && inf.loaded;
        return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', models: inf.loaded ? 'loaded' : 'loading', database: dbOk ? 'ok' : 'error', inference: inf.stats(),
          ...(pool0 ? { analysisThreads: pool0.stats() } : {}) });
      });

      registerAnalyzeRoutes(app, inference, { maxFiles, maxPixels });
      registerSessionRoutes(app, createSessionStore(db), hub);
      registerVideoRoutes(app, jobs, { maxVideoBytes });
      registerDashboardRoutes(app);
    }
    if (realRoot) await registerStaticFiles(app, { realRoot, apiPrefixes: api ? API_PREFIXES : [] });
    else app.get('/', { schema: { hide: true } }, async (_req, reply) => reply.redirect('/dashboard'));

    const h = hub;
    app.addHook('preClose', async () => { h?.closeAll(); });
    await app.listen({ host, port });
  } catch (err) {
    await app.close().catch(() => undefined);
    await jobs?.stop();
    await inference?.dispose();
    await pool?.close();
    if (db) closeDatabase(db);
    throw err;
  }

  let closing: Promise<void> | null = null;
  if (api && options.warmUp !== false && inference) {
    // A failed load (e.g. an analysis thread that died while loading) is tried again a few times, so that /readyz does
    // not stay 503 for good after one transient failure; a request would also load the models on demand.
    const inf = inference;
    const warm = (attempt: number): void => {
      inf.warmUp().catch((err: Error) => {
        app.log.error({ err }, `models failed to load (attempt ${attempt}): ${err.message}`);
        if (attempt < 5 && closing === null) setTimeout(() => warm(attempt + 1), 2000 * attempt).unref();
      });
    };
    warm(1);
  }
  jobs?.start();

  const addr = app.server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${shownHost}:${addr.port}/`,
    port: addr.port,
    server: app.server,
    app,
    connections: connections!,
    db,
    close: () => {
      closing ??= (async () => {
        await app.close();
        await jobs?.stop();
        await inference?.dispose();
        await pool?.close();
        if (db) closeDatabase(db);
      })();
      return closing;
    },
  };
}
