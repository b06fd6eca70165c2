import { readManifest } from './catalog';
import type { StorageBackend } from './storage/backend';

/** What metrics and objective checks need of one backup: no object list, no description. */
export interface BackupFacts {
  id: string;
  source: string;
  startedAt: string;
  finishedAt: string;
  /** All its objects, as the manifest records them. */
  bytes: number;
  parent: string | null;
}

/**
 * Reads one region's catalog, keeping what it read: a manifest never changes once written, so a
 * reader that runs every few minutes fetches only the manifests that are new since last time.
 */
export function catalogFacts(storage: StorageBackend): () => Promise<BackupFacts[]> {
  const known = new Map<string, BackupFacts>();
  return async () => {
    const seen = new Set<string>();
    for await (const object of storage.list('')) {
      if (!object.key.endsWith('/manifest.json')) continue;
      seen.add(object.key);
      if (known.has(object.key)) continue;
      const { manifest } = await readManifest(storage, object.key);
      known.set(object.key, {
        id: manifest.id,
        source: manifest.source,
        startedAt: manifest.startedAt,
        finishedAt: manifest.finishedAt,
        bytes: manifest.objects.reduce((sum, o) => sum + o.size, 0),
        parent: manifest.parent,
      });
    }
    // Deleted by retention: forget it, or it would count for ever.
    for (const key of known.keys()) if (!seen.has(key)) known.delete(key);
    return [...known.values()].sort((a, b) => a.finishedAt.localeCompare(b.finishedAt) || a.id.localeCompare(b.id));
  };
}
