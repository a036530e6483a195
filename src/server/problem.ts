/**
 * RFC 9457 problem details (`application/problem+json`) for every error the server sends, with ferkit's stable
 * `E_*` codes: the CLI's codes for image and option errors (`E_DECODE`, `E_TOO_MANY_PIXELS`, …) and a few codes
 * of the server's own (`E_BUSY`, `E_TOO_LARGE`, …).
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FerkitError, type FerkitErrorCode } from '../core/errors.js';

/** Error codes of the server besides the library's {@link FerkitErrorCode}s. */
export type ServerErrorCode =
  | 'E_BAD_REQUEST' // malformed request: bad JSON, failed schema validation, bad query
  | 'E_NOT_FOUND' // no such route, file, session or job
  | 'E_METHOD' // method not allowed on this path
  | 'E_TOO_LARGE' // upload over --max-upload-mb, or too many files/parts
  | 'E_MEDIA_TYPE' // a content type or content encoding the route does not take
  | 'E_UNAUTHORIZED' // missing or wrong bearer token
  | 'E_FORBIDDEN' // a path outside the served folder (symlink, traversal)
  | 'E_HOST' // Host header not allowed (DNS-rebinding guard)
  | 'E_BUSY' // inference queue full or too many connections: retry after Retry-After
  | 'E_RATE_LIMIT' // too many requests from this client
  | 'E_TIMEOUT' // analysis took longer than the server allows
  | 'E_STORAGE' // the database cannot be written (disk full, read-only)
  | 'E_CONFLICT' // the resource is not in a state that allows this (e.g. results of an unfinished job)
  | 'E_INTERNAL'; // a bug: details are in the server log, not in the answer

/** Every code an answer of the server can carry. */
export type ProblemCode = FerkitErrorCode | ServerErrorCode;

/** The JSON body of an error answer (RFC 9457 members plus `code`). */
export interface Problem {
  /** `urn:ferkit:problem:<code>`. */
  type: string;
  title: string;
  status: number;
  /** One line: what was wrong and, for limits, the limit. */
  detail: string;
  code: ProblemCode;
  /** The request path. */
  instance?: string;
}

/** An error that becomes a problem answer with this status and code (plus optional headers such as Retry-After). */
export class HttpProblem extends Error {
  override readonly name = 'HttpProblem';
  constructor(
    readonly status: number,
    readonly code: ProblemCode,
    detail: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(detail);
  }
}

const TITLES: Record<number, string> = {
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  408: 'Request Timeout', 409: 'Conflict', 413: 'Content Too Large', 415: 'Unsupported Media Type',
  422: 'Unprocessable Content', 429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable',
};

/** HTTP status of a library error: input problems 422, option problems 400, model/runtime problems 500. */
export function statusOfFerkitCode(code: FerkitErrorCode): number {
  switch (code) {
    case 'E_INPUT_EMPTY': case 'E_DECODE': case 'E_UNSUPPORTED_FORMAT': case 'E_TOO_MANY_PIXELS': case 'E_IMAGE':
      return 422;
    case 'E_INPUT_READ': case 'E_OPTION': case 'E_MODE':
      return 400;
    default:
      return 500;
  }
}

/** A problem body. */
export function problem(status: number, code: ProblemCode, detail: string, instance?: string): Problem {
  return { type: `urn:ferkit:problem:${code}`, title: TITLES[status] ?? 'Error', status, detail, code, ...(instance ? { instance } : {}) };
}

/** The JSON schema of {@link Problem}, for route response schemas and OpenAPI. */
export const PROBLEM_SCHEMA = {
  $id: 'Problem',
  type: 'object',
  description: 'RFC 9457 problem details, with ferkit\'s stable error code.',
  required: ['type', 'title', 'status', 'detail', 'code'],
  properties: {
    type: { type: 'string', examples: ['urn:ferkit:problem:E_TOO_MANY_PIXELS'] },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    code: { type: 'string', examples: ['E_DECODE', 'E_TOO_LARGE', 'E_BUSY'] },
    instance: { type: 'string' },
  },
} as const;

/** The parts of an answer built from a thrown error. */
export interface ProblemAnswer { status: number; body: Problem; headers: Record<string, string>; internal: boolean }

/**
 * Maps any error to a problem: {@link HttpProblem} as is, {@link FerkitError} by its code, Fastify's own errors
 * (validation, body limit, media type, JSON syntax, multipart limits) to 4xx with a readable detail, anything
 * else to 500 `E_INTERNAL` (`internal: true`: log it; its message is not sent).
 */
export function toProblem(err: unknown, instance?: string, limits: { maxUploadBytes?: number } = {}): ProblemAnswer {
  if (err instanceof HttpProblem) return { status: err.status, body: problem(err.status, err.code, err.message, instance), headers: { ...err.headers }, internal: false };
  if (err instanceof FerkitError) {
    const status = statusOfFerkitCode(err.code);
    return { status, body: problem(status, err.code, err.message, instance), headers: {}, internal: status >= 500 };
  }
  const e = err as Partial<FastifyError> & { part?: unknown };
  const limit = limits.maxUploadBytes ? ` (limit ${formatBytes(limits.maxUploadBytes)}: --max-upload-mb)` : '';
  if (e.validation) return { status: 400, body: problem(400, 'E_BAD_REQUEST', `invalid request: ${e.message}`, instance), headers: {}, internal: false };
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
    case 'FST_REQ_FILE_TOO_LARGE':
      return { status: 413, body: problem(413, 'E_TOO_LARGE', `upload too large${limit}`, instance), headers: {}, internal: false };
    case 'FST_FILES_LIMIT': case 'FST_PARTS_LIMIT': case 'FST_FIELDS_LIMIT':
      return { status: 413, body: problem(413, 'E_TOO_LARGE', `too many parts in the multipart upload: ${e.message}`, instance), headers: {}, internal: false };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return { status: 415, body: problem(415, 'E_MEDIA_TYPE', e.message ?? 'unsupported media type', instance), headers: {}, internal: false };
    default:
      break;
  }
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (status >= 400 && status < 500) {
    const code: ProblemCode = status === 404 ? 'E_NOT_FOUND' : status === 403 ? 'E_FORBIDDEN' : status === 413 ? 'E_TOO_LARGE' : status === 415 ? 'E_MEDIA_TYPE' : 'E_BAD_REQUEST';
    return { status, body: problem(status, code, e.message ?? 'bad request', instance), headers: {}, internal: false };
  }
  return { status: 500, body: problem(500, 'E_INTERNAL', 'internal error; see the server log', instance), headers: {}, internal: true };
}

/** `1048576` → `1 MiB`. */
export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${Number((n / (1024 * 1024)).toPrecision(4))} MiB`;
  if (n >= 1024) return `${Number((n / 1024).toPrecision(4))} KiB`;
  return `${n} bytes`;
}

/** Sends a problem answer. */
export function sendProblem(reply: FastifyReply, answer: Pick<ProblemAnswer, 'status' | 'body' | 'headers'>): FastifyReply {
  return reply.code(answer.status).headers(answer.headers).type('application/problem+json; charset=utf-8').send(JSON.stringify(answer.body));
}

/** Installs the error and not-found handlers that answer with problem+json. */
export function registerProblemHandlers(app: FastifyInstance, limits: { maxUploadBytes?: number } = {}): void {
  app.setErrorHandler((err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0] ?? '/';
    // `instance` only for API paths: a refused static path is not echoed back.
    const answer = toProblem(err, path.startsWith('/v1/') ? path : undefined, limits);
    if (answer.internal) request.log.error({ err }, 'request failed');
    else if (answer.status >= 500) request.log.warn({ code: answer.body.code }, answer.body.detail);
    return sendProblem(reply, answer);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '/';
    return sendProblem(reply, { status: 404, body: problem(404, 'E_NOT_FOUND', `not found: ${request.method} ${path}`, path.startsWith('/v1/') ? path : undefined), headers: {} });
  });
}
