/** src/core must run in browsers and Node alike: no node:* built-ins, no sharp/onnxruntime-node, no DOM globals. */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const CORE = fileURLToPath(new URL('../../src/core/', import.meta.url));
const files = (readdirSync(CORE, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));

test.each(files)('src/core/%s imports nothing platform-specific', (f) => {
  const src = readFileSync(join(CORE, f), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
  const imports = [...src.matchAll(/from\s+'([^']+)'/g)].map((m) => m[1]!);
  for (const i of imports) expect(i, `${f} imports ${i}`).toMatch(/^(\.{1,2}\/|onnxruntime-common$)/);
  expect(src, `${f} uses a DOM or Node global`).not.toMatch(/(?<![.\w])(document|window|navigator|process|Buffer|require)\s*[.(]/);
});
