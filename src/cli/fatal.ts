/**
 * How a command reports the error that ended it: one line on stderr and the exit code. Shared by every command.
 */
import { FerkitError } from '../core/errors.js';
import { EXIT, UsageError } from './usage.js';

/**
 * Prints `err` through `say` and returns the exit code.
 * - {@link UsageError}: `error: message`; exit 2.
 * - `FerkitError`: `error: CODE message` (the message names the file); exit 2 for `E_OPTION`, 3 for `E_OUTPUT`, else 1.
 * - A closed stdout (EPIPE): a short note; exit 3 (output lost).
 * - Anything else is a bug: `internal error` with the stack; exit 1.
 */
export function reportFatal(err: unknown, say: (line: string) => void): number {
  if (err instanceof UsageError) {
    say(`error: ${err.message}`);
    return EXIT.USAGE;
  }
  if (err instanceof FerkitError) {
    say(`error: ${err.code} ${err.message}`);
    return err.code === 'E_OPTION' ? EXIT.USAGE : err.code === 'E_OUTPUT' ? EXIT.OUTPUT_FAILED : EXIT.INPUT_FAILED;
  }
  if ((err as NodeJS.ErrnoException | undefined)?.code === 'EPIPE') {
    say('ferkit: output closed early (EPIPE); stopped');
    return EXIT.OUTPUT_FAILED;
  }
  say(`ferkit: internal error: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  return EXIT.INPUT_FAILED;
}
