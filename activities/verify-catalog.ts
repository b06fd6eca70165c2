import { keys } from '../lib/manifest';
import type { VerifyLevel, VerifyRecord } from '../lib/verify';
import type { TrustedKey } from '../lib/signing';
import type { CatalogEntry, UntrustedItem } from './catalog-judge';
import { readSigned } from './signed';
import type { StorageBackend } from './storage/backend';

// What verifyRestore proved about each backup. Records sit under the backup's own prefix
// (<source>/<id>/verify/<timestamp>.json), so the listing that finds the manifests finds them too
// (catalog.ts listVerifiedBackups).

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

/**
 * One record, or why it proves nothing: unsigned, not by a trusted key, about another backup than
 * the one it lies under, or not a record at all. The catalog still lists the backup. A storage
 * error is thrown: the listing just saw the key.
 */
export async function readRecord(storage: StorageBackend, trusted: TrustedKey[], key: string): Promise<{ record: VerifyRecord; keyId: string } | { problem: string }> {
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
  return { record: record as VerifyRecord, keyId: verdict.keyId };
}

export const sortRecords = (records: VerifyRecord[]) => [...records].sort((a, b) => a.finishedAt.localeCompare(b.finishedAt));

export function summarize(record: VerifyRecord | undefined): VerifiedSummary | null {
  return record ? { level: record.level, outcome: record.outcome, at: record.finishedAt, restoreMs: record.restoreMs } : null;
}
