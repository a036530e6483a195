/**
 * Command-line options of the benchmark scripts: `node:util`'s `parseArgs` plus `--help` / `-h`, which prints the
 * script's own header comment (what it measures, how to run it, what it writes) and its options with their defaults,
 * and a one-line error (exit 2) instead of a stack trace for an unknown or malformed option.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ParseArgsConfig, parseArgs } from 'node:util';

/** The first `/** … *\/` block of a source file, without its comment markup; '' when there is none. */
export function headerComment(source: string): string {
  const m = /^\s*(?:#![^\n]*\n)?\s*\/\*\*([\s\S]*?)\*\//.exec(source);
  if (!m) return '';
  return m[1]!
    .split('\n')
    .map((line) => line.replace(/^\s*\* ?/, ''))
    .join('\n')
    .trim();
}

/** `--name <value> (default …)` lines for a parseArgs option table. */
export function optionLines(options: ParseArgsConfig['options']): string[] {
  return Object.entries(options ?? {}).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ' <value>' : ''}`;
    const dflt = o.default === undefined ? '' : ` (default ${JSON.stringify(o.default)})`;
    return `  ${flag}${dflt}`;
  });
}

/**
 * Parses `process.argv` (or `config.args`) like `parseArgs(config)`. With `--help` or `-h` it prints the header comment
 * of the script at `moduleUrl` (pass `import.meta.url`) and the option list, then exits 0; a parse error is printed as
 * one line naming the script and exits 2.
 */
export function benchArgs<T extends ParseArgsConfig>(moduleUrl: string, config: T): ReturnType<typeof parseArgs<T>> {
  const argv = config.args ?? process.argv.slice(2);
  const file = fileURLToPath(moduleUrl);
  if (argv.includes('--help') || argv.includes('-h')) {
    const lines = optionLines(config.options);
    process.stdout.write(`${headerComment(readFileSync(file, 'utf8'))}\n${lines.length ? `\nOptions:\n${lines.join('\n')}\n` : ''}`);
    process.exit(0);
  }
  try {
    return parseArgs(config);
  } catch (err) {
    process.stderr.write(`${basename(file)}: ${(err as Error).message} (--help lists the options)\n`);
    process.exit(2);
  }
}
