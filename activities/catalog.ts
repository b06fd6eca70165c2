import { LifeboatError } from '../lib/errors';
import { keys, type Tombstone } from '../lib/manifest';
import { parseTombstone } from '../lib/manifest-schema';
import type { Signer, TrustedKey } from '../lib/signing';
import { byFinish, inBatches, judgeManifest, type CatalogEntry, type UntrustedItem } from './catalog-judge';
import { listSources, newestThere, readJournaledCatalog, readSourceCatalog, type ReadCatalogOptions, type SourceCatalog } from './catalog-index';
import { advance } from './progress';
import { readSigned } from './signed';
import type { ObjectInfo, StorageBackend } from './storage/backend';
import type { VerifiedCatalog, VerifiedEntry } from './verify-catalog';

export { byFinish, inBatches, judgeManifest, type CatalogEntry, type Judged, type UntrustedItem } from './catalog-judge';

/**
 * On a worker that signs, every catalog read keeps the index current; one without the signing key
 * (a restore-only host, the CLI) only reads it.
 */
export function refreshing(deps: { signer(): Signer }): ReadCatalogOptions {
  try {
    return { refresh: deps.signer() };
  } catch (error) {
    if (error instanceof LifeboatError && error.type === 'Config') return {};
    throw error;
  }
}

export interface CatalogScan {
  entries: CatalogEntry[];
  untrusted: UntrustedItem[];
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
export async function scanCatalog(storage: StorageBackend, trusted: TrustedKey[], source?: string, options: ReadCatalogOptions = {}): Promise<CatalogScan> {
  const { entries, untrusted } = await listVerifiedBackups(storage, trusted, source, options);
  return { entries: entries.map(({ manifest, manifestSha256, keyId }) => ({ manifest, manifestSha256, keyId })), untrusted: untrusted.filter((item) => item.key.endsWith('/manifest.json')) };
}

/** The trusted backups of one source (or all sources) in one region, oldest first. */
export async function listBackups(storage: StorageBackend, trusted: TrustedKey[], source?: string, options: ReadCatalogOptions = {}): Promise<CatalogEntry[]> {
  return (await scanCatalog(storage, trusted, source, options)).entries;
}

/**
 * Every backup of one source (or all sources) in one region with its verify records, oldest
 * first: one listing, then the signed index of each source (catalog-index.ts) for what it still
 * vouches for, and a read of everything else.
 */
export async function listVerifiedBackups(storage: StorageBackend, trusted: TrustedKey[], source?: string, options: ReadCatalogOptions = {}): Promise<VerifiedCatalog> {
  return mapVerifiedBackups(storage, trusted, source, options, (entry) => entry);
}

/**
 * listVerifiedBackups for a reader that needs only part of each entry (backups list, status): each
 * source's entries are handed to `keep` as soon as that source is read, and only what it returns is
 * held, so a region's parsed manifests are never all in memory at once. Still oldest first.
 */
export async function mapVerifiedBackups<T>(storage: StorageBackend, trusted: TrustedKey[], source: string | undefined, options: ReadCatalogOptions, keep: (entry: VerifiedEntry) => T): Promise<{ entries: T[]; untrusted: UntrustedItem[] }> {
  const onRead = () => {
    options.onRead?.();
    advance({ read: ++read });
  };
  let read = 0;
  const full = (name: string, listing: ObjectInfo[]) => readSourceCatalog(storage, trusted, name, listing, { ...options, onRead });
  // What is kept of a source: its entries (with what byFinish sorts by) and what it distrusts.
  const kept = (catalog: SourceCatalog) => ({
    entries: catalog.entries.map((entry) => ({ manifest: { finishedAt: entry.manifest.finishedAt, id: entry.manifest.id }, value: keep({ ...entry, records: catalog.records.get(entry.manifest.id) ?? [] }) })),
    untrusted: [...catalog.untrustedManifests, ...catalog.untrustedRecords],
  });
  let catalogs: Array<ReturnType<typeof kept>>;
  if (options.listing === 'journal') {
    // Sources by a delimiter listing (one entry each); each from its index and changes, or listed when it has none.
    const names = source ? [source] : (await storage.children('')).filter((name) => !name.startsWith('_'));
    catalogs = await inBatches(names, async (name) => {
      const journaled = await readJournaledCatalog(storage, trusted, name);
      // The newest backup is what status judges the RPO by and a restore takes as latest: it must be
      // there. One deleted behind Lifeboat's back sends the source to a full read, which drops it.
      if (journaled && await newestThere(storage, journaled)) return kept(journaled);
      return kept(await full(name, (await listSources(storage, name)).get(name) ?? []));
    }, 8);
  } else {
    const listed = await listSources(storage, source, (count) => advance({ listed: count }));
    // Four sources at once, each reading 16 objects at once: enough to hide round trips when the index is cold.
    catalogs = await inBatches([...listed], async ([name, listing]) => kept(await full(name, listing)), 4);
  }
  const entries = catalogs.flatMap((catalog) => catalog.entries).sort(byFinish);
  return {
    entries: entries.map((entry) => entry.value),
    untrusted: catalogs.flatMap((catalog) => catalog.untrusted),
  };
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
