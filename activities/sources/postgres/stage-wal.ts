import { chownSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LifeboatError } from '../../../lib/errors';
import type { PostgresPhysicalDescription } from '../../../lib/manifest';
import { parseWalName, walKeys } from '../../../lib/wal';
import { decryptBuffer } from '../../pipeline/buffers';
import { readAll, type StorageBackend } from '../../storage/backend';
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
export async function stageWal(storage: StorageBackend, source: string, base: PostgresPhysicalDescription, identity: string,
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
    const key = walKeys.object(source, name);
    let data: Buffer;
    try {
      data = await decryptBuffer(await readAll(await storage.get(key)), identity, `WAL file ${name}`);
    } catch (error) {
      if (error instanceof LifeboatError) throw error;
      throw new LifeboatError('Storage', `${storage.location}: cannot read ${key}: ${(error as Error).message}`, 'check the region\'s storage and retry');
    }
    const file = join(directory, name);
    writeFileSync(file, data, { mode: 0o600 });
    if (owner) chownSync(file, owner.uid, owner.gid);
    bytes += data.length;
  }
  return { files: wanted.filter((name) => parseWalName(name)?.kind === 'segment').length, bytes, through };
}
