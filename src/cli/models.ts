/**
 * `ferkit models`: the expression classifiers bundled with ferkit (`models/*.card.json` beside their `.onnx`), with
 * their card accuracy, size on disk and speed (when the card records one). Also the `--model` check every command
 * uses: an id that is neither bundled nor an `.onnx` path is a usage error listing the valid ids.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_CLASSIFIER, packageRoot } from '../node/models.js';
import { UsageError } from './usage.js';

/** One bundled classifier. */
export interface BundledModel {
  id: string;
  /** The ONNX file. */
  path: string;
  /** Size of the ONNX file on disk, bytes (`null` when the file is missing). */
  bytes: number | null;
  architecture: string | null;
  parameters: number | null;
  /** FER2013 PublicTest accuracy and macro-F1 from the card, or `null`. */
  accuracy: number | null;
  macroF1: number | null;
  /** Faces per second from the card (`speed.facesPerSecond` or `benchmark.facesPerSecond`), or `null`. */
  facesPerSecond: number | null;
  /** Whether this is the default classifier. */
  default: boolean;
  /** For an int8 variant (`quantization` in its card, from training/ferkit_train/quantize.py): the float model's id. */
  quantizedFrom: string | null;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** Reads every `models/<id>.card.json` of the ferkit package (sorted by id). Never throws for one bad card: it is left out. */
export function listBundledModels(defaultId: string = DEFAULT_CLASSIFIER): BundledModel[] {
  const dir = join(packageRoot(), 'models');
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.card.json')).sort();
  } catch {
    return [];
  }
  const out: BundledModel[] = [];
  for (const name of names) {
    let card: Record<string, unknown>;
    try {
      card = JSON.parse(readFileSync(join(dir, name), 'utf8')) as Record<string, unknown>;
    } catch {
      continue;
    }
    const id = typeof card.id === 'string' ? card.id : name.replace(/\.card\.json$/, '');
    const path = join(dir, name.replace(/\.card\.json$/, '.onnx'));
    let bytes: number | null = null;
    try { bytes = statSync(path).size; } catch { /* missing */ }
    const metrics = (card.metrics ?? {}) as Record<string, Record<string, unknown> | undefined>;
    const speed = (card.speed ?? card.benchmark ?? {}) as Record<string, unknown>;
    const quantization = card.quantization as { floatModel?: { id?: unknown } } | undefined;
    out.push({
      id, path, bytes,
      architecture: typeof card.architecture === 'string' ? card.architecture : null,
      parameters: num(card.parameters),
      accuracy: num(metrics.publicTest?.accuracy),
      macroF1: num(metrics.publicTest?.macroF1),
      facesPerSecond: num(speed.facesPerSecond),
      default: id === defaultId,
      quantizedFrom: typeof quantization?.floatModel?.id === 'string' ? quantization.floatModel.id : null,
    });
  }
  return out;
}

/** `--help` text of the `--model` option of `analyze`, `evaluate` and `video` (one place, so the three never disagree). */
export const MODEL_OPTION_HELP = 'expression classifier: a bundled id (ferkit models lists them: ferkit-resnet-s-int8-ensemble, the default: '
  + 'two int8 networks, one on the face, one on its mirror image; ferkit-resnet-s-int8, the better of the two alone, twice as fast; '
  + 'ferkit-resnet-s, its float network; ferkit-lite, for weak devices) or an .onnx path with its .card.json beside it';

/**
 * Checks a `--model` value: an `.onnx` path is accepted as it is (loading reports a missing file); anything else must
 * be a bundled id.
 * @throws {UsageError} naming the valid ids.
 */
export function checkModelOption(value: string): void {
  if (value.toLowerCase().endsWith('.onnx')) return;
  const ids = listBundledModels().map((m) => m.id);
  if (ids.includes(value)) return;
  throw new UsageError(`option '--model <id|path>': unknown model '${value}'; bundled: ${ids.join(', ') || '(none found)'}, `
    + 'or the path of an .onnx file with its .card.json beside it');
}

/** The table `ferkit models` prints. */
export function formatModelsTable(models: readonly BundledModel[]): string {
  const rows = [['id', 'accuracy', 'macro-F1', 'size', 'speed', 'architecture'], ...models.map((m) => [
    `${m.id}${m.default ? ' (default)' : ''}`,
    m.accuracy === null ? 'n/a' : `${(m.accuracy * 100).toFixed(1)}%`,
    m.macroF1 === null ? 'n/a' : m.macroF1.toFixed(3),
    m.bytes === null ? 'missing' : `${(m.bytes / 1e6).toFixed(2)} MB`,
    m.facesPerSecond === null ? 'n/a' : `${Math.round(m.facesPerSecond)} faces/s`,
    `${m.architecture ?? '?'}${m.parameters !== null ? `, ${(m.parameters / 1e6).toFixed(2)} M params` : ''}`,
  ])];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const lines = rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd());
  return `${lines.join('\n')}\n\naccuracy and macro-F1: FER2013 PublicTest, from each model's card (models/<id>.card.json); `
    + 'use one with --model <id>.';
}

/** Adds `ferkit models` to `program`. */
export function registerModelsCommand(program: Command, io: { stdout: { write(s: string): unknown } }, setExitCode: (code: number) => void): Command {
  return program
    .command('models')
    .summary('list the bundled expression classifiers with their accuracy, size and speed')
    .description('List the expression classifiers bundled with ferkit (models/*.card.json): id, FER2013 PublicTest accuracy '
      + 'and macro-F1 from the model card, size on disk, speed when the card records it.')
    .option('--json', 'print the list as JSON')
    .action((opts: { json?: boolean }) => {
      const models = listBundledModels();
      io.stdout.write(opts.json ? `${JSON.stringify(models, null, 2)}\n` : `${formatModelsTable(models)}\n`);
      setExitCode(0);
    });
}
