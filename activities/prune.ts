import { createHash } from 'node:crypto';
import { LifeboatError } from '../lib/errors';
import { keys, type Tombstone } from '../lib/manifest';
import type { BackupRef } from '../lib/retention/plan';
import { signatureKey, type Signer, type TrustedKey } from '../lib/signing';
import type { UntrustedItem } from './catalog-judge';
import { newestThere, readJournaledCatalog, readSourceCatalog, type ReadCatalogOptions, type SourceCatalog } from './catalog-index';
import { heldReason } from './locks';
import { putSigned } from './signed';
import type { ObjectInfo, StorageBackend } from './storage/backend';
import { readAll } from './storage/backend';

export interface Orphan {
  id: string;
  objects: number;
  bytes: number;
  /** Modification time of the newest object under the prefix. */
  newest: string;
  /** Multipart uploads (or temp files) still open under the prefix: a backup may be writing. */
  unfinishedUploads: number;
}

export interface RegionScan {
  backups: BackupRef[];
  /** Ids with at least one verify record whose outcome is "passed". */
  verified: string[];
  /** Prefixes that hold objects but no manifest: a crashed backup, a half-finished deletion, or one still running. */
  orphans: Orphan[];
  /** Manifests no trusted key signed: neither counted nor deleted, only reported (they may be an attack, or evidence). */
  untrusted: UntrustedItem[];
}

/** One listing of the source's prefix in one region: its backups, their verify records, and data without a manifest. */
export async function scanRegion(storage: StorageBackend, trusted: TrustedKey[], source: string, onManifest: () => void = () => {}, options: ReadCatalogOptions = {}): Promise<RegionScan> {
  if (options.listing === 'journal') {
    // A plan to show, not to act on: the signed index and its changes; data without a manifest is not looked for.
    const catalog = await readJournaledCatalog(storage, trusted, source);
    if (catalog && await newestThere(storage, catalog)) return scanOf(catalog);
  }
  const prefix = keys.sourcePrefix(source);
  const listing: ObjectInfo[] = [];
  const groups = new Map<string, { keys: string[]; bytes: number; newest: number }>();
  for await (const object of storage.list(prefix)) {
    listing.push(object);
    const id = object.key.slice(prefix.length).split('/')[0]!;
    // A tombstone alone is a backup retention deleted, not data without a manifest.
    if (object.key === keys.tombstone(source, id) || object.key === signatureKey(keys.tombstone(source, id))) continue;
    const group = groups.get(id) ?? { keys: [], bytes: 0, newest: 0 };
    group.keys.push(object.key);
    group.bytes += object.size;
    group.newest = Math.max(group.newest, object.modified.getTime());
    groups.set(id, group);
  }
  const unfinished = new Map<string, number>();
  for await (const upload of storage.listIncomplete(prefix)) {
    const id = upload.key.slice(prefix.length).split('/')[0]!;
    unfinished.set(id, (unfinished.get(id) ?? 0) + 1);
  }

  // The index vouches for what it judged before; a catalog of 20,000 is then read in seconds.
  const scan = scanOf(await readSourceCatalog(storage, trusted, source, listing, { ...options, listing: 'full', onRead: onManifest }));
  for (const [id, group] of groups) {
    if (group.keys.includes(keys.manifest(source, id))) continue;
    scan.orphans.push({ id, objects: group.keys.length, bytes: group.bytes, newest: new Date(group.newest).toISOString(), unfinishedUploads: unfinished.get(id) ?? 0 });
  }
  return scan;
}

function scanOf(catalog: SourceCatalog): RegionScan {
  const scan: RegionScan = { backups: [], verified: [], orphans: [], untrusted: catalog.untrustedManifests };
  for (const { manifest } of catalog.entries) {
    scan.backups.push({ id: manifest.id, finishedAt: manifest.finishedAt, parent: manifest.parent });
    if (catalog.records.get(manifest.id)?.some((record) => record.outcome === 'passed')) scan.verified.push(manifest.id);
  }
  return scan;
}

/**
 * Deletes one copy of a backup: the manifest first, so that from the first request on the backup
 * no longer exists for restore, sync or the catalog, then every object under its prefix. Deleting
 * again finds nothing and succeeds.
 */
export async function deleteBackupCopy(storage: StorageBackend, signer: Signer, source: string, id: string, reason = 'retention'): Promise<{ manifestRemoved: boolean; objects: number }> {
  const manifestKey = keys.manifest(source, id);
  const manifestRemoved = (await storage.stat(manifestKey)) !== undefined;
  const tombstoneKey = keys.tombstone(source, id);
  // A lock or a hold set after retention planned: refuse before anything changes, never retry into it.
  const held = manifestRemoved ? await heldReason(storage, keys.backupPrefix(source, id), Date.now(), [tombstoneKey, signatureKey(tombstoneKey)]) : undefined;
  if (held) {
    throw new LifeboatError('Locked', `${storage.location}: backup ${source}/${id} is ${held}; nothing of it was deleted`, 'retention deletes it once the lock expires or the hold is released');
  }
  if (manifestRemoved && !(await storage.stat(tombstoneKey))) {
    // The tombstone goes first: a retry after a crash between the two still finds the manifest,
    // and the tombstone written before (storage never overwrites it).
    const bytes = await readAll(await storage.get(manifestKey));
    const manifest = JSON.parse(bytes.toString('utf8')) as { finishedAt: string; previousManifestSha256: string | null };
    const tombstone: Tombstone = {
      format: 'lifeboat-tombstone/1', source, id, finishedAt: manifest.finishedAt,
      manifestSha256: createHash('sha256').update(bytes).digest('hex'), previousManifestSha256: manifest.previousManifestSha256,
      deletedAt: new Date().toISOString(), reason,
    };
    await putSigned(storage, tombstoneKey, Buffer.from(`${JSON.stringify(tombstone, null, 2)}\n`), signer);
  }
  await storage.remove(manifestKey);
  return { manifestRemoved, objects: (manifestRemoved ? 1 : 0) + (await removePrefix(storage, keys.backupPrefix(source, id), [tombstoneKey, signatureKey(tombstoneKey)])) };
}

/**
 * Removes data without a manifest, but only when it is clearly abandoned: still no manifest, no
 * open upload, and nothing under the prefix newer than graceMs. Checked again here, not trusted
 * from the plan, because a backup may have written its manifest in between.
 */
export async function removeOrphan(storage: StorageBackend, source: string, id: string, now: number, graceMs: number): Promise<{ objects: number; skipped?: string }> {
  const prefix = keys.backupPrefix(source, id);
  if (await storage.stat(keys.manifest(source, id))) return { objects: 0, skipped: 'it has a manifest now' };
  for await (const upload of storage.listIncomplete(prefix)) return { objects: 0, skipped: `an upload is still open (${upload.key})` };
  const tombstone = keys.tombstone(source, id);
  const kept = [tombstone, signatureKey(tombstone)];
  for await (const object of storage.list(prefix)) {
    if (!kept.includes(object.key) && now - object.modified.getTime() < graceMs) return { objects: 0, skipped: `${object.key} is younger than the grace period` };
  }
  const held = await heldReason(storage, prefix, now, kept);
  if (held) return { objects: 0, skipped: held };
  return { objects: await removePrefix(storage, prefix, kept) };
}

async function removePrefix(storage: StorageBackend, prefix: string, keep: string[] = []): Promise<number> {
  // Listed in full first: removing while paging through a listing can skip keys on some servers.
  const found: string[] = [];
  for await (const object of storage.list(prefix)) if (!keep.includes(object.key)) found.push(object.key);
  for (const key of found) await storage.remove(key);
  return found.length;
}
