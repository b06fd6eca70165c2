import { LifeboatError } from '../lib/errors';
import type { Manifest, StoredObject, Tombstone } from '../lib/manifest';
import type { CheckOutcome } from '../lib/verify';
import { listTombstones, readManifest, scanCatalog, type CatalogEntry, type UntrustedItem } from './catalog';
import { backupOfKey } from '../lib/manifest-schema';
import type { TrustedKey } from '../lib/signing';
import { keys } from '../lib/manifest';
import { toolVersion } from './pipeline/versions';
import { verifyObject } from './restore-stream';
import type { StorageBackend } from './storage/backend';

export interface IntegrityResult {
  checks: CheckOutcome[];
  /** Stored bytes read and proven. */
  bytes: number;
  tools: Record<string, string>;
}

// What a damaged backup looks like to the restore pipeline. These become failed checks; anything
// else (storage down, a worker without the key) is thrown, so Temporal retries or the run fails.
const damage = new Set(['ChecksumMismatch', 'BackupNotFound', 'ToolFailed']);

/**
 * Level 1 of a verification: every object of the backup (for files, of every backup in the chain
 * it needs) hashed, sized, decrypted and test-decompressed to nowhere, and each of those manifests
 * linked to the stored bytes of the one before it. Writes nothing anywhere.
 */
export async function checkIntegrity(storage: StorageBackend, trusted: TrustedKey[], source: string, backupId: string, identity: string): Promise<IntegrityResult> {
  const { entries: catalog, untrusted } = await scanCatalog(storage, trusted, source);
  const position = catalog.findIndex((entry) => entry.manifest.id === backupId);
  if (position < 0) {
    // An untrusted manifest is reported as such (Untrusted), never hashed as if it were a backup.
    if (await storage.stat(keys.manifest(source, backupId))) await readManifest(storage, trusted, keys.manifest(source, backupId));
    throw new LifeboatError('BackupNotFound', `no backup ${backupId} of ${source} in ${storage.location}`, `run "lifeboat backups list --source ${source}"`);
  }
  const checks: CheckOutcome[] = [];
  const chain = chainIn(catalog, catalog[position]!.manifest, checks);
  const tombstones = await listTombstones(storage, trusted, source);
  let bytes = 0;
  for (const member of chain) {
    checks.push(chainLink(catalog, tombstones, member, untrusted));
    for (const object of member.objects) {
      const outcome = await checkObject(storage, object, member.id, identity);
      checks.push(outcome);
      if (outcome.ok) bytes += object.size;
    }
  }
  const [zstd, age] = await Promise.all([toolVersion('zstd'), toolVersion('age')]);
  return { checks, bytes, tools: { zstd, age } };
}

/** The backups a restore of `manifest` needs, full first; a missing parent becomes a failed check. */
function chainIn(catalog: CatalogEntry[], manifest: Manifest, checks: CheckOutcome[]): Manifest[] {
  const byId = new Map(catalog.map((entry) => [entry.manifest.id, entry.manifest]));
  const chain = [manifest];
  while (chain[0]!.parent) {
    const parent = byId.get(chain[0]!.parent);
    if (!parent) {
      checks.push({ name: `parent of ${chain[0]!.id}`, ok: false, detail: `backup ${chain[0]!.parent}, which ${chain[0]!.id} builds on, is missing` });
      break;
    }
    chain.unshift(parent);
  }
  return chain;
}

/**
 * previousManifestSha256 against the stored bytes of the manifest before it. Backups retention
 * deleted in between are bridged by their tombstones (each holds the deleted manifest's hash and
 * its own link), so a pruned history still proves itself; a rewritten manifest does not.
 */
export function chainLink(catalog: CatalogEntry[], tombstones: Tombstone[], manifest: Manifest, untrusted: UntrustedItem[]): CheckOutcome {
  const name = `manifest chain ${manifest.id}`;
  const position = catalog.findIndex((entry) => entry.manifest.id === manifest.id);
  const previous = catalog[position - 1];
  let recorded = manifest.previousManifestSha256;
  const bridged: string[] = [];
  // Walk back through the deleted backups between `previous` and this one, newest first.
  for (;;) {
    if (previous && recorded === previous.manifestSha256) break;
    const deleted = tombstones.find((t) => t.manifestSha256 === recorded && t.finishedAt < manifest.finishedAt && (!previous || t.finishedAt > previous.manifest.finishedAt));
    if (!deleted || bridged.includes(deleted.id)) break;
    bridged.push(deleted.id);
    recorded = deleted.previousManifestSha256;
  }
  const via = bridged.length > 0 ? `, across ${bridged.length} backup(s) deleted by retention (${bridged.join(', ')})` : '';
  // What it chains to may be there but untrusted (rewritten, re-signed by another key): a broken link, never "nothing to compare with".
  // Ids sort by start second, then a random tail: two backups started in one second may sort
  // either way, so "between" compares the seconds, and counts those of the same second as between.
  const between = untrusted.filter((item) => {
    const id = backupOfKey(item.key)?.id ?? '';
    if (id === manifest.id) return false;
    return secondOf(id) <= secondOf(manifest.id) && (!previous || (id !== previous.manifest.id && secondOf(id) >= secondOf(previous.manifest.id)));
  }).at(-1);
  if (between && recorded !== null && recorded !== previous?.manifestSha256) {
    return { name, ok: false, detail: `the manifest before it is not trusted: ${between.key}: ${between.reason}` };
  }
  if (!previous) {
    if (recorded === null) return { name, ok: true, detail: `first backup of the source${via}` };
    return { name, ok: true, detail: `no earlier manifest stored to compare with${via}` };
  }
  if (recorded === previous.manifestSha256) return { name, ok: true, detail: `links to ${previous.manifest.id} (sha256 ${recorded.slice(0, 16)}…)${via}` };
  return {
    name,
    ok: false,
    detail: `expected previousManifestSha256 ${recorded === null ? 'null' : `${recorded.slice(0, 16)}…`}, found the stored manifest of ${previous.manifest.id} hashes to ${previous.manifestSha256.slice(0, 16)}…`,
  };
}

/** The start second a backup id begins with ("20261129T123456Z"). */
function secondOf(id: string): string {
  return id.split('-')[0]!;
}

async function checkObject(storage: StorageBackend, object: StoredObject, backupId: string, identity: string): Promise<CheckOutcome> {
  const name = `object ${object.key}`;
  const stat = await storage.stat(object.key);
  if (!stat) return { name, ok: false, detail: `${object.key} is missing from ${storage.location} (expected ${object.size} bytes)` };
  try {
    await verifyObject(storage, object, identity, `backup ${backupId}`);
  } catch (error) {
    // The check's name already says which object; the restore pipeline's message starts with it too.
    if (error instanceof LifeboatError && damage.has(error.type)) return { name, ok: false, detail: error.message.replace(`${object.key}: `, '') };
    throw error;
  }
  return { name, ok: true, detail: `sha256 ${object.sha256.slice(0, 16)}… and ${object.size} bytes match; decrypts and decompresses` };
}
