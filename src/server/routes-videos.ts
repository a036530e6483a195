/**
 * Video job routes: `POST /v1/videos` (raw `video/*` body or multipart with one file), `GET /v1/videos/:id` (status
 * and progress), `GET /v1/videos/:id/frames.jsonl|tracks.csv|summary.json` (results).
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { LABEL_SET_IDS } from '../core/labels.js';
import { HttpProblem } from './problem.js';
import { VIDEO_JOB_SCHEMA, errorResponses } from './schemas.js';
import { VIDEO_RESULTS, type VideoJobOptions, type VideoJobs, type VideoResultName } from './video-jobs.js';

const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^[0-9a-f-]{36}$' } } } as const;
const TYPES: Record<VideoResultName, string> = {
  'frames.jsonl': 'application/jsonl; charset=utf-8', 'tracks.csv': 'text/csv; charset=utf-8', 'summary.json': 'application/json; charset=utf-8',
};

/** Registers the routes. */
export function registerVideoRoutes(app: FastifyInstance, jobs: VideoJobs, limits: { maxVideoBytes: number }): void {
  app.addSchema(VIDEO_JOB_SCHEMA);
  const tags = ['videos'];
  app.post<{ Querystring: VideoJobOptions & { name?: string } }>('/v1/videos', {
    bodyLimit: limits.maxVideoBytes,
    schema: {
      summary: 'Upload a video and start an analysis job', tags,
      description: `Body: the video with a video/* content type, or multipart/form-data with one file (at most ${limits.maxVideoBytes} bytes, 413 beyond). `
        + 'Jobs run one at a time per video worker (--video-workers), survive restarts, and are polled with GET /v1/videos/{id}.',
      consumes: ['video/mp4', 'video/webm', 'video/quicktime', 'multipart/form-data'],
      querystring: {
        type: 'object', additionalProperties: false,
        properties: {
          fps: { type: 'number', exclusiveMinimum: 0, maximum: 1000, description: 'Frames per second to analyse (default: every frame).' },
          labels: { type: 'string', enum: [...LABEL_SET_IDS] },
          name: { type: 'string', maxLength: 200 },
        },
      },
      response: { 202: { $ref: 'VideoJob#' }, ...errorResponses(400, 401, 413, 415, 422, 429, 503) },
    },
  }, async (request, reply) => {
    const { name, ...options } = request.query;
    let stream: Readable;
    let fileName = name ?? 'video';
    if (request.isMultipart()) {
      const file = await request.file({ limits: { fileSize: jobs.maxBytes, files: 1 }, throwFileSizeLimit: true });
      if (!file) throw new HttpProblem(400, 'E_BAD_REQUEST', 'the multipart body holds no file');
      stream = file.file;
      fileName = name ?? file.filename ?? fileName;
    } else {
      const body = request.body as Readable | undefined;
      if (!body || typeof (body as Readable).pipe !== 'function') throw new HttpProblem(415, 'E_MEDIA_TYPE', 'send the video with a video/* content type or as multipart/form-data');
      stream = body;
    }
    const job = await jobs.create(stream, fileName, options);
    return reply.code(202).header('location', `/v1/videos/${job.id}`).send(job);
  });

  app.get<{ Params: { id: string } }>('/v1/videos/:id', {
    schema: { summary: 'Status and progress of a video job', tags, params: idParams, response: { 200: { $ref: 'VideoJob#' }, ...errorResponses(400, 401, 404) } },
  }, async (request) => jobs.get(request.params.id));

  for (const name of VIDEO_RESULTS) {
    app.get<{ Params: { id: string } }>(`/v1/videos/:id/${name}`, {
      schema: {
        summary: `The job's ${name}`, tags, params: idParams, produces: [TYPES[name].split(';')[0]!],
        response: { 200: name === 'summary.json' ? { type: 'object', additionalProperties: true } : { type: 'string' }, ...errorResponses(400, 401, 404, 409) },
      },
    }, async (request, reply) => {
      const path = await jobs.resultPath(request.params.id, name);
      return reply.type(TYPES[name]).send(createReadStream(path));
    });
  }
}
