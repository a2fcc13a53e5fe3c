/** Resolves on the next turn of the event loop, after pending I/O callbacks and timers. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

/**
 * Runs `work` on consecutive slices of at most `size` items, one slice at a time, and yields
 * to the event loop between slices, so bulk work (thousands of sessions) never holds the
 * process or floods a server: requests keep being answered while it runs. Results keep the
 * order of the items.
 */
export async function inBatches<T, R>(
  items: readonly T[],
  size: number,
  work: (batch: T[]) => Promise<R[]>,
): Promise<R[]> {
  const results: R[] = []
  for (let start = 0; start < items.length; start += size) {
    if (start > 0) await yieldToEventLoop()
    results.push(...(await work(items.slice(start, start + size))))
  }
  return results
}
