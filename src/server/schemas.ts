/**
 * JSON schemas shared by the routes (request validation, response serialisation and the OpenAPI document).
 * Result objects allow additional properties so that fields the library adds later are passed through, not dropped.
 */
import { LABEL_SET_IDS, EXPRESSIONS } from '../core/labels.js';
import { BUNDLED_CLASSIFIER_IDS } from '../core/classifier/expression.js';
import { QUALITY_REASONS } from '../core/types.js';

const num = { type: 'number' } as const;
const box = { type: 'object', properties: { x: num, y: num, width: num, height: num }, required: ['x', 'y', 'width', 'height'] } as const;
const point = { type: 'object', properties: { x: num, y: num } } as const;
const probabilities = {
  type: 'object', description: 'Softmax over the 7 FER2013 expressions, in [0, 1], sums to 1.',
  properties: Object.fromEntries(EXPRESSIONS.map((e) => [e, num])), additionalProperties: false,
} as const;

/** One face of an analysed image. */
export const FACE_SCHEMA = {
  type: 'object',
  additionalProperties: true,
  required: ['box', 'score', 'probabilities', 'label', 'labelScore', 'valence'],
  properties: {
    box: { ...box, description: 'Pixels of the image after EXIF orientation.' },
    keypoints: { type: 'object', additionalProperties: point },
    score: { ...num, description: 'Detector confidence in [0, 1].' },
    probabilities,
    label: { type: 'string', enum: [...EXPRESSIONS] },
    labelScore: num,
    valence: { type: 'string', enum: ['positive', 'neutral', 'negative'], description: 'Category of valenceScore (docs/valence.md).' },
    valenceScore: { type: 'number', minimum: -1, maximum: 1, description: 'Expected valence Σ p_c · v_c (docs/valence.md).' },
    quality: {
      type: 'object', additionalProperties: true, required: ['status', 'reasons', 'signals'],
      description: 'The quality gate: uncertain when a signal is past its threshold (docs/quality.md).',
      properties: {
        status: { type: 'string', enum: ['ok', 'uncertain'] },
        reasons: { type: 'array', items: { type: 'string', enum: [...QUALITY_REASONS] } },
        signals: {
          type: 'object', additionalProperties: true,
          properties: {
            faceSizePx: num, sharpness: num, yawDeg: { type: ['number', 'null'] }, rollDeg: { type: ['number', 'null'] },
            detectionScore: { type: ['number', 'null'] }, top1: num, margin: num, entropy: num,
          },
        },
      },
    },
    projected: {
      type: 'object', additionalProperties: true,
      properties: { labelSet: { type: 'string' }, label: { type: 'string' }, score: num, probabilities: { type: 'object', additionalProperties: num } },
    },
  },
} as const;

/** One item of an analysis answer: the CLI's JSON item (`ferkit analyze --format json`). */
export const BATCH_ITEM_SCHEMA = {
  $id: 'BatchItem',
  type: 'object',
  description: 'The CLI\'s result item: {file, ok: true, width, height, faces, timingsMs, models} or {file, ok: false, error: {code, message}}.',
  additionalProperties: true,
  required: ['file', 'ok'],
  properties: {
    file: { type: 'string' },
    ok: { type: 'boolean' },
    width: { type: 'integer' },
    height: { type: 'integer' },
    faces: { type: 'array', items: FACE_SCHEMA },
    timingsMs: { type: 'object', additionalProperties: num },
    models: { type: 'object', additionalProperties: { type: 'string' } },
    error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } },
  },
} as const;

/** Query options of `POST /v1/analyze` (the CLI's options of the same names). */
export const ANALYZE_QUERY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    labels: { type: 'string', enum: [...LABEL_SET_IDS], default: '7', description: 'Label set of `projected` (--labels).' },
    model: { type: 'string', enum: [...BUNDLED_CLASSIFIER_IDS], description: 'Bundled classifier (--model); file paths are not accepted over HTTP.' },
    minFace: { type: 'integer', minimum: 0, maximum: 10000, description: 'Smallest face side in pixels (--min-face).' },
    minScore: { type: 'number', minimum: 0, maximum: 1, description: 'Detector threshold (--min-score).' },
    cropped: { type: 'boolean', default: false, description: 'The image is one already-cropped face (--cropped).' },
    name: { type: 'string', maxLength: 200, description: 'Name for `file` in the answer (raw bodies; multipart uses the part\'s file name).' },
  },
} as const;

const probs7 = { type: 'object', properties: Object.fromEntries(EXPRESSIONS.map((e) => [e, { type: 'number', minimum: 0, maximum: 1 }])), required: [...EXPRESSIONS], additionalProperties: false } as const;

/** Body of `POST /v1/sessions/:id/aggregates`. */
export const AGGREGATE_BATCH_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['device', 'samples'],
  properties: {
    device: {
      type: 'object', additionalProperties: false, required: ['key'],
      properties: {
        key: { type: 'string', pattern: '^[A-Za-z0-9_-]{6,64}$', description: 'A random id the device picks once (re-sent batches replace rows, never duplicate them).' },
        label: { type: 'string', minLength: 1, maxLength: 80 },
      },
    },
    samples: {
      type: 'array', maxItems: 600,
      items: {
        type: 'object', additionalProperties: false, required: ['at', 'faces', 'shares', 'meanValence'],
        properties: {
          at: { type: 'integer', minimum: 0, description: 'Epoch milliseconds of the second.' },
          faces: { type: 'integer', minimum: 0, maximum: 1000 },
          shares: { type: 'object', additionalProperties: { type: 'number', minimum: 0, maximum: 1 }, maxProperties: 16 },
          meanValence: { type: ['number', 'null'], minimum: -1, maximum: 1 },
          tracks: {
            type: 'array', maxItems: 200,
            items: {
              type: 'object', additionalProperties: false, required: ['trackId', 'label', 'valence', 'valenceScore', 'probabilities'],
              properties: {
                trackId: { type: 'integer', minimum: 0 },
                label: { type: 'string', maxLength: 40 },
                valence: { type: 'string', enum: ['positive', 'neutral', 'negative'] },
                valenceScore: { type: 'number', minimum: -1, maximum: 1 },
                probabilities: probs7,
              },
            },
          },
        },
      },
    },
    notices: {
      type: 'array', maxItems: 200,
      items: {
        type: 'object', additionalProperties: false, required: ['at', 'trackId', 'negativeForMs', 'message'],
        properties: {
          at: { type: 'integer', minimum: 0 }, trackId: { type: 'integer', minimum: 0 },
          negativeForMs: { type: 'integer', minimum: 0 }, message: { type: 'string', maxLength: 300 },
        },
      },
    },
  },
} as const;

/** A session (answers of the session routes). */
export const SESSION_SCHEMA = {
  $id: 'Session',
  type: 'object',
  required: ['id', 'name', 'code', 'startedAt', 'endedAt', 'devices', 'samples'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    code: { type: 'string', description: 'Join code for devices and dashboards.' },
    startedAt: { type: 'string', format: 'date-time' },
    endedAt: { type: ['string', 'null'], format: 'date-time' },
    settings: { type: 'object', additionalProperties: true },
    devices: { type: 'integer' },
    samples: { type: 'integer' },
  },
} as const;

/** A video job. */
export const VIDEO_JOB_SCHEMA = {
  $id: 'VideoJob',
  type: 'object',
  required: ['id', 'status', 'fileName', 'bytes', 'createdAt', 'updatedAt', 'attempts', 'progress'],
  properties: {
    id: { type: 'string' },
    status: { type: 'string', enum: ['queued', 'running', 'done', 'failed'] },
    fileName: { type: 'string' },
    bytes: { type: 'integer' },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    attempts: { type: 'integer' },
    progress: {
      type: 'object',
      properties: { framesDone: { type: 'integer' }, framesExpected: { type: ['integer', 'null'] }, fraction: { type: ['number', 'null'] } },
    },
    error: { type: ['object', 'null'], properties: { code: { type: 'string' }, message: { type: 'string' } } },
    results: { type: 'object', additionalProperties: { type: 'string' } },
  },
} as const;

/** An error answer: `application/problem+json` with the Problem schema. */
export const PROBLEM_RESPONSE = {
  description: 'RFC 9457 problem details with ferkit\'s E_* code.',
  content: { 'application/problem+json': { schema: { $ref: 'Problem#' } } },
} as const;

/** Error answers a route can give. */
export function errorResponses(...statuses: number[]): Record<number, typeof PROBLEM_RESPONSE> {
  return Object.fromEntries(statuses.map((s) => [s, PROBLEM_RESPONSE]));
}
