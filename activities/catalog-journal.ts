import { createHash, randomBytes } from 'node:crypto';
import { LifeboatError } from '../lib/errors';
import type { Manifest } from '../lib/manifest';
import { signatureKey, type Signer, type TrustedKey } from '../lib/signing';
import type { VerifyRecord } from '../lib/verify';
import { inBatches, type UntrustedItem } from './catalog-judge';
import { putSigned, readSigned } from './signed';
import type { ObjectInfo, StorageBackend } from './storage/backend';

// The catalog's journal: every writer that changes a source's catalog in a region (a manifest
// written or copied there, a verify record, a backup deleted) also writes one small signed change
// beside the index. A reader that takes the index on trust (`backups list`, `status`, `retention
// show`, the failover preflight) then needs the index and the changes since, not a listing of every
// object: that is what makes a catalog of 10,000 backups answer in a second. Like the index, a
// change only ever adds what a trusted key signed; a lost change costs a fresh read, and the next
// full read (sync, retention, verify, the objectives check) folds the changes into a new index.

/** Outside every source's prefix (names cannot start with "_"), so retention and sync never take it for a backup. */
export const indexPrefix = (source: string) => `_catalog/${source}/`;

export interface Indexed {
  key: string;
  /** fingerprint() of the object and of its signature when they were judged ('' when not yet known). */
  object: string;
  signature: string;
  keyId: string;
}

export interface IndexedManifest extends Indexed {
  manifestSha256: string;
  manifest: Manifest;
}

export interface IndexedRecord extends Indexed {
  record: VerifyRecord;
}

/** Size, modification time and (S3) ETag: a rewrite of the object changes at least one. */
export function fingerprint(info: ObjectInfo | undefined): string | undefined {
  return info ? `${info.size}:${info.modified.getTime()}:${info.etag ?? ''}` : undefined;
}

export const CHANGE_FORMAT = 'lifeboat-catalog-change/1';

export interface CatalogChange {
  format: typeof CHANGE_FORMAT;
  source: string;
  /** The storage it describes: a change copied from another region or bucket describes nothing here. */
  location: string;
  at: string;
  manifests: IndexedManifest[];
  records: IndexedRecord[];
  /** Backup prefixes whose every object is gone (retention deleted the backup). */
  removed: string[];
}

/** `_catalog/<source>/change-<time>-<random>.json`: names sort by time, and are never reused. */
export const isChangeKey = (key: string) => /\/change-[^/]+\.json$/.test(key);

/**
 * `_catalog/<source>/<kind>-<time>-<random>.json`: storage is write-once (and may be under Object
 * Lock), so an index or change is never overwritten; names sort by time.
 */
export function newCatalogKey(source: string, kind: 'index' | 'change'): string {
  return `${indexPrefix(source)}${kind}-${new Date().toISOString().replace(/[-:.]/g, '')}-${randomBytes(4).toString('hex')}.json`;
}

/** The object's and its signature's fingerprints as stored now. */
async function stampOf(storage: StorageBackend, key: string): Promise<Pick<Indexed, 'key' | 'object' | 'signature'>> {
  const [object, signature] = await Promise.all([storage.stat(key), storage.stat(signatureKey(key))]);
  return { key, object: fingerprint(object) ?? '', signature: fingerprint(signature) ?? '' };
}

async function writeChange(storage: StorageBackend, source: string, signer: Signer, change: Pick<CatalogChange, 'manifests' | 'records' | 'removed'>): Promise<void> {
  const body: CatalogChange = { format: CHANGE_FORMAT, source, location: storage.location, at: new Date().toISOString(), ...change };
  await putSigned(storage, newCatalogKey(source, 'change'), Buffer.from(JSON.stringify(body)), signer);
}

/** After a manifest's bytes (signed by keyId) were written at key: a retry writes a second change that says the same. */
export async function noteManifest(storage: StorageBackend, signer: Signer, source: string, key: string, bytes: Buffer, keyId: string): Promise<void> {
  const manifest = JSON.parse(bytes.toString('utf8')) as Manifest;
  const manifestSha256 = createHash('sha256').update(bytes).digest('hex');
  await writeChange(storage, source, signer, { manifests: [{ ...(await stampOf(storage, key)), keyId, manifestSha256, manifest }], records: [], removed: [] });
}

export async function noteRecord(storage: StorageBackend, signer: Signer, source: string, key: string, record: VerifyRecord): Promise<void> {
  await writeChange(storage, source, signer, { manifests: [], records: [{ ...(await stampOf(storage, key)), keyId: signer.keyId, record }], removed: [] });
}

/** After backups were deleted (also on a retry that found them gone: the first attempt may have died before saying so). */
export async function noteRemoved(storage: StorageBackend, signer: Signer, source: string, backupPrefixes: string[]): Promise<void> {
  if (backupPrefixes.length > 0) await writeChange(storage, source, signer, { manifests: [], records: [], removed: backupPrefixes });
}

/** The changes a trusted key signed for this source and storage, oldest first; the others with why they were left out. */
export async function readChanges(storage: StorageBackend, trusted: TrustedKey[], source: string, changeKeys: string[]): Promise<{ changes: Array<{ key: string; change: CatalogChange }>; ignored: UntrustedItem[] }> {
  const changes: Array<{ key: string; change: CatalogChange }> = [];
  const ignored: UntrustedItem[] = [];
  await inBatches(changeKeys, async (key) => {
    const judged = await judgeChange(storage, trusted, source, key);
    if (judged === undefined) return;
    if (typeof judged === 'string') ignored.push({ key, reason: judged });
    else changes.push({ key, change: judged });
  });
  changes.sort((a, b) => a.key.localeCompare(b.key));
  return { changes, ignored };
}

async function judgeChange(storage: StorageBackend, trusted: TrustedKey[], source: string, key: string): Promise<CatalogChange | string | undefined> {
  let read;
  try {
    read = await readSigned(storage, key, trusted);
  } catch (error) {
    // Folded and removed by a full read between the listing and this read.
    if (error instanceof LifeboatError && error.type === 'BackupNotFound') return undefined;
    throw error;
  }
  if (!read.verdict.trusted) return read.verdict.reason;
  let change: Partial<CatalogChange>;
  try {
    change = JSON.parse(read.bytes.toString('utf8')) as Partial<CatalogChange>;
  } catch {
    return 'it is not valid JSON';
  }
  if (change.format !== CHANGE_FORMAT || !Array.isArray(change.manifests) || !Array.isArray(change.records) || !Array.isArray(change.removed)) return `it is not a ${CHANGE_FORMAT}`;
  if (change.source !== source) return `it describes source ${JSON.stringify(change.source)}`;
  if (change.location !== storage.location) return `it describes ${JSON.stringify(change.location)}`;
  // What it adds must lie under its own source, and be signed by a key that is still trusted (checked by the caller).
  const own = `${source}/`;
  if ([...change.manifests, ...change.records].some((item) => !item.key.startsWith(own)) || change.removed.some((prefix) => !prefix.startsWith(own))) {
    return `it names objects outside ${own}`;
  }
  return change as CatalogChange;
}

/** Applies one change to the catalog being built, keyed by object key. */
export function applyChange(manifests: Map<string, IndexedManifest>, records: Map<string, IndexedRecord>, change: CatalogChange): void {
  for (const prefix of change.removed) {
    for (const key of manifests.keys()) if (key.startsWith(prefix)) manifests.delete(key);
    for (const key of records.keys()) if (key.startsWith(prefix)) records.delete(key);
  }
  for (const item of change.manifests) manifests.set(item.key, item);
  for (const item of change.records) records.set(item.key, item);
}

/** Whether an object the change adds is gone now: deleted behind Lifeboat's back after it was written. */
export async function changeUndone(storage: StorageBackend, change: CatalogChange): Promise<boolean> {
  const added = [...change.manifests, ...change.records];
  return (await Promise.all(added.map((item) => storage.stat(item.key)))).some((info) => info === undefined);
}

/**
 * Whether a full listing already shows everything the change says: then an index built from that
 * listing holds it, and the change can be folded (named in the index, then removed). A change
 * written after the listing began is left for the readers to apply on top.
 */
export function changeShown(change: CatalogChange, listed: Map<string, ObjectInfo>, catalogKeys: string[]): boolean {
  if ([...change.manifests, ...change.records].some((item) => !listed.has(item.key))) return false;
  // A deleted backup keeps its tombstone under its prefix: gone means no manifest or record there.
  return change.removed.every((prefix) => !catalogKeys.some((key) => key.startsWith(prefix)));
}
