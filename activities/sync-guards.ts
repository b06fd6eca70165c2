import { createHash } from 'node:crypto';
import { LifeboatError } from '../lib/errors';
import { keys } from '../lib/manifest';
import { isOwnObjectKey, isSegment } from '../lib/manifest-schema';
import { readAll, type StorageBackend } from './storage/backend';

// Sync writes into every region, so one forged manifest would otherwise spread into all of them:
// naming another source's objects or `_wal/` to overwrite them, or replacing a region's own copy.
// Readers already refuse a manifest that names keys outside its backup (parseManifest); these
// checks stand beside that where sync writes, and nothing that is already stored is replaced.

const foreignHint = 'the manifest that names it is forged or damaged: nothing was written; take it as an incident and compare the regions ("lifeboat backups list")';

/** `<source>/<id>/`, once both are checked to be one path segment each. */
export function ownPrefix(source: string, backupId: string): string {
  if (!isSegment(source) || !isSegment(backupId)) {
    throw new LifeboatError('Untrusted', `refusing to sync ${JSON.stringify(`${source}/${backupId}`)}: a source and a backup id are one path segment each`, foreignHint);
  }
  return keys.backupPrefix(source, backupId);
}

/** Refuses (Untrusted, never retried) an object key that is not a data object directly under `<source>/<id>/`. */
export function refuseForeignKey(source: string, backupId: string, key: string): void {
  const prefix = ownPrefix(source, backupId);
  if (!isOwnObjectKey(prefix, key)) {
    throw new LifeboatError('Untrusted', `refusing to copy ${key} as part of backup ${source}/${backupId}: sync writes only data objects under ${prefix}`, foreignHint);
  }
}

/** What an object of the destination that holds other bytes than the home region's is reported as. */
export function heldOtherBytes(storage: StorageBackend, key: string, what: string): LifeboatError {
  return new LifeboatError('AlreadyExists', `${storage.location}: refusing to overwrite ${key}: it holds other bytes (${what})`,
    'sync never overwrites a copy: verify this region ("lifeboat verify SOURCE --region REGION"), find out who wrote the stored object, and remove it by hand only once you know which copy is right');
}

/** Writes bytes at key unless they are there already; other bytes there stay, and fail with AlreadyExists. */
export async function writeOnce(storage: StorageBackend, key: string, bytes: Buffer): Promise<void> {
  if (await storage.stat(key)) {
    const stored = await readAll(await storage.get(key));
    if (stored.equals(bytes)) return;
    throw heldOtherBytes(storage, key, `${stored.length} bytes, sha256 ${sha256Of(stored).slice(0, 16)}…; the home region's are ${bytes.length} bytes, sha256 ${sha256Of(bytes).slice(0, 16)}…`);
  }
  await storage.put(key, bytes);
}

export function sha256Of(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
