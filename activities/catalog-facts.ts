import { judgeManifest } from './catalog';
import type { TrustedKey } from '../lib/signing';
import type { StorageBackend } from './storage/backend';
import { readRecord, summarize, verifiedBackupPrefix, type VerifiedSummary } from './verify-catalog';

/** What metrics and objective checks need of one backup: no object list, no description. */
export interface BackupFacts {
  id: string;
  source: string;
  startedAt: string;
  finishedAt: string;
  /** All its objects, as the manifest records them. */
  bytes: number;
  parent: string | null;
  /** What verifyRestore recorded for it in this region, oldest first. */
  verifications: VerifiedSummary[];
}

/**
 * Reads one region's catalog, keeping what it read: a manifest never changes once written, so a
 * reader that runs every few minutes fetches only the manifests that are new since last time.
 */
export function catalogFacts(storage: StorageBackend, trusted: TrustedKey[]): () => Promise<BackupFacts[]> {
  const known = new Map<string, Omit<BackupFacts, 'verifications'>>();
  // Records never change either; one that does not parse is kept as null and proves nothing.
  const records = new Map<string, VerifiedSummary | null>();
  return async () => {
    const seen = new Set<string>();
    for await (const object of storage.list('')) {
      if (verifiedBackupPrefix(object.key)) {
        seen.add(object.key);
        if (!records.has(object.key)) {
          const read = await readRecord(storage, trusted, object.key);
          records.set(object.key, summarize('record' in read ? read.record : undefined));
        }
        continue;
      }
      if (!object.key.endsWith('/manifest.json')) continue;
      seen.add(object.key);
      if (known.has(object.key)) continue;
      const judged = await judgeManifest(storage, trusted, object.key);
      // An untrusted manifest is no backup: not in the gauges (status and the alerts report it).
      if ('untrusted' in judged) continue;
      const { manifest } = judged.entry;
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
    for (const key of records.keys()) if (!seen.has(key)) records.delete(key);
    const byBackup = new Map<string, VerifiedSummary[]>();
    for (const [key, summary] of records) {
      if (!summary) continue;
      const prefix = verifiedBackupPrefix(key)!;
      byBackup.set(prefix, [...(byBackup.get(prefix) ?? []), summary]);
    }
    return [...known.values()]
      .map((facts) => ({ ...facts, verifications: (byBackup.get(`${facts.source}/${facts.id}/`) ?? []).sort((a, b) => a.at.localeCompare(b.at)) }))
      .sort((a, b) => a.finishedAt.localeCompare(b.finishedAt) || a.id.localeCompare(b.id));
  };
}
