/** `analyzer.close()` (alias of `dispose()`, and `Symbol.asyncDispose`) releases the sessions, once. */
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { createAnalyzer } from '../../src/node/index.js';

const photo = fileURLToPath(new URL('../../node_modules/@vladmandic/face-api/demo/sample1.jpg', import.meta.url));

test('close() releases the sessions: a later analyze fails with E_INFERENCE; closing twice is harmless', async () => {
  const analyzer = await createAnalyzer({ classifier: { model: 'ferkit-lite' } });
  const r = await analyzer.analyze(photo);
  expect(r.faces).toHaveLength(3); // the face-api sample photo: three people
  await analyzer.close();
  await analyzer.close();
  await expect(analyzer.analyze(photo)).rejects.toMatchObject({ code: 'E_INFERENCE' });
  expect(analyzer[Symbol.asyncDispose]).toBe(analyzer.close);
}, 60_000);
