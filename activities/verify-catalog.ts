import { keys } from '../lib/manifest';
import type { VerifyLevel, VerifyRecord } from '../lib/verify';
import type { TrustedKey } from '../lib/signing';
import { inBatches, judgeManifest, type CatalogEntry, type UntrustedItem } from './catalog';
import { readSigned } from './signed';
import type { StorageBackend } from './storage/backend';

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

export interface VerifiedCatalog {
  /** Trusted backups, oldest first, each with its trusted records. */
  entries: VerifiedEntry[];
  /** Manifests and records no trusted key signed (or not sane): shown, never counted. */
  untrusted: UntrustedItem[];
}

/** Every backup of one source (or all sources) in one region with its verify records, oldest first. */
export async function listVerifiedBackups(storage: StorageBackend, trusted: TrustedKey[], source?: string): Promise<VerifiedCatalog> {
  const manifests: string[] = [];
  const recordKeys: string[] = [];
  for await (const object of storage.list(source ? keys.sourcePrefix(source) : '')) {
    if (object.key.endsWith('/manifest.json')) manifests.push(object.key);
    else if (verifiedBackupPrefix(object.key)) recordKeys.push(object.key);
  }
  const untrusted: UntrustedItem[] = [];
  const entries: CatalogEntry[] = [];
  for (const judged of await inBatches(manifests, (key) => judgeManifest(storage, trusted, key))) {
    if ('entry' in judged) entries.push(judged.entry);
    else untrusted.push(judged.untrusted);
  }
  // Grouped by where a record lies, as retention's interlock reads them, not by what it claims.
  const records = await inBatches(recordKeys, async (key) => ({ key, prefix: verifiedBackupPrefix(key)!, read: await readRecord(storage, trusted, key) }));
  const byBackup = new Map<string, VerifyRecord[]>();
  for (const { key, prefix, read } of records) {
    if ('record' in read) byBackup.set(prefix, [...(byBackup.get(prefix) ?? []), read.record]);
    else untrusted.push({ key, reason: read.problem });
  }
  return {
    entries: entries
      .map((entry) => ({ ...entry, records: sortRecords(byBackup.get(keys.backupPrefix(entry.manifest.source, entry.manifest.id)) ?? []) }))
      .sort((a, b) => a.manifest.finishedAt.localeCompare(b.manifest.finishedAt) || a.manifest.id.localeCompare(b.manifest.id)),
    untrusted,
  };
}

/**
 * One record, or why it proves nothing: unsigned, not by a trusted key, about another backup than
 * the one it lies under, or not a record at all. The catalog still lists the backup. A storage
 * error is thrown: the listing just saw the key.
 */
export async function readRecord(storage: StorageBackend, trusted: TrustedKey[], key: string): Promise<{ record: VerifyRecord } | { problem: string }> {
  const { bytes, verdict } = await readSigned(storage, key, trusted);
  let record: Partial<VerifyRecord> | null;
  try {
    record = JSON.parse(bytes.toString('utf8')) as Partial<VerifyRecord> | null;
  } catch {
    return { problem: 'it is not valid JSON' };
  }
  if (record?.format !== 'lifeboat-verify/1' || typeof record.finishedAt !== 'string' || !record.source || !record.backupId) return { problem: 'it is not a verify record' };
  if (record.outcome !== 'passed' && record.outcome !== 'failed') return { problem: `its outcome is ${JSON.stringify(record.outcome)}` };
  if (verifiedBackupPrefix(key) !== keys.backupPrefix(record.source, record.backupId)) return { problem: `it is about ${record.source}/${record.backupId} but lies under ${verifiedBackupPrefix(key)}` };
  if (!verdict.trusted) return { problem: verdict.reason };
  return { record: record as VerifyRecord };
}

export const sortRecords = (records: VerifyRecord[]) => [...records].sort((a, b) => a.finishedAt.localeCompare(b.finishedAt));

export function summarize(record: VerifyRecord | undefined): VerifiedSummary | null {
  return record ? { level: record.level, outcome: record.outcome, at: record.finishedAt, restoreMs: record.restoreMs } : null;
}
