import { keys } from '../lib/manifest';
import type { VerifyLevel, VerifyRecord } from '../lib/verify';
import { readManifest, type CatalogEntry } from './catalog';
import { readAll, type StorageBackend } from './storage/backend';

// The catalog with what verifyRestore proved about each backup. Records sit under the backup's
// own prefix (<source>/<id>/verify/<timestamp>.json), so the listing that finds the manifests
// finds them too: one listing per region, then one read per record.

/** What `backups list --json` shows of a backup's newest verification in one region. */
export interface VerifiedSummary {
  level: VerifyLevel;
  outcome: 'passed' | 'failed';
  /** When the verification finished. */
  at: string;
  /** Restore level only: the measured RTO. */
  restoreMs: number | null;
}

export interface VerifiedEntry extends CatalogEntry {
  /** This region's records of the backup, oldest first. */
  records: VerifyRecord[];
}

/** `<source>/<id>/verify/<timestamp>.json` → the backup's prefix `<source>/<id>/`. */
export function verifiedBackupPrefix(key: string): string | undefined {
  return /^([^/]+\/[^/]+\/)verify\/[^/]+\.json$/.exec(key)?.[1];
}

/** Every backup of one source (or all sources) in one region with its verify records, oldest first. */
export async function listVerifiedBackups(storage: StorageBackend, source?: string): Promise<VerifiedEntry[]> {
  const manifests: string[] = [];
  const recordKeys: string[] = [];
  for await (const object of storage.list(source ? keys.sourcePrefix(source) : '')) {
    if (object.key.endsWith('/manifest.json')) manifests.push(object.key);
    else if (verifiedBackupPrefix(object.key)) recordKeys.push(object.key);
  }
  const entries = await inBatches(manifests, (key) => readManifest(storage, key));
  // Grouped by where a record lies, as retention's interlock reads them, not by what it claims.
  const records = await inBatches(recordKeys, async (key) => ({ prefix: verifiedBackupPrefix(key)!, record: await readRecord(storage, key) }));
  const byBackup = new Map<string, VerifyRecord[]>();
  for (const { prefix, record } of records) if (record) byBackup.set(prefix, [...(byBackup.get(prefix) ?? []), record]);
  return entries
    .map((entry) => ({ ...entry, records: sortRecords(byBackup.get(keys.backupPrefix(entry.manifest.source, entry.manifest.id)) ?? []) }))
    .sort((a, b) => a.manifest.finishedAt.localeCompare(b.manifest.finishedAt) || a.manifest.id.localeCompare(b.manifest.id));
}

/**
 * One record, or undefined when it does not parse as one: a damaged record proves nothing, and
 * the catalog must still list the backup. A storage error is thrown: the listing just saw the key.
 */
export async function readRecord(storage: StorageBackend, key: string): Promise<VerifyRecord | undefined> {
  const text = (await readAll(await storage.get(key))).toString('utf8');
  try {
    const record = JSON.parse(text) as Partial<VerifyRecord> | null;
    if (record?.format !== 'lifeboat-verify/1' || typeof record.finishedAt !== 'string' || !record.source || !record.backupId) return undefined;
    if (record.outcome !== 'passed' && record.outcome !== 'failed') return undefined;
    return record as VerifyRecord;
  } catch {
    return undefined;
  }
}

export const sortRecords = (records: VerifyRecord[]) => [...records].sort((a, b) => a.finishedAt.localeCompare(b.finishedAt));

export function summarize(record: VerifyRecord | undefined): VerifiedSummary | null {
  return record ? { level: record.level, outcome: record.outcome, at: record.finishedAt, restoreMs: record.restoreMs } : null;
}

/** Reads at most 16 objects at once: enough to hide the round trips, few enough for any endpoint. */
async function inBatches<T, R>(items: T[], read: (item: T) => Promise<R>, size = 16): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += size) results.push(...await Promise.all(items.slice(i, i + size).map(read)));
  return results;
}
