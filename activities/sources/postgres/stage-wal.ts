import { chownSync, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { LifeboatError } from '../../../lib/errors';
import type { PostgresPhysicalDescription } from '../../../lib/manifest';
import { parseWalName, walKeys } from '../../../lib/wal';
import { DigestStream } from '../../pipeline/digest';
import { decodeSteps } from '../../pipeline/encode';
import { startPipeline } from '../../pipeline/processes';
import type { StorageBackend } from '../../storage/backend';
import { readWalRecord, sameBytes } from '../../wal/record';
import type { TrustedKey } from '../../../lib/signing';
import { walCoverage } from '../../wal/coverage';

export interface StagedWal {
  files: number;
  bytes: number;
  /** The last segment staged: recovery cannot go past it. */
  through: string | null;
}

/**
 * Decrypts the archived WAL a base backup can replay into `directory`: the unbroken run of its
 * timeline's segments from its start segment on (recovery stops at the first hole anyway), and
 * every timeline history file. restore_command then only copies local files.
 */
export async function stageWal(storage: StorageBackend, trusted: TrustedKey[], source: string, base: PostgresPhysicalDescription, identity: string,
  directory: string, owner: { uid: number; gid: number } | undefined, onProgress: (text: string) => void): Promise<StagedWal> {
  const coverage = await walCoverage(storage, source, base.startWalFile);
  const through = coverage.continuity?.contiguousThrough ?? null;
  const wanted = [...coverage.files.keys()].filter((name) => {
    const parsed = parseWalName(name, base.walSegmentBytes);
    if (!parsed) return false;
    if (parsed.kind === 'history') return true;
    return parsed.kind === 'segment' && parsed.timeline === base.timeline && through !== null && name >= base.startWalFile && name <= through;
  }).sort();
  let bytes = 0;
  for (const [index, name] of wanted.entries()) {
    onProgress(`staging WAL ${index + 1}/${wanted.length}`);
    const file = join(directory, name);
    const staged = await stageOne(storage, trusted, source, name, identity, file);
    if (owner) chownSync(file, owner.uid, owner.gid);
    bytes += staged;
  }
  return { files: wanted.filter((name) => parseWalName(name)?.kind === 'segment').length, bytes, through };
}

/**
 * One archived file decrypted into `file` as a stream (a segment may be 1 GiB), checked against
 * its signed record (the raw size and SHA-256 the shipper wrote): WAL replays into the restored
 * cluster as it is, so a file nobody trusted signed is never staged. Returns its size.
 */
async function stageOne(storage: StorageBackend, trusted: TrustedKey[], source: string, name: string, identity: string, file: string): Promise<number> {
  const key = walKeys.object(source, name);
  const what = `WAL file ${name}`;
  // Judged before a byte is decrypted: an untrusted file never reaches the staging directory.
  const found = await readWalRecord(storage, trusted, source, name);
  if (!('record' in found)) {
    throw new LifeboatError('Untrusted', `${storage.location}: WAL file ${name} of ${source} is not trusted: ${'problem' in found ? found.problem : 'it has no signed record (catalog.trustedKeys)'}`,
      'it is never replayed: restore to a point before it, or from another region; WAL archived before signing existed is trusted with "lifeboat catalog sign --trust-existing"');
  }
  const { record } = found;

  const running = startPipeline(decodeSteps(identity, what), 'pipe');
  const raw = new DigestStream();
  try {
    const feeding = pipeline(await storage.get(key), running.input!);
    await Promise.all([feeding, pipeline(running.output, raw, createWriteStream(file, { mode: 0o600 })), running.finished]);
  } catch (error) {
    running.kill();
    const verdict = await running.finished.then(() => undefined, (reason: unknown) => reason);
    if (verdict instanceof LifeboatError) throw verdict;
    if (error instanceof LifeboatError) throw error;
    throw new LifeboatError('Storage', `${storage.location}: cannot read ${key}: ${(error as Error).message}`, 'check the region\'s storage and retry');
  }
  if (!sameBytes(record, raw.digest())) {
    throw new LifeboatError('ChecksumMismatch', `${key} decrypts to ${raw.size} bytes (sha256 ${raw.digest().sha256.slice(0, 16)}…), its record says ${record.size} bytes (sha256 ${record.sha256.slice(0, 16)}…)`,
      'this region holds another file under that name: restore from another region, or to a point before it');
  }
  return raw.size;
}
