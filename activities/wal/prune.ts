import { LifeboatError } from '../../lib/errors';
import { isPhysical, keys, type PostgresPhysicalDescription } from '../../lib/manifest';
import { parseWalName, walKeys } from '../../lib/wal';
import { readManifest } from '../catalog';
import type { TrustedKey } from '../../lib/signing';
import type { StorageBackend } from '../storage/backend';

export interface WalPrunePlan {
  /** The startWalFile of the oldest kept base backup: nothing before it is needed; null with no base backup kept (nothing goes). */
  keepFrom: string | null;
  /** Segments and .backup files before keepFrom on its timeline or an earlier one, in WAL order. */
  files: string[];
}

/**
 * Which archived WAL no kept base backup needs. Recovery starts at a base backup's start segment,
 * so the oldest kept one bounds what is needed; .history files are tiny and recovery reads them
 * to follow timelines, so they always stay. Without a kept base backup nothing is deleted: the
 * WAL may be all that is left.
 */
export async function planWalPrune(storage: StorageBackend, trusted: TrustedKey[], source: string, keptIds: string[], onListed: (listed: number) => void = () => {}): Promise<WalPrunePlan> {
  const starts: Array<{ finishedAt: string; description: PostgresPhysicalDescription }> = [];
  for (const id of keptIds) {
    const { manifest } = await readManifest(storage, trusted, keys.manifest(source, id));
    if (isPhysical(manifest.description)) starts.push({ finishedAt: manifest.finishedAt, description: manifest.description });
  }
  const oldest = starts.sort((a, b) => a.finishedAt.localeCompare(b.finishedAt))[0]?.description;
  if (!oldest) return { keepFrom: null, files: [] };
  const from = parseWalName(oldest.startWalFile, oldest.walSegmentBytes)!;
  const files: string[] = [];
  let listed = 0;
  for await (const object of storage.list(walKeys.prefix(source))) {
    onListed(++listed);
    const name = walKeys.fileName(source, object.key);
    const parsed = name ? parseWalName(name, oldest.walSegmentBytes) : undefined;
    if (!parsed || parsed.kind === 'history') continue;
    if (parsed.timeline <= from.timeline && parsed.segment < from.segment) files.push(parsed.name);
  }
  return { keepFrom: oldest.startWalFile, files: files.sort() };
}

/** Oldest first; stops at the first file S3 Object Lock still protects (the newer ones were locked later still). */
export async function deleteWalFiles(storage: StorageBackend, source: string, files: string[], onDeleted: (deleted: number) => void = () => {}): Promise<number> {
  let deleted = 0;
  for (const name of files) {
    try {
      await storage.remove(walKeys.object(source, name));
      await storage.remove(walKeys.record(source, name));
    } catch (error) {
      if (error instanceof LifeboatError && error.type === 'Locked') break;
      throw error;
    }
    deleted += 1;
    onDeleted(deleted);
  }
  return deleted;
}
