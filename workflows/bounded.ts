/**
 * At most `limit` of the calls run at once; the rest wait in call order. Plain promises, so it
 * replays deterministically in workflow code.
 */
export function bounded(limit: number): <T>(call: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async (call) => {
    while (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    running += 1;
    try {
      return await call();
    } finally {
      running -= 1;
      waiting.shift()?.();
    }
  };
}
