import { keys } from '../lib/manifest';
import { parseManifest } from '../lib/manifest-schema';
import type { TrustedKey } from '../lib/signing';
import { inBatches, type CatalogEntry } from './catalog-judge';
import { readSourceCatalog, type ReadCatalogOptions } from './catalog-index';
import { readSigned } from './signed';
import type { ObjectInfo, StorageBackend } from './storage/backend';
import type { BackupRef, BackupToCopy, DivergentCopy } from './sync-types';
import { sha256Of } from './sync-guards';

export interface Classified {
  present: BackupRef[];
  missing: BackupToCopy[];
  divergent: DivergentCopy[];
}

/** A destination manifest as read: the hash of its bytes, and why it is not trusted (if it is not). */
interface CopyThere {
  sha256: string;
  problem?: string;
  keyId?: string;
}

/**
 * Sorts the home region's backups by what the destination holds of them. One listing gives every
 * key and size there; the destination's index vouches for the manifests it holds unchanged, and
 * the rest are read, 16 at a time.
 */
export async function classify(home: CatalogEntry[], destination: StorageBackend, trusted: TrustedKey[], source: string, from: string, options: ReadCatalogOptions = {}): Promise<Classified> {
  const listing: ObjectInfo[] = [];
  for await (const object of destination.list(keys.sourcePrefix(source))) listing.push(object);
  const sizes = new Map(listing.map((object) => [object.key, object.size]));
  const catalog = await readSourceCatalog(destination, trusted, source, listing, options);
  const there = new Map<string, CopyThere>(catalog.entries.map(({ manifest, manifestSha256, keyId }) => [keys.manifest(source, manifest.id), { sha256: manifestSha256, keyId }]));
  // An untrusted copy is read again for its hash: the report names both sides.
  const wanted = new Set(home.map((entry) => keys.manifest(source, entry.manifest.id)));
  await inBatches(catalog.untrustedManifests.filter((item) => wanted.has(item.key)), async ({ key }) => there.set(key, await readCopy(destination, trusted, key)));

  const result: Classified = { present: [], missing: [], divergent: [] };
  for (const { manifest, manifestSha256 } of home) {
    const ref = { id: manifest.id, finishedAt: manifest.finishedAt };
    const copy = there.get(keys.manifest(source, manifest.id));
    if (!copy) {
      // Retention pruned this backup here on purpose: copying it back would undo that every run.
      if (!sizes.has(keys.tombstone(source, manifest.id))) result.missing.push({ ...ref, manifestSha256, objects: manifest.objects, repair: false });
      continue;
    }
    if (copy.problem !== undefined || copy.sha256 !== manifestSha256) {
      const reason = copy.problem !== undefined
        ? `its manifest there is not trusted: ${copy.problem}`
        : `its manifest there (sha256 ${copy.sha256.slice(0, 16)}…, signed by ${copy.keyId}) differs from the one in ${from} (sha256 ${manifestSha256.slice(0, 16)}…)`;
      result.divergent.push({ ...ref, homeManifestSha256: manifestSha256, manifestSha256: copy.sha256, reason, trusted: copy.problem === undefined });
      continue;
    }
    // The same manifest: whole when every object has its size (bytes are verify's to prove);
    // otherwise the absent objects are copied again, and the copy never touches one that is there.
    if (manifest.objects.every((object) => sizes.get(object.key) === object.size)) result.present.push(ref);
    else result.missing.push({ ...ref, manifestSha256, objects: manifest.objects, repair: true });
  }
  return result;
}

async function readCopy(storage: StorageBackend, trusted: TrustedKey[], key: string): Promise<CopyThere> {
  const { bytes, verdict } = await readSigned(storage, key, trusted);
  const parsed = parseManifest(bytes, key);
  if ('problem' in parsed) return { sha256: sha256Of(bytes), problem: parsed.problem };
  if (!verdict.trusted) return { sha256: sha256Of(bytes), problem: verdict.reason };
  return { sha256: sha256Of(bytes), keyId: verdict.keyId };
}
