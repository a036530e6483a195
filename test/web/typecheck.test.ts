/** The web app has its own tsconfig (DOM, bundler resolution): it must type-check, like the library does. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

test('web/ type-checks with web/tsconfig.json (strict)', () => {
  const r = spawnSync(join(REPO, 'node_modules', '.bin', 'tsc'), ['-p', join(REPO, 'web', 'tsconfig.json')], { encoding: 'utf8' });
  expect(`${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes('error TS'))).toEqual([]);
  expect(r.status).toBe(0);
});
