/**
 * How a command reports the error that ended it: one line on stderr and the exit code
 * (2 for a bad option, 1 for anything else). Shared by every command.
 */
import { FerkitError } from '../core/errors.js';

/**
 * Prints `err` through `say` and returns the exit code.
 * - `FerkitError`: `error: CODE message` (the message names the file); exit 2 for `E_OPTION`, else 1.
 * - A closed stdout (EPIPE): a short note; exit 1.
 * - Anything else is a bug: `internal error` with the stack; exit 1.
 */
export function reportFatal(err: unknown, say: (line: string) => void): number {
  if (err instanceof FerkitError) {
    say(`error: ${err.code} ${err.message}`);
    return err.code === 'E_OPTION' ? 2 : 1;
  }
  if ((err as NodeJS.ErrnoException | undefined)?.code === 'EPIPE') {
    say('ferkit: output closed early (EPIPE); stopped');
    return 1;
  }
  say(`ferkit: internal error: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  return 1;
}
