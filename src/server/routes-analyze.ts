/**
 * `POST /v1/analyze`: one image as the raw body (with its image content type) or several as multipart/form-data;
 * query options as the CLI (`labels`, `model`, `minFace`, `minScore`, `cropped`); the answer is the CLI's JSON
 * (an array of items). A bad raw image is a problem answer (422 with the CLI's `E_*` code); in a multipart batch each
 * bad file is an `ok: false` item and the rest are analysed, as in the CLI.
 */
import type { FastifyInstance } from 'fastify';
import { FerkitError } from '../core/errors.js';
import { failureItem, okItem, type BatchItem } from '../node/output.js';
import type { ImageAnalysis } from '../core/types.js';
import type { AnalysisTiming, AnalyzeRequestOptions, Inference } from './inference.js';
import { HttpProblem } from './problem.js';
import { ANALYZE_QUERY_SCHEMA, BATCH_ITEM_SCHEMA, errorResponses } from './schemas.js';

/** Content types `POST /v1/analyze` takes as a raw body. */
export const IMAGE_CONTENT_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/tiff', 'image/avif', 'application/octet-stream'] as const;

type Query = AnalyzeRequestOptions & { name?: string };

/** Codes that are about one file (a batch goes on); anything else fails the request. */
const PER_FILE = new Set(['E_INPUT_EMPTY', 'E_DECODE', 'E_UNSUPPORTED_FORMAT', 'E_TOO_MANY_PIXELS', 'E_IMAGE', 'E_INPUT_READ']);

/** Sums of the stage timings of the analyses of one request, ms. */
interface Stages { queue: number; decode: number; detect: number; classify: number }

/**
 * The `Server-Timing` header of an analysis answer (W3C Server Timing; browsers' developer tools show it): time
 * waiting for an inference slot, decoding (header check + pixels), detection and classification, summed over the
 * request's images, in ms. The rest of a client's measured latency is HTTP, body transfer and JSON.
 */
export function serverTiming(s: Stages): string {
  return (['queue', 'decode', 'detect', 'classify'] as const).map((k) => `${k};dur=${s[k].toFixed(1)}`).join(', ');
}

/** Registers the route. */
export function registerAnalyzeRoutes(app: FastifyInstance, inference: Inference, limits: { maxFiles: number; maxPixels: number }): void {
  app.post<{ Querystring: Query }>('/v1/analyze', {
    schema: {
      summary: 'Analyse images (faces and expressions)',
      description: 'Send one image as the body with its content type (image/jpeg, image/png, …), or several as multipart/form-data '
        + `(at most ${limits.maxFiles} files). The answer is the CLI's JSON: an array of items. Limits: --max-upload-mb per file (413), `
        + `${limits.maxPixels} pixels per image (422 E_TOO_MANY_PIXELS); when every inference slot is busy and the queue is full, 503 with Retry-After.`,
      tags: ['analysis'],
      querystring: ANALYZE_QUERY_SCHEMA,
      consumes: [...IMAGE_CONTENT_TYPES, 'multipart/form-data'],
      response: {
        200: { description: 'One item per image, as `ferkit analyze --format json`.', type: 'array', items: BATCH_ITEM_SCHEMA },
        ...errorResponses(400, 401, 413, 415, 422, 429, 503),
      },
    },
  }, async (request, reply) => {
    const { name, ...options } = request.query;
    const stages: Stages = { queue: 0, decode: 0, detect: 0, classify: 0 };
    const run = async (bytes: Buffer, file: string): Promise<ImageAnalysis> => {
      const timing: AnalysisTiming = { queueMs: 0 };
      try {
        const a = await inference.analyze(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), file, options, timing);
        stages.decode += a.timingsMs.decode;
        stages.detect += a.timingsMs.detect;
        stages.classify += a.timingsMs.classify;
        return a;
      } finally {
        stages.queue += timing.queueMs;
        reply.header('Server-Timing', serverTiming(stages));
      }
    };
    if (request.isMultipart()) {
      const items: BatchItem[] = [];
      let n = 0;
      for await (const part of request.parts()) {
        if (part.type !== 'file') continue;
        n++;
        const file = part.filename || `file-${n}`;
        const bytes = await part.toBuffer();
        try {
          items.push(okItem(file, await run(bytes, file)));
        } catch (err) {
          if (err instanceof FerkitError && PER_FILE.has(err.code)) items.push(failureItem(file, err));
          else throw err;
        }
      }
      if (n === 0) throw new HttpProblem(400, 'E_BAD_REQUEST', 'the multipart body holds no file part; send images as file fields');
      return items;
    }
    const body = request.body;
    if (!Buffer.isBuffer(body)) throw new HttpProblem(415, 'E_MEDIA_TYPE', `send the image as the body with an image content type (${IMAGE_CONTENT_TYPES.join(', ')}) or as multipart/form-data`);
    const file = name ?? '(body)';
    return [okItem(file, await run(body, file))];
  });
}
