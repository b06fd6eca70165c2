import { walKeys } from '../../lib/wal';
import type { Digest } from '../pipeline/digest';
import { hashFile } from '../sources/files/sample';
import { readAll, type StorageBackend } from '../storage/backend';

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

/** The stored record of a WAL file; undefined when there is none, or none this version can read. */
export async function readWalRecord(storage: StorageBackend, source: string, file: string): Promise<WalRecord | undefined> {
  const key = walKeys.record(source, file);
  if (!(await storage.stat(key))) return undefined;
  let parsed: Partial<WalRecord>;
  try {
    parsed = JSON.parse((await readAll(await storage.get(key))).toString('utf8')) as Partial<WalRecord>;
  } catch (error) {
    if (error instanceof SyntaxError) return undefined;
    throw error;
  }
  if (parsed.format !== 'lifeboat-wal-record/1' || parsed.file !== file || typeof parsed.sha256 !== 'string' || typeof parsed.size !== 'number') return undefined;
  return parsed as WalRecord;
}

export async function writeWalRecord(storage: StorageBackend, source: string, file: string, raw: Digest): Promise<void> {
  const record: WalRecord = { format: 'lifeboat-wal-record/1', file, size: raw.size, sha256: raw.sha256 };
  await storage.put(walKeys.record(source, file), Buffer.from(`${JSON.stringify(record)}\n`));
}

export function sameBytes(record: Digest, raw: Digest): boolean {
  return record.size === raw.size && record.sha256 === raw.sha256;
}
