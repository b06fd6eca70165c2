import { LifeboatError } from '../lib/errors';
import { keys } from '../lib/manifest';
import { signatureKey, type Signer, type TrustedKey } from '../lib/signing';
import type { VerifyRecord } from '../lib/verify';
import { applyChange, changeShown, changeUndone, fingerprint, indexPrefix, isChangeKey, newCatalogKey, readChanges, type Indexed, type IndexedManifest, type IndexedRecord } from './catalog-journal';
import { byFinish, inBatches, judgeManifest, type CatalogEntry, type UntrustedItem } from './catalog-judge';
import { putSigned, readSigned, removeSigned } from './signed';
import type { ObjectInfo, StorageBackend } from './storage/backend';
import { readRecord, sortRecords, verifiedBackupPrefix } from './verify-catalog';

export { indexPrefix } from './catalog-journal';

// A signed cache of one source's catalog in one region: the manifests and verify records already
// read and judged, each with the fingerprint its object and its signature had then. The manifests
// stay the truth. A full read lists the source's prefix, takes an indexed entry only while both its
// objects are listed unchanged and its key is still trusted, and reads and judges everything else:
// a manifest written since, replaced, or re-signed is read again; one deleted is gone; a forged one
// is never in the index and so is always reported. A stale, replayed or lost index costs reads,
// never a wrong answer, which is why writers need no lock and the last one wins.
// A journal read (catalog-journal.ts) takes the index and the changes written since on trust, and
// lists nothing but `_catalog/<source>/`.

export const INDEX_FORMAT = 'lifeboat-catalog-index/1';

/** One listing of `_catalog/<source>/`: the index keys newest first, and the change keys oldest first. */
async function catalogObjects(storage: StorageBackend, source: string): Promise<{ indexes: string[]; changes: string[] }> {
  const indexes: string[] = [];
  const changes: string[] = [];
  for await (const info of storage.list(indexPrefix(source))) {
    if (/\/index-[^/]+\.json$/.test(info.key)) indexes.push(info.key);
    else if (isChangeKey(info.key)) changes.push(info.key);
  }
  return { indexes: indexes.sort().reverse(), changes: changes.sort() };
}

/** The index keys of a source, newest first. */
export async function indexKeys(storage: StorageBackend, source: string): Promise<string[]> {
  return (await catalogObjects(storage, source)).indexes;
}

interface CatalogIndex {
  format: typeof INDEX_FORMAT;
  source: string;
  /** The storage it describes: an index copied from another region or bucket describes nothing here. */
  location: string;
  writtenAt: string;
  manifests: IndexedManifest[];
  records: IndexedRecord[];
  /** The changes this index holds already (their objects are removed after it is written). */
  folded?: string[];
  /** What the full read that wrote it found untrusted: a journal read still shows it. */
  untrustedManifests?: UntrustedItem[];
  untrustedRecords?: UntrustedItem[];
}

/** One source's catalog in one region, as the manifests and records say. */
export interface SourceCatalog {
  /** Trusted backups, oldest first. */
  entries: CatalogEntry[];
  /** Trusted verify records by backup id, oldest first. */
  records: Map<string, VerifyRecord[]>;
  /** Manifests no trusted key signed (or not sane): shown, never counted. */
  untrustedManifests: UntrustedItem[];
  /** Verify records that prove nothing, and why. */
  untrustedRecords: UntrustedItem[];
  /** Objects read and judged because the index did not vouch for them; 0 when the index was current. */
  read: number;
  /** Whether a trusted index of this storage was found, and why it was not used when it was not. */
  index: 'used' | 'absent' | string;
  /** A journal read: when the index it stands on was written, and how many changes were applied on top. */
  journal?: { indexWrittenAt: string; changes: number };
}

export interface ReadCatalogOptions {
  /** Given (on workers and by "catalog rebuild"), an index that differs from what was found is rewritten. */
  refresh?: Signer;
  /** Rewrite even when nothing changed ("catalog rebuild"). */
  rewrite?: boolean;
  /** Do not use the index: read every manifest and record ("catalog rebuild"). */
  ignoreIndex?: boolean;
  /**
   * 'journal': take the signed index and the changes since on trust, without listing the source
   * (backups list, status, retention show, the failover preflight); a source without a trusted
   * index is listed and read in full. Default 'full': list every object and judge what changed.
   */
  listing?: 'full' | 'journal';
  onRead?: () => void;
}

/** The newest index a trusted key signed for this source and storage (of the newest three), or why there is none. */
async function loadIndex(storage: StorageBackend, trusted: TrustedKey[], source: string, found: string[]): Promise<CatalogIndex | string> {
  const reasons: string[] = [];
  for (const key of found.slice(0, 3)) {
    const judged = await judgeIndex(storage, trusted, source, key);
    if (typeof judged !== 'string') return judged;
    reasons.push(judged);
  }
  // Why the newest one was not used.
  return reasons[0] ?? 'absent';
}

async function judgeIndex(storage: StorageBackend, trusted: TrustedKey[], source: string, key: string): Promise<CatalogIndex | string> {
  let read;
  try {
    read = await readSigned(storage, key, trusted);
  } catch (error) {
    // Removed by a newer writer between the listing and the read.
    if (error instanceof LifeboatError && error.type === 'BackupNotFound') return 'absent';
    throw error;
  }
  if (!read.verdict.trusted) return `ignored: ${read.verdict.reason}`;
  let index: Partial<CatalogIndex>;
  try {
    index = JSON.parse(read.bytes.toString('utf8')) as Partial<CatalogIndex>;
  } catch {
    return 'ignored: it is not valid JSON';
  }
  if (index.format !== INDEX_FORMAT || !Array.isArray(index.manifests) || !Array.isArray(index.records)) return `ignored: it is not a ${INDEX_FORMAT}`;
  if (index.source !== source) return `ignored: it describes source ${JSON.stringify(index.source)}`;
  if (index.location !== storage.location) return `ignored: it describes ${JSON.stringify(index.location)}`;
  return index as CatalogIndex;
}

/** Whether a trusted index of this storage is there ("used"), or why not: without reading the catalog. */
export async function indexState(storage: StorageBackend, trusted: TrustedKey[], source: string): Promise<string> {
  const loaded = await loadIndex(storage, trusted, source, await indexKeys(storage, source));
  return typeof loaded === 'string' ? loaded : 'used';
}

/**
 * The catalog of one source in one region from a listing of its prefix (the caller lists, since
 * retention needs the same listing for its orphans): indexed entries taken, the rest read.
 */
export async function readSourceCatalog(storage: StorageBackend, trusted: TrustedKey[], source: string, listing: ObjectInfo[], options: ReadCatalogOptions = {}): Promise<SourceCatalog> {
  const { indexes: found, changes: changeKeys } = await catalogObjects(storage, source);
  const loaded = options.ignoreIndex ? 'absent' : await loadIndex(storage, trusted, source, found);
  const index = typeof loaded === 'string' ? undefined : loaded;
  const listed = new Map(listing.map((info) => [info.key, info]));
  const trustedIds = new Set(trusted.map((key) => key.id));
  const current = (item: Indexed) => trustedIds.has(item.keyId) && item.object === fingerprint(listed.get(item.key)) && item.signature === fingerprint(listed.get(signatureKey(item.key)));
  const knownManifests = new Map((index?.manifests ?? []).filter(current).map((item) => [item.key, item]));
  const knownRecords = new Map((index?.records ?? []).filter(current).map((item) => [item.key, item]));

  const manifestKeys = listing.filter((info) => info.key.endsWith('/manifest.json')).map((info) => info.key);
  const recordKeys = listing.filter((info) => verifiedBackupPrefix(info.key)).map((info) => info.key);
  const stamp = (key: string) => ({ key, object: fingerprint(listed.get(key))!, signature: fingerprint(listed.get(signatureKey(key))) ?? '' });
  let read = 0;
  const counted = () => {
    read += 1;
    options.onRead?.();
  };

  /** The indexed entry of each key while it is current; otherwise a read and judgement of its own. */
  async function collect<T>(keysListed: string[], known: Map<string, T>, judge: (key: string) => Promise<{ item: T } | { untrusted: UntrustedItem }>): Promise<{ items: T[]; untrusted: UntrustedItem[] }> {
    const items: T[] = [];
    const untrusted: UntrustedItem[] = [];
    await inBatches(keysListed, async (key) => {
      const indexed = known.get(key);
      if (indexed) return items.push(indexed);
      const judged = await judge(key);
      counted();
      return 'item' in judged ? items.push(judged.item) : untrusted.push(judged.untrusted);
    });
    return { items, untrusted };
  }
  const { items: manifests, untrusted: untrustedManifests } = await collect<IndexedManifest>(manifestKeys, knownManifests, async (key) => {
    const judged = await judgeManifest(storage, trusted, key);
    if ('untrusted' in judged) return judged;
    return { item: { ...stamp(key), keyId: judged.entry.keyId, manifestSha256: judged.entry.manifestSha256, manifest: judged.entry.manifest } };
  });
  const { items: records, untrusted: untrustedRecords } = await collect<IndexedRecord>(recordKeys, knownRecords, async (key) => {
    const judged = await readRecord(storage, trusted, key);
    if ('problem' in judged) return { untrusted: { key, reason: judged.problem } };
    return { item: { ...stamp(key), keyId: judged.keyId, record: judged.record } };
  });

  const dropped = (index?.manifests.length ?? 0) - knownManifests.size + (index?.records.length ?? 0) - knownRecords.size;
  const sorted = (items: UntrustedItem[]) => items.sort((a, b) => a.key.localeCompare(b.key));
  if (options.refresh) {
    // Changes this listing shows already are folded into the new index (named in it, then removed).
    // One it does not show was either written since the listing began, and is left for readers to
    // apply on top, or undone outside Lifeboat (what it adds is gone now): then the listing wins.
    const catalogKeys = [...manifestKeys, ...recordKeys];
    const { changes } = changeKeys.length > 0 ? await readChanges(storage, trusted, source, changeKeys) : { changes: [] };
    const folded = (await inBatches(changes, async ({ key, change }) => (changeShown(change, listed, catalogKeys) || (await changeUndone(storage, change)) ? [key] : []))).flat();
    if (options.rewrite || read > 0 || dropped > 0 || folded.length > 0 || (!index && manifests.length > 0)) {
      const fresh: CatalogIndex = {
        format: INDEX_FORMAT, source, location: storage.location, writtenAt: new Date().toISOString(),
        manifests: [...manifests].sort((a, b) => a.key.localeCompare(b.key)),
        records: [...records].sort((a, b) => a.key.localeCompare(b.key)),
        folded,
        untrustedManifests: sorted([...untrustedManifests]),
        untrustedRecords: sorted([...untrustedRecords]),
      };
      await putSigned(storage, newCatalogKey(source, 'index'), Buffer.from(JSON.stringify(fresh)), options.refresh);
      // Only those seen before writing: an index another writer put meanwhile is theirs to replace.
      // One that cannot be removed (Object Lock, an outage) is harmless: readers take the newest.
      for (const key of [...found, ...folded]) await removeSigned(storage, key).catch(() => undefined);
    }
  }

  return {
    entries: manifests.map(({ manifest, manifestSha256, keyId }) => ({ manifest, manifestSha256, keyId })).sort(byFinish),
    records: groupRecords(source, records),
    untrustedManifests: sorted(untrustedManifests),
    untrustedRecords: sorted(untrustedRecords),
    read,
    index: index ? 'used' : (loaded as string),
  };
}

function groupRecords(source: string, records: IndexedRecord[]): Map<string, VerifyRecord[]> {
  const byBackup = new Map<string, VerifyRecord[]>();
  // Grouped by where a record lies, as retention's interlock reads them, not by what it claims.
  for (const { key, record } of records) {
    const id = verifiedBackupPrefix(key)!.slice(keys.sourcePrefix(source).length, -1);
    const list = byBackup.get(id);
    if (list) list.push(record);
    else byBackup.set(id, [record]);
  }
  for (const [id, list] of byBackup) byBackup.set(id, sortRecords(list));
  return byBackup;
}

/** Whether the newest backup a (journal) catalog names still has its manifest: one request. */
export async function newestThere(storage: StorageBackend, catalog: SourceCatalog): Promise<boolean> {
  const newest = catalog.entries.at(-1)?.manifest;
  return newest === undefined || (await storage.stat(keys.manifest(newest.source, newest.id))) !== undefined;
}

/**
 * The catalog of one source in one region from its signed index and the changes written since,
 * without listing the source: what Lifeboat wrote there, as fast as two or three reads. Undefined
 * when there is no trusted index (the caller then lists and reads in full). Objects deleted or
 * planted outside Lifeboat show only after the next full read (any worker's sync, retention,
 * verify or objectives check), which reports the planted ones as untrusted.
 */
export async function readJournaledCatalog(storage: StorageBackend, trusted: TrustedKey[], source: string): Promise<SourceCatalog | undefined> {
  const { indexes, changes: changeKeys } = await catalogObjects(storage, source);
  const index = await loadIndex(storage, trusted, source, indexes);
  if (typeof index === 'string') return undefined;
  const folded = new Set(index.folded ?? []);
  const { changes, ignored } = await readChanges(storage, trusted, source, changeKeys.filter((key) => !folded.has(key)));
  const manifests = new Map(index.manifests.map((item) => [item.key, item]));
  const records = new Map(index.records.map((item) => [item.key, item]));
  for (const { change } of changes) applyChange(manifests, records, change);
  const trustedIds = new Set(trusted.map((key) => key.id));
  const stillTrusted = <T extends Indexed>(items: Iterable<T>) => [...items].filter((item) => trustedIds.has(item.keyId));
  return {
    entries: stillTrusted(manifests.values()).map(({ manifest, manifestSha256, keyId }) => ({ manifest, manifestSha256, keyId })).sort(byFinish),
    records: groupRecords(source, stillTrusted(records.values())),
    untrustedManifests: [...(index.untrustedManifests ?? []), ...ignored].sort((a, b) => a.key.localeCompare(b.key)),
    untrustedRecords: index.untrustedRecords ?? [],
    read: changes.length,
    index: 'used',
    journal: { indexWrittenAt: index.writtenAt, changes: changes.length },
  };
}

/**
 * Lists one source's prefix (or every source's) in one region, by source. Every source is listed
 * on its own, eight at once: `_wal/` (thousands of segments), `_heads/` and `_catalog/` are never
 * listed, and a region of many sources costs the longest listing rather than their sum.
 */
export async function listSources(storage: StorageBackend, source: string | undefined, onListed?: (count: number) => void): Promise<Map<string, ObjectInfo[]>> {
  const names = source ? [source] : (await storage.children('')).filter((name) => !name.startsWith('_'));
  let count = 0;
  const listings = await inBatches(names, async (name) => {
    const listing: ObjectInfo[] = [];
    for await (const info of storage.list(keys.sourcePrefix(name))) {
      listing.push(info);
      onListed?.(++count);
    }
    return listing;
  }, 8);
  const bySource = new Map<string, ObjectInfo[]>();
  for (const [index, name] of names.entries()) if (listings[index]!.length > 0) bySource.set(name, listings[index]!);
  return bySource;
}
