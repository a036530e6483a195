/**
 * Monitoring-session routes: create, join by code, post per-second aggregates, list, read, export (CSV/JSON), end,
 * delete, and a live Server-Sent Events stream per session for dashboards.
 */
import type { FastifyInstance } from 'fastify';
import type { EventHub } from './events.js';
import { APP_HEADERS } from './headers.js';
import { HttpProblem } from './problem.js';
import { AGGREGATE_BATCH_SCHEMA, SESSION_SCHEMA, errorResponses } from './schemas.js';
import { sessionCsv, type AggregateBatch, type SessionStore } from './sessions-store.js';

const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^[0-9a-f-]{36}$' } } } as const;
const sessionRef = { $ref: 'Session#' } as const;

/** Registers the session routes. */
export function registerSessionRoutes(app: FastifyInstance, store: SessionStore, hub: EventHub): void {
  app.addSchema(SESSION_SCHEMA);
  const tags = ['sessions'];

  app.post<{ Body: { name: string; settings?: Record<string, unknown> } }>('/v1/sessions', {
    schema: {
      summary: 'Start a monitoring session', tags,
      description: 'Creates a session with a join code that devices and dashboards use.',
      body: {
        type: 'object', additionalProperties: false, required: ['name'],
        properties: { name: { type: 'string', minLength: 1, maxLength: 120 }, settings: { type: 'object', maxProperties: 20, additionalProperties: { type: ['number', 'string', 'boolean'] } } },
      },
      response: { 201: sessionRef, ...errorResponses(400, 401, 503) },
    },
  }, async (request, reply) => {
    const s = store.create(request.body.name, request.body.settings ?? {});
    request.log.info({ session: s.id }, 'session created');
    return reply.code(201).header('location', `/v1/sessions/${s.id}`).send(s);
  });

  app.get<{ Querystring: { limit: number; offset: number } }>('/v1/sessions', {
    schema: {
      summary: 'List sessions, newest first', tags,
      querystring: {
        type: 'object', additionalProperties: false,
        properties: { limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 }, offset: { type: 'integer', minimum: 0, default: 0 } },
      },
      response: {
        200: { type: 'object', required: ['total', 'sessions'], properties: { total: { type: 'integer' }, sessions: { type: 'array', items: sessionRef } } },
        ...errorResponses(400, 401, 503),
      },
    },
  }, async (request) => store.list(request.query.limit, request.query.offset));

  app.get<{ Params: { code: string } }>('/v1/join/:code', {
    schema: {
      summary: 'Find a session by its join code', tags,
      params: { type: 'object', required: ['code'], properties: { code: { type: 'string', minLength: 4, maxLength: 12 } } },
      response: { 200: sessionRef, ...errorResponses(401, 404) },
    },
  }, async (request) => store.byCode(request.params.code));

  app.get<{ Params: { id: string } }>('/v1/sessions/:id', {
    schema: {
      summary: 'A session with its devices', tags, params: idParams,
      response: {
        200: {
          type: 'object', required: ['session', 'devices'],
          properties: {
            session: sessionRef,
            devices: { type: 'array', items: { type: 'object', properties: { id: { type: 'integer' }, key: { type: 'string' }, label: { type: 'string' }, joinedAt: { type: 'string' } } } },
          },
        },
        ...errorResponses(400, 401, 404),
      },
    },
  }, async (request) => ({ session: store.get(request.params.id), devices: store.devices(request.params.id) }));

  app.post<{ Params: { id: string }; Body: AggregateBatch }>('/v1/sessions/:id/aggregates', {
    bodyLimit: 1024 * 1024,
    schema: {
      summary: 'Post a device\'s per-second aggregates', tags, params: idParams,
      description: 'Aggregates only: per group (faces, label shares, mean valence) and per track (label, valence, smoothed probabilities). '
        + 'A device joins on its first batch. Re-sending a second replaces it (idempotent); the answer comes after the rows are committed.',
      body: AGGREGATE_BATCH_SCHEMA,
      response: {
        202: { type: 'object', properties: { deviceId: { type: 'integer' }, groupRows: { type: 'integer' }, trackRows: { type: 'integer' }, notices: { type: 'integer' } } },
        ...errorResponses(400, 401, 404, 409, 413, 429, 503),
      },
    },
  }, async (request, reply) => {
    const result = store.ingest(request.params.id, request.body);
    hub.publish(request.params.id, 'aggregates', { device: request.body.device, samples: request.body.samples, notices: request.body.notices ?? [] });
    return reply.code(202).send(result);
  });

  app.post<{ Params: { id: string } }>('/v1/sessions/:id/end', {
    schema: { summary: 'End a session (later aggregates are refused)', tags, params: idParams, response: { 200: sessionRef, ...errorResponses(400, 401, 404, 503) } },
  }, async (request) => {
    const s = store.end(request.params.id);
    hub.publish(s.id, 'ended', s);
    return s;
  });

  app.delete<{ Params: { id: string } }>('/v1/sessions/:id', {
    schema: { summary: 'Delete a session and all its aggregates', tags, params: idParams, response: { 204: { type: 'null' }, ...errorResponses(400, 401, 404, 503) } },
  }, async (request, reply) => {
    if (!store.delete(request.params.id)) throw new HttpProblem(404, 'E_NOT_FOUND', `no session ${request.params.id}`);
    return reply.code(204).send();
  });

  app.get<{ Params: { id: string } }>('/v1/sessions/:id/export.json', {
    schema: {
      summary: 'Everything stored for a session, as JSON', tags, params: idParams,
      response: { 200: { type: 'object', additionalProperties: true }, ...errorResponses(400, 401, 404) },
    },
  }, async (request, reply) => {
    const dump = store.dump(request.params.id);
    return reply.header('content-disposition', `attachment; filename="session-${dump.session.id}.json"`).send(dump);
  });

  app.get<{ Params: { id: string } }>('/v1/sessions/:id/export.csv', {
    schema: {
      summary: 'A session as CSV (group and track rows per second)', tags, params: idParams, produces: ['text/csv'],
      response: { 200: { type: 'string' }, ...errorResponses(400, 401, 404) },
    },
  }, async (request, reply) => {
    const dump = store.dump(request.params.id);
    return reply.type('text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="session-${dump.session.id}.csv"`)
      .send(sessionCsv(dump));
  });

  app.get<{ Params: { id: string } }>('/v1/sessions/:id/events', {
    schema: {
      summary: 'Live aggregates of a session (Server-Sent Events)', tags, params: idParams, produces: ['text/event-stream'],
      description: 'Events: `hello` (the session), `aggregates` (a device\'s batch as posted), `ended`.',
      response: { 200: { type: 'string' }, ...errorResponses(400, 401, 404, 503) },
    },
  }, async (request, reply) => {
    const session = store.get(request.params.id);
    reply.hijack();
    const ok = hub.subscribe(session.id, reply.raw, APP_HEADERS, { event: 'hello', data: session });
    if (!ok) {
      reply.raw.writeHead(503, { ...APP_HEADERS, 'Content-Type': 'application/problem+json; charset=utf-8', 'Retry-After': '30' });
      reply.raw.end(JSON.stringify({ type: 'urn:ferkit:problem:E_BUSY', title: 'Service Unavailable', status: 503, code: 'E_BUSY', detail: 'too many live streams for this session' }));
    }
  });
}
