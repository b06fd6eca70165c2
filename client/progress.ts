import type { Output } from './output';

/**
 * Until `result` settles, asks `lines` once a second for what is going on (one line per key) and
 * notes on stderr each line that changed. Progress is best effort: a failed poll shows nothing.
 */
export async function noteProgress(result: Promise<unknown>, lines: () => Promise<Array<[key: string, line: string]>>, out: Output): Promise<void> {
  let done = false;
  const settled = result.then(() => { done = true; }, () => { done = true; });
  const shown = new Map<string, string>();
  while (!done) {
    await Promise.race([settled, new Promise((resolve) => setTimeout(resolve, 1000))]);
    if (done) break;
    for (const [key, line] of await lines().catch(() => [])) {
      if (shown.get(key) === line) continue;
      shown.set(key, line);
      out.note(line);
    }
  }
}
