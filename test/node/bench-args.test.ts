import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { headerComment, optionLines } from '../../bench/args.js';

const root = join(import.meta.dirname, '..', '..');

describe('benchmark options (bench/args.ts)', () => {
  it('takes the header comment of a script without its markup', () => {
    const text = headerComment(readFileSync(join(root, 'bench', 'onnx-speed.ts'), 'utf8'));
    expect(text.startsWith('Faces/s of classifier graphs')).toBe(true);
    expect(text).toContain('node dist/bench/onnx-speed.js');
    expect(text).not.toMatch(/^\s*\*/m);
    expect(headerComment('const x = 1;\n/** not a header */')).toBe('');
  });

  it('lists options with their defaults', () => {
    expect(optionLines({ batch: { type: 'string', default: '64' }, 'write-cards': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } })).toEqual([
      '  --batch <value> (default "64")',
      '  --write-cards',
      '  -h, --help',
    ]);
  });

  it('a built benchmark prints its help and exits 0, and names a bad option with exit 2', () => {
    const script = join(root, 'dist', 'bench', 'onnx-speed.js');
    const help = execFileSync(process.execPath, [script, '--help'], { encoding: 'utf8' });
    expect(help).toContain('interleaved rounds');
    expect(help).toContain('--batch <value> (default "64")');
    const bad = spawnSync(process.execPath, [script, '--bacth', '32'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("onnx-speed.js: Unknown option '--bacth'");
  });
});
