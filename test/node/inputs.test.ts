import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { countInputs, expandInputs, type InputEntry } from '../../src/node/inputs.js';

let dir: string;

async function collect(inputs: string[]): Promise<InputEntry[]> {
  const out: InputEntry[] = [];
  for await (const e of expandInputs(inputs)) out.push(e);
  return out;
}
const rel = (entries: InputEntry[]): string[] => entries.map((e) => relative(dir, e.path));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferkit-inputs-'));
  // data/
  //   b.png  a.JPG  notes.txt  .hidden.jpg  ._a.jpg
  //   happy/ 2.jpg 10.jpg     sad/ x.webp y.bmp     .git/ z.jpg
  for (const d of ['data/happy', 'data/sad', 'data/.git']) await mkdir(join(dir, d), { recursive: true });
  for (const f of ['data/b.png', 'data/a.JPG', 'data/notes.txt', 'data/.hidden.jpg', 'data/._a.jpg', 'data/happy/2.jpg',
    'data/happy/10.jpg', 'data/sad/x.webp', 'data/sad/y.bmp', 'data/.git/z.jpg']) {
    await writeFile(join(dir, f), 'x');
  }
  await symlink(join(dir, 'data'), join(dir, 'data/sad/loop')); // a link back up: must not recurse forever
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('expandInputs', () => {
  test('walks a folder recursively: image extensions only, sorted per folder, hidden entries skipped, a link loop reported', async () => {
    const entries = await collect([join(dir, 'data')]);
    expect(rel(entries)).toEqual(['data/a.JPG', 'data/b.png', 'data/happy/10.jpg', 'data/happy/2.jpg', 'data/sad/loop', 'data/sad/x.webp', 'data/sad/y.bmp']);
    expect(entries.filter((e) => e.error).map((e) => [relative(dir, e.path), e.error!.code, e.error!.message]))
      .toEqual([['data/sad/loop', 'E_INPUT_READ', expect.stringMatching(/symbolic link loop \(leads back to .*data, a folder already being searched\)/)]]);
  });

  test('a file is taken as given, whatever its extension', async () => {
    expect(rel(await collect([join(dir, 'data/notes.txt')]))).toEqual(['data/notes.txt']);
  });

  test('BAD INPUT: a missing path is an error entry and the rest still comes', async () => {
    const entries = await collect([join(dir, 'nope.jpg'), join(dir, 'data/b.png')]);
    expect(entries).toHaveLength(2);
    expect(entries[0]!.error).toMatchObject({ name: 'FerkitError', code: 'E_INPUT_READ', message: /nope\.jpg: cannot read: no such file or folder/ });
    expect(entries[1]).toEqual({ path: join(dir, 'data/b.png') });
  });

  test('globs are expanded, sorted and filtered to images; a glob with no match is an error entry', async () => {
    const entries = await collect([join(dir, 'data/*/*'), join(dir, 'data/**/*.gif')]);
    expect(rel(entries.filter((e) => !e.error))).toEqual(['data/happy/10.jpg', 'data/happy/2.jpg', 'data/sad/x.webp', 'data/sad/y.bmp']);
    expect(entries.at(-1)!.error).toMatchObject({ code: 'E_INPUT_READ', message: /matches no image files/ });
  });

  test('a link to an outer folder is walked once, its loop back is reported and cut', async () => {
    const entries = await collect([join(dir, 'data/sad')]);
    expect(rel(entries)).toEqual(['data/sad/loop/a.JPG', 'data/sad/loop/b.png', 'data/sad/loop/happy/10.jpg', 'data/sad/loop/happy/2.jpg',
      'data/sad/loop/sad', 'data/sad/x.webp', 'data/sad/y.bmp']);
    expect(entries.find((e) => e.path.endsWith('loop/sad'))!.error!.code).toBe('E_INPUT_READ');
  });

  test('inputs keep their order; countInputs counts the same entries', async () => {
    const inputs = [join(dir, 'data/happy'), join(dir, 'data/b.png'), join(dir, 'missing')];
    const entries = await collect(inputs);
    expect(rel(entries)).toEqual(['data/happy/10.jpg', 'data/happy/2.jpg', 'data/b.png', 'missing']);
    expect(await countInputs(inputs)).toBe(4);
  });
});
