import { createHash } from 'node:crypto';
import { LifeboatError } from '../lib/errors';
import { keys, type Manifest, type Tombstone } from '../lib/manifest';
import { parseManifest, parseTombstone } from '../lib/manifest-schema';
import type { TrustedKey } from '../lib/signing';
import { advance } from './progress';
import { readSigned } from './signed';
import type { StorageBackend } from './storage/backend';

export interface CatalogEntry {
  manifest: Manifest;
  /** SHA-256 of the manifest's bytes as stored: what the next manifest chains to. */
  manifestSha256: string;
  /** The trusted key that signed it (catalog.trustedKeys). */
  keyId: string;
}

/** A manifest that is never restored, counted or chosen as latest: unsigned, signed by an unknown key, or not sane. */
export interface UntrustedItem {
  key: string;
  reason: string;
}

export interface CatalogScan {
  entries: CatalogEntry[];
  untrusted: UntrustedItem[];
}

export type Judged = { entry: CatalogEntry } | { untrusted: UntrustedItem };

/** Reads and judges one manifest; a storage error is thrown (and retried), never taken for distrust. */
export async function judgeManifest(storage: StorageBackend, trusted: TrustedKey[], key: string): Promise<Judged> {
  const { bytes, verdict } = await readSigned(storage, key, trusted);
  const parsed = parseManifest(bytes, key);
  if ('problem' in parsed) return { untrusted: { key, reason: parsed.problem } };
  if (!verdict.trusted) return { untrusted: { key, reason: verdict.reason } };
  return { entry: { manifest: parsed.manifest, manifestSha256: createHash('sha256').update(bytes).digest('hex'), keyId: verdict.keyId } };
}

const byFinish = (a: CatalogEntry, b: CatalogEntry) => a.manifest.finishedAt.localeCompare(b.manifest.finishedAt) || a.manifest.id.localeCompare(b.manifest.id);

/** Reads at most 16 objects at once: enough to hide the round trips, few enough for any endpoint. */
export async function inBatches<T, R>(items: T[], read: (item: T) => Promise<R>, size = 16): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += size) results.push(...await Promise.all(items.slice(i, i + size).map(read)));
  return results;
}

/** The manifest keys of one source (or all sources) in one region, in key (= start time) order. */
async function manifestKeysIn(storage: StorageBackend, source?: string): Promise<string[]> {
  const found: string[] = [];
  let listed = 0;
  for await (const object of storage.list(source ? keys.sourcePrefix(source) : '')) {
    if (object.key.endsWith('/manifest.json')) found.push(object.key);
    // A large catalog is long to list and to read: each object is progress for the activity's watchdog.
    advance({ listed: ++listed });
  }
  return found;
}

/** Every manifest of one source (or all sources) in one region: the trusted ones oldest first, and the rest with why. */
export async function scanCatalog(storage: StorageBackend, trusted: TrustedKey[], source?: string): Promise<CatalogScan> {
  const scan: CatalogScan = { entries: [], untrusted: [] };
  let read = 0;
  const judge = async (key: string) => {
    const judged = await judgeManifest(storage, trusted, key);
    advance({ manifests: ++read });
    return judged;
  };
  for (const judged of await inBatches(await manifestKeysIn(storage, source), judge)) {
    if ('entry' in judged) scan.entries.push(judged.entry);
    else scan.untrusted.push(judged.untrusted);
  }
  // Ids sort by start second only; the finish time (ms) orders backups taken within one second.
  scan.entries.sort(byFinish);
  return scan;
}

/** The trusted backups of one source (or all sources) in one region, oldest first. */
export async function listBackups(storage: StorageBackend, trusted: TrustedKey[], source?: string): Promise<CatalogEntry[]> {
  return (await scanCatalog(storage, trusted, source)).entries;
}

/** The manifest at key, if trusted; otherwise a non-retryable Untrusted error saying why. */
export async function readManifest(storage: StorageBackend, trusted: TrustedKey[], key: string): Promise<CatalogEntry> {
  const judged = await judgeManifest(storage, trusted, key);
  if ('untrusted' in judged) throw untrustedError(storage, judged.untrusted);
  return judged.entry;
}

export function untrustedError(storage: StorageBackend, item: UntrustedItem): LifeboatError {
  return new LifeboatError('Untrusted', `${storage.location}: ${item.key} is not trusted: ${item.reason}`,
    'it is never restored: someone with write access to the bucket may have forged or altered it; take it as an incident, compare with the other regions ("lifeboat backups list --all-regions") and restore a trusted backup');
}

/**
 * The newest trusted backup of source (leaving out backup `except`), reading manifests from the
 * newest key down: ids begin with their start second, so usually one manifest is read however long
 * the catalog. Ids of the same second sort by their random part, so that second's manifests are all
 * read and ordered as listBackups orders them. Untrusted ones passed on the way are returned too.
 */
export async function newestTrusted(storage: StorageBackend, trusted: TrustedKey[], source: string, except?: string): Promise<{ entry: CatalogEntry | undefined; untrusted: UntrustedItem[] }> {
  const untrusted: UntrustedItem[] = [];
  const skip = except === undefined ? undefined : keys.manifest(source, except);
  const candidates = (await manifestKeysIn(storage, source)).filter((key) => key !== skip).sort().reverse();
  const second = (key: string) => key.slice(keys.sourcePrefix(source).length).split('-')[0];
  for (let i = 0; i < candidates.length;) {
    let j = i + 1;
    while (j < candidates.length && second(candidates[j]!) === second(candidates[i]!)) j += 1;
    const found: CatalogEntry[] = [];
    for (const judged of await inBatches(candidates.slice(i, j), (key) => judgeManifest(storage, trusted, key))) {
      if ('entry' in judged) found.push(judged.entry);
      else untrusted.push(judged.untrusted);
    }
    if (found.length > 0) return { entry: found.sort(byFinish).at(-1), untrusted };
    i = j;
  }
  return { entry: undefined, untrusted };
}

/** What retention deleted from this region: one trusted tombstone per deleted backup, oldest first. Others are left out. */
export async function listTombstones(storage: StorageBackend, trusted: TrustedKey[], source: string): Promise<Tombstone[]> {
  const found: Tombstone[] = [];
  for await (const object of storage.list(keys.sourcePrefix(source))) {
    if (!object.key.endsWith('/deleted.json')) continue;
    const { bytes, verdict } = await readSigned(storage, object.key, trusted);
    const parsed = parseTombstone(bytes, object.key);
    // A forged or damaged tombstone proves nothing: the chain check then reports the gap it would have explained.
    if (verdict.trusted && 'tombstone' in parsed) found.push(parsed.tombstone);
  }
  return found.sort((a, b) => a.finishedAt.localeCompare(b.finishedAt));
}

export async function findBackup(storage: StorageBackend, trusted: TrustedKey[], source: string, id: string | 'latest'): Promise<CatalogEntry> {
  if (id !== 'latest') {
    if (!(await storage.stat(keys.manifest(source, id)))) {
      throw new LifeboatError('BackupNotFound', `no backup ${id} of ${source} in ${storage.location}`, `run "lifeboat backups list --source ${source}"`);
    }
    return readManifest(storage, trusted, keys.manifest(source, id));
  }
  const { entry } = await newestTrusted(storage, trusted, source);
  if (!entry) throw new LifeboatError('BackupNotFound', `no trusted backup of ${source} in ${storage.location}`, `run "lifeboat backup ${source}" first; "lifeboat backups list" shows untrusted ones`);
  return entry;
}
