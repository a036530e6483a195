/** The web app has its own tsconfig (DOM, bundler resolution): it must type-check, like the library does. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

test('web/ type-checks with web/tsconfig.json (strict)', async () => {
  // asynchronously: a synchronous tsc run blocks vitest's worker (its RPC to the main process times out)
  const r = await promisify(execFile)(join(REPO, 'node_modules', '.bin', 'tsc'), ['-p', join(REPO, 'web', 'tsconfig.json')], { encoding: 'utf8' })
    .then((o) => ({ ...o, status: 0 }), (e: { stdout: string; stderr: string; code: number }) => ({ stdout: e.stdout, stderr: e.stderr, status: e.code }));
  expect(`${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes('error TS'))).toEqual([]);
  expect(r.status).toBe(0);
}, 120_000);
