import { walKeys } from '../../lib/wal';
import type { Digest } from '../pipeline/digest';
import { hashFile } from '../sources/files/sample';
import type { Signer, TrustedKey } from '../../lib/signing';
import { readSigned, putSigned } from '../signed';
import type { StorageBackend } from '../storage/backend';

/** What `walKeys.record` holds: the raw archived file's size and SHA-256. */
export interface WalRecord extends Digest {
  format: 'lifeboat-wal-record/1';
  file: string;
}

/** Size and SHA-256 of a file, read as a stream (a segment may be 1 GiB). */
export async function digestFile(path: string): Promise<Digest> {
  const { sha256, bytes } = await hashFile(path);
  return { sha256, size: bytes };
}

/**
 * The signed record of a WAL file (together they are the source's WAL index): missing when there is
 * none, or the reason it is not trusted (unsigned, another key, another file's record).
 */
export async function readWalRecord(storage: StorageBackend, trusted: TrustedKey[], source: string, file: string): Promise<{ record: WalRecord } | { missing: true } | { problem: string }> {
  const key = walKeys.record(source, file);
  if (!(await storage.stat(key))) return { missing: true };
  const { bytes, verdict } = await readSigned(storage, key, trusted);
  let parsed: Partial<WalRecord>;
  try {
    parsed = JSON.parse(bytes.toString('utf8')) as Partial<WalRecord>;
  } catch {
    return { problem: 'its record is not valid JSON' };
  }
  if (parsed.format !== 'lifeboat-wal-record/1' || parsed.file !== file || typeof parsed.sha256 !== 'string' || typeof parsed.size !== 'number') {
    return { problem: `its record is not a record of ${file}` };
  }
  if (!verdict.trusted) return { problem: `its record is not trusted: ${verdict.reason}` };
  return { record: parsed as WalRecord };
}

export async function writeWalRecord(storage: StorageBackend, signer: Signer, source: string, file: string, raw: Digest): Promise<void> {
  const record: WalRecord = { format: 'lifeboat-wal-record/1', file, size: raw.size, sha256: raw.sha256 };
  await putSigned(storage, walKeys.record(source, file), Buffer.from(`${JSON.stringify(record)}\n`), signer);
}

export function sameBytes(record: Digest, raw: Digest): boolean {
  return record.size === raw.size && record.sha256 === raw.sha256;
}
