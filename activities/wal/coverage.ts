import { continuity, parseWalName, walKeys, type Continuity } from '../../lib/wal';
import type { ObjectInfo, StorageBackend } from '../storage/backend';

export interface WalCoverage {
  /** Every archived WAL file of the source in the region, by file name. */
  files: Map<string, ObjectInfo>;
  /** Unbroken run of segments from `from`, and the gaps after it; null without a `from`. */
  continuity: Continuity | null;
  /** The newest segment stored (by position, any timeline) and when it arrived there: the region's real RPO. */
  newest: { name: string; modified: string } | null;
  /** When the last segment of the unbroken run arrived: the newest point recovery can reach from `from`. */
  reachableUntil: string | null;
}

/** One listing of a source's WAL in one region, and how far recovery from the segment `from` can go. */
export async function walCoverage(storage: StorageBackend, source: string, from?: string): Promise<WalCoverage> {
  const files = new Map<string, ObjectInfo>();
  for await (const object of storage.list(walKeys.prefix(source))) {
    const name = walKeys.fileName(source, object.key);
    if (name) files.set(name, object);
  }
  let newest: WalCoverage['newest'] = null;
  let newestPosition: [number, number] = [-1, -1];
  for (const [name, info] of files) {
    const parsed = parseWalName(name);
    if (parsed?.kind !== 'segment') continue;
    if (parsed.segment > newestPosition[1] || (parsed.segment === newestPosition[1] && parsed.timeline > newestPosition[0])) {
      newestPosition = [parsed.timeline, parsed.segment];
      newest = { name, modified: info.modified.toISOString() };
    }
  }
  const run = from ? continuity(files.keys(), from) : null;
  const last = run?.contiguousThrough ? files.get(run.contiguousThrough) : undefined;
  return { files, continuity: run, newest, reachableUntil: last ? last.modified.toISOString() : null };
}
