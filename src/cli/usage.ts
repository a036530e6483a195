/**
 * Exit codes and the usage error shared by every command. Documented in docs/cli-safety.md.
 */

/** ferkit's exit codes. */
export const EXIT = Object.freeze({
  /** Every input was analysed and every output written. */
  OK: 0,
  /** At least one input failed (each is listed on stderr), or the run stopped on a model/runtime error. */
  INPUT_FAILED: 1,
  /** A bad command line: unknown option, bad value, an output that would overwrite an input or a foreign file. */
  USAGE: 2,
  /** An output could not be written or was lost: disk full, folder not creatable, locked by another run, stdout closed early. */
  OUTPUT_FAILED: 3,
  /** Interrupted by SIGINT/SIGTERM (the outputs are either complete or untouched; see each command). */
  INTERRUPTED: 130,
});

/** A bad command line: printed as one `error: …` line, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
