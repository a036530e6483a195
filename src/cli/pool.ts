/**
 * Ordered concurrent processing of a stream: up to `concurrency` items run at once, results come out in input order,
 * and at most `4 × concurrency` items are held (so memory stays flat for 100k files).
 */

/** Options of {@link orderedPool}. */
export interface PoolOptions {
  /** Items processed at the same time (≥ 1). */
  concurrency: number;
  /** Checked before each new item is taken; `true` stops taking items (those started still finish and are emitted). */
  shouldStop?: () => boolean;
}

/**
 * Runs `work` over `source` and calls `emit` with each result in source order.
 * `work` must not reject (turn per-item failures into results); if it or `emit` does, the pool waits for the items
 * already started, then rejects with that error.
 */
export async function orderedPool<T, R>(
  source: AsyncIterable<T>,
  work: (item: T) => Promise<R>,
  emit: (result: R, item: T) => Promise<void>,
  options: PoolOptions,
): Promise<void> {
  const { concurrency } = options;
  const window: { item: T; result: Promise<R> }[] = [];
  let running = 0;
  const waiters: (() => void)[] = [];
  const acquire = async (): Promise<void> => {
    while (running >= concurrency) await new Promise<void>((resolve) => waiters.push(resolve));
    running++;
  };
  const release = (): void => {
    running--;
    waiters.shift()?.();
  };
  const start = async (item: T): Promise<R> => {
    await acquire();
    try {
      return await work(item);
    } finally {
      release();
    }
  };
  let failure: unknown;
  try {
    for await (const item of source) {
      if (options.shouldStop?.()) break;
      const result = start(item);
      result.catch(() => undefined); // awaited below, in order; avoid an unhandled rejection meanwhile
      window.push({ item, result });
      if (window.length >= concurrency * 4) {
        const head = window.shift()!;
        await emit(await head.result, head.item);
      }
    }
    while (window.length > 0) {
      const head = window.shift()!;
      await emit(await head.result, head.item);
    }
  } catch (err) {
    failure = err;
  }
  if (failure !== undefined) {
    await Promise.allSettled(window.map((w) => w.result));
    throw failure;
  }
}
