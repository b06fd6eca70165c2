import { createHash } from 'node:crypto';
import { LifeboatError } from '../lib/errors';
import { keys, MANIFEST_FORMAT, type Manifest, type Tombstone } from '../lib/manifest';
import { readAll, type StorageBackend } from './storage/backend';

export interface CatalogEntry {
  manifest: Manifest;
  /** SHA-256 of the manifest's bytes as stored: what the next manifest chains to. */
  manifestSha256: string;
}

/** Every backup of one source (or all sources) in one region, oldest first. */
export async function listBackups(storage: StorageBackend, source?: string): Promise<CatalogEntry[]> {
  const entries: CatalogEntry[] = [];
  for await (const object of storage.list(source ? keys.sourcePrefix(source) : '')) {
    if (!object.key.endsWith('/manifest.json')) continue;
    entries.push(await readManifest(storage, object.key));
  }
  // Ids sort by start second only; the finish time (ms) orders backups taken within one second.
  return entries.sort((a, b) => a.manifest.finishedAt.localeCompare(b.manifest.finishedAt) || a.manifest.id.localeCompare(b.manifest.id));
}

export async function readManifest(storage: StorageBackend, key: string): Promise<CatalogEntry> {
  const bytes = await readAll(await storage.get(key));
  let manifest: Manifest;
  try {
    manifest = JSON.parse(bytes.toString('utf8')) as Manifest;
  } catch {
    throw new LifeboatError('ChecksumMismatch', `${storage.location}: ${key} is not valid JSON`, 'the manifest is damaged: restore from another region');
  }
  if (manifest.format !== MANIFEST_FORMAT) {
    throw new LifeboatError('Unsupported', `${storage.location}: ${key} has format ${String(manifest.format)}, this Lifeboat reads ${MANIFEST_FORMAT}`, 'upgrade Lifeboat');
  }
  return { manifest, manifestSha256: createHash('sha256').update(bytes).digest('hex') };
}

/** What retention deleted from this region: one tombstone per deleted backup, oldest first. Unreadable ones are left out. */
export async function listTombstones(storage: StorageBackend, source: string): Promise<Tombstone[]> {
  const found: Tombstone[] = [];
  for await (const object of storage.list(keys.sourcePrefix(source))) {
    if (!object.key.endsWith('/deleted.json')) continue;
    try {
      const tombstone = JSON.parse((await readAll(await storage.get(object.key))).toString('utf8')) as Tombstone;
      if (tombstone.format === 'lifeboat-tombstone/1') found.push(tombstone);
    } catch {
      // A damaged tombstone proves nothing: the chain check then reports the gap it would have explained.
    }
  }
  return found.sort((a, b) => a.finishedAt.localeCompare(b.finishedAt));
}

export async function findBackup(storage: StorageBackend, source: string, id: string | 'latest'): Promise<CatalogEntry> {
  if (id !== 'latest') {
    if (!(await storage.stat(keys.manifest(source, id)))) {
      throw new LifeboatError('BackupNotFound', `no backup ${id} of ${source} in ${storage.location}`, `run "lifeboat backups list --source ${source}"`);
    }
    return readManifest(storage, keys.manifest(source, id));
  }
  const all = await listBackups(storage, source);
  const newest = all.at(-1);
  if (!newest) throw new LifeboatError('BackupNotFound', `no backup of ${source} in ${storage.location}`, `run "lifeboat backup ${source}" first`);
  return newest;
}
