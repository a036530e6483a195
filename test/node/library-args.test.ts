/**
 * Library argument checks (issue 13 item 7): every public entry throws FerkitError with E_OPTION / E_IMAGE naming the
 * argument for null, wrong types and unknown keys, before any model is loaded where possible.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createPipeline } from '../../src/core/analyzer.js';
import { FerkitError } from '../../src/core/errors.js';
import { createAnalyzer, decodeImage, type Analyzer } from '../../src/node/index.js';
import { PixelBudget } from '../../src/node/decode.js';

const rejectsWith = async (p: Promise<unknown> | (() => unknown), code: string, message: RegExp): Promise<void> => {
  const promise = typeof p === 'function' ? (async () => p())() : p;
  const err = await promise.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(FerkitError);
  expect(err).toMatchObject({ code, message: expect.stringMatching(message) });
};

describe('createAnalyzer options (checked before any model is read)', () => {
  test.each([
    [null, /createAnalyzer options must be an object or undefined, got null/],
    [42, /createAnalyzer options must be an object or undefined, got 42 \(number\)/],
    ['yes', /must be an object/],
    [[], /got an array/],
    [{ bogus: 1 }, /unknown option 'bogus'/],
    [{ classifier: { model: 42 } }, /classifier\.model must be a non-empty string, got 42 \(number\)/],
    [{ classifier: 'ferkit-lite' }, /classifier must be an object/],
    [{ classifier: { model: 'x', extra: 1 } }, /classifier: unknown option 'extra'/],
    [{ cropsOnly: 'yes' }, /cropsOnly must be true or false, got "yes" \(string\)/],
    [{ detector: null }, /detector must be an object or undefined, got null/],
    [{ maxBytes: -1 }, /maxBytes must be a number/],
    [{ pixelBudget: 'lots' }, /pixelBudget must be a number/],
    [{ align: { margin: 0.2, tilt: 1 } }, /align: unknown option 'tilt'/],
  ])('createAnalyzer(%j) is E_OPTION', async (options, message) => {
    await rejectsWith(createAnalyzer(options as never), 'E_OPTION', message);
  });
});

describe('analyze arguments', () => {
  let analyzer: Analyzer;
  beforeAll(async () => { analyzer = await createAnalyzer({ cropsOnly: true, pixelBudget: new PixelBudget(1e6) }); });
  afterAll(async () => { await analyzer?.dispose(); });
  const img = { data: new Uint8Array(48 * 48 * 3), width: 48, height: 48, channels: 3 as const };

  test.each([
    [null, 'E_IMAGE', /input must be a file path .* got null/],
    [42, 'E_IMAGE', /got 42 \(number\)/],
    ['', 'E_IMAGE', /input must be/],
    [{ width: 2 }, 'E_IMAGE', /input must be/],
    [{ data: new Uint8Array(5), width: 2, height: 2, channels: 3 }, 'E_IMAGE', /image data has 5 bytes/],
  ])('analyze(%j) is %s', async (input, code, message) => {
    await rejectsWith(analyzer.analyze(input as never), code, message);
  });

  test.each([
    [null, /analyze options must be an object or undefined, got null/],
    [{ cropped: 'yes' }, /cropped must be true or false, got "yes"/],
    [{ cropped: true, colour: 'red' }, /unknown option 'colour'/],
    [{ name: 7 }, /name must be a non-empty string/],
  ])('analyze(image, %j) is E_OPTION', async (options, message) => {
    await rejectsWith(analyzer.analyze(img, options as never), 'E_OPTION', message);
  });

  test('good arguments still work: a RawImage crop gives one face', async () => {
    const r = await analyzer.analyze(img, { cropped: true });
    expect(r.faces).toHaveLength(1);
  });

  test('createPipeline and pipeline.analyze check their arguments too', async () => {
    await rejectsWith(() => createPipeline(null, null as never), 'E_OPTION', /classifier must be an ExpressionClassifier .* got null/);
    await rejectsWith(() => createPipeline(42 as never, analyzer.pipeline.classifier), 'E_OPTION', /detector must be a FaceDetector .* got 42/);
    await rejectsWith(() => createPipeline(null, analyzer.pipeline.classifier, { labels: '7', extra: 1 } as never), 'E_OPTION', /unknown option 'extra'/);
    const pipeline = createPipeline(null, analyzer.pipeline.classifier);
    await rejectsWith(pipeline.analyze(null as never), 'E_IMAGE', /image must be a RawImage/);
    await rejectsWith(pipeline.analyze(img, { cropped: 1 } as never), 'E_OPTION', /cropped must be true or false/);
  });

  test('decodeImage checks its arguments', async () => {
    await rejectsWith(decodeImage(null as never), 'E_IMAGE', /input must be a file path/);
    await rejectsWith(decodeImage('x.jpg', { maxPixel: 5 } as never), 'E_OPTION', /unknown option 'maxPixel'/);
    await rejectsWith(decodeImage('x.jpg', null as never), 'E_OPTION', /decodeImage options must be an object/);
  });
});
