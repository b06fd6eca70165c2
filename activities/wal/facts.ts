import { isPhysical, keys } from '../../lib/manifest';
import { readManifest } from '../catalog';
import type { TrustedKey } from '../../lib/signing';
import type { StorageBackend } from '../storage/backend';
import { walCoverage } from './coverage';
import type { BaseBackupRef } from './region-state';

/** What the metrics need of a source's WAL in one region. */
export interface WalFacts {
  /** Arrival of the newest segment (Unix ms): now minus this is the region's real RPO. */
  newestAt: number | null;
  /** Segments missing after the newest base backup's start; null without a base backup to count from. */
  gapSegments: number | null;
}

/**
 * Reads one region's WAL of a source, keeping the manifests it read (they never change), so a
 * reader that runs every minute lists the objects but fetches only new manifests.
 */
export function walFacts(storage: StorageBackend, trusted: TrustedKey[], source: string): () => Promise<WalFacts> {
  const bases = new Map<string, BaseBackupRef | null>();
  return async () => {
    const seen = new Set<string>();
    for await (const object of storage.list(keys.sourcePrefix(source))) {
      if (!object.key.endsWith('/manifest.json')) continue;
      seen.add(object.key);
      if (bases.has(object.key)) continue;
      const { manifest } = await readManifest(storage, trusted, object.key);
      bases.set(object.key, isPhysical(manifest.description)
        ? { id: manifest.id, finishedAt: manifest.finishedAt, startWalFile: manifest.description.startWalFile, timeline: manifest.description.timeline }
        : null);
    }
    for (const key of bases.keys()) if (!seen.has(key)) bases.delete(key);
    const base = [...bases.values()].filter((b): b is BaseBackupRef => b !== null)
      .sort((a, b) => a.finishedAt.localeCompare(b.finishedAt) || a.id.localeCompare(b.id)).at(-1);
    const coverage = await walCoverage(storage, source, base?.startWalFile);
    return {
      newestAt: coverage.newest ? Date.parse(coverage.newest.modified) : null,
      gapSegments: coverage.continuity ? coverage.continuity.gaps.reduce((sum, gap) => sum + gap.missing, 0) : null,
    };
  };
}
