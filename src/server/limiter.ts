/**
 * A concurrency limit with a bounded queue: at most `concurrency` tasks run at once, at most `queueLimit` wait;
 * beyond that a task is refused at once (the server answers 503 with Retry-After) instead of piling up.
 */
import { HttpProblem } from './problem.js';

/** Counters of a {@link Limiter}. */
export interface LimiterStats { running: number; queued: number; refused: number; completed: number }

/** See the module comment. Create one per server (no shared state between servers). */
export class Limiter {
  private running = 0;
  private refused = 0;
  private completed = 0;
  private readonly waiting: (() => void)[] = [];

  /**
   * @param concurrency - tasks that may run at once (≥ 1).
   * @param queueLimit - tasks that may wait (≥ 0).
   * @param retryAfterS - value of the Retry-After header of the refusal, seconds.
   */
  constructor(readonly concurrency: number, readonly queueLimit: number, readonly retryAfterS = 2) {
    if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new RangeError(`concurrency must be an integer ≥ 1, got ${concurrency}`);
    if (!(Number.isInteger(queueLimit) && queueLimit >= 0)) throw new RangeError(`queueLimit must be an integer ≥ 0, got ${queueLimit}`);
  }

  /**
   * Runs `task` when a slot is free.
   * @throws {HttpProblem} 503 `E_BUSY` with `Retry-After` when every slot is busy and the queue is full.
   */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.queueLimit) {
        this.refused++;
        throw new HttpProblem(503, 'E_BUSY', `busy: ${this.running} analyses running and ${this.waiting.length} queued (limits ${this.concurrency} and ${this.queueLimit}: --workers); retry after ${this.retryAfterS} s`,
          { 'Retry-After': String(this.retryAfterS) });
      }
      await new Promise<void>((ok) => this.waiting.push(ok));
    } else {
      this.running++;
    }
    try {
      return await task();
    } finally {
      this.completed++;
      const next = this.waiting.shift();
      if (next) next(); // the slot passes to the next task
      else this.running--;
    }
  }

  stats(): LimiterStats {
    return { running: this.running, queued: this.waiting.length, refused: this.refused, completed: this.completed };
  }
}
