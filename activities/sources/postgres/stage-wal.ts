import { chownSync, closeSync, openSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { LifeboatError } from '../../../lib/errors';
import type { PostgresPhysicalDescription } from '../../../lib/manifest';
import { parseWalName, segmentName, segmentOfLsn, walKeys } from '../../../lib/wal';
import { digestFile, type Digest } from '../../pipeline/digest';
import { decodeSteps } from '../../pipeline/encode';
import { startPipelineToFile } from '../../pipeline/processes';
import type { StorageBackend } from '../../storage/backend';
import { readWalRecord, sameBytes } from '../../wal/record';
import type { TrustedKey } from '../../../lib/signing';
import { walCoverage } from '../../wal/coverage';

export interface StagedWal {
  files: number;
  bytes: number;
  /** Each segment staged and its size: staging runs ahead of replay, so not all of them were replayed. */
  segments: Map<string, number>;
  /** The last segment staged: recovery cannot go past it. */
  through: string | null;
}

/** Segments fetched at once: replay reads one at a time, so a few in flight keep it fed from a remote region. */
export const WAL_PREFETCH = 4;

/** In the staging directory: every file that will be staged, one name per line, written before the first. */
export const WANTED_LIST = '.wanted';
/** In the staging directory: staging failed, so recovery must stop rather than take the archive as ended. */
export const FAILED_MARK = '.failed';

/** The files a base backup can replay: the unbroken run of its timeline from its start segment on, and every history file. */
export async function walToStage(storage: StorageBackend, source: string, base: PostgresPhysicalDescription): Promise<{ wanted: string[]; through: string | null }> {
  const coverage = await walCoverage(storage, source, base.startWalFile);
  const through = coverage.continuity?.contiguousThrough ?? null;
  const wanted = [...coverage.files.keys()].filter((name) => {
    const parsed = parseWalName(name, base.walSegmentBytes);
    if (!parsed) return false;
    if (parsed.kind === 'history') return true;
    return parsed.kind === 'segment' && parsed.timeline === base.timeline && through !== null && name >= base.startWalFile && name <= through;
  }).sort();
  return { wanted, through };
}

/**
 * Decrypts the archived WAL a base backup can replay into `directory`, `WAL_PREFETCH` files at a
 * time in name order (recovery asks for them in that order), each under a temporary name renamed
 * when whole and checked, so restore_command (restoreCommandScript) never copies half a file.
 * The list of names goes first, so restore_command can tell a file still coming from one that
 * never will. `signal` stops it early (recovery reached its target: the rest is not needed).
 */
export async function stageWal(storage: StorageBackend, trusted: TrustedKey[], source: string, plan: { wanted: string[]; through: string | null }, identity: string,
  directory: string, owner: { uid: number; gid: number } | undefined, onProgress: (text: string) => void, signal?: AbortSignal): Promise<StagedWal> {
  const { wanted, through } = plan;
  writeFileSync(join(directory, WANTED_LIST), wanted.map((name) => `${name}\n`).join(''));
  if (owner) chownSync(join(directory, WANTED_LIST), owner.uid, owner.gid);
  let bytes = 0;
  let files = 0;
  const segments = new Map<string, number>();
  let next = 0;
  let done = 0;
  let failed = false;
  const worker = async () => {
    while (next < wanted.length && !signal?.aborted && !failed) {
      const name = wanted[next++]!;
      const file = join(directory, name);
      const partial = `${file}.partial`;
      const size = await stageOne(storage, trusted, source, name, identity, partial).catch((error: unknown) => {
        failed = true;
        throw error;
      });
      if (owner) chownSync(partial, owner.uid, owner.gid);
      renameSync(partial, file);
      bytes += size;
      if (parseWalName(name)?.kind === 'segment') {
        files += 1;
        segments.set(name, size);
      }
      done += 1;
      onProgress(`staging WAL ${done}/${wanted.length}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(WAL_PREFETCH, wanted.length) }, worker));
  return { files, bytes, segments, through };
}

/**
 * What recovery replayed of the staged WAL: the base backup's timeline's segments up to the one
 * holding the LSN it stopped at. Staging fetches ahead until promotion, so with a target before
 * the end of the archive more is staged than replayed, and counting that would overstate the rate.
 */
export function replayedWal(staged: StagedWal, base: { timeline: number; walSegmentBytes: number }, recoveredLsn: string): { files: number; bytes: number } {
  if (!recoveredLsn) return { files: staged.files, bytes: staged.bytes };
  const last = segmentName(base.timeline, segmentOfLsn(recoveredLsn, base.walSegmentBytes), base.walSegmentBytes);
  let files = 0;
  let bytes = 0;
  for (const [name, size] of staged.segments) {
    if (name > last) continue;
    files += 1;
    bytes += size;
  }
  return { files, bytes };
}

/**
 * restore_command for a staging directory that is still being filled: a name not in the list is
 * not archived (exit 1: PostgreSQL takes that as the end of the archive); a listed one is waited
 * for; when staging failed it exits 200, which PostgreSQL takes as fatal, so a broken fetch stops
 * recovery instead of ending it early at a point nobody chose.
 */
export function restoreCommandScript(directory: string): string {
  const dir = `'${directory.replaceAll("'", "'\\''")}'`;
  return [
    '#!/bin/sh',
    '# Written by Lifeboat for one point-in-time restore: restore_command = \'this-script %f %p\'.',
    `dir=${dir}`,
    `grep -qxF "$1" "$dir/${WANTED_LIST}" || exit 1`,
    'while [ ! -f "$dir/$1" ]; do',
    `  [ -f "$dir/${FAILED_MARK}" ] && exit 200`,
    '  sleep 0.05',
    'done',
    'exec cp "$dir/$1" "$2"',
    '',
  ].join('\n');
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

  // zstd writes the file itself and it is hashed afterwards from the page cache: passing 16 MiB
  // segments through the worker's event loop cost more CPU than age and zstd together, taken from
  // the PostgreSQL replaying beside it.
  const fd = openSync(file, 'w', 0o600);
  const running = startPipelineToFile(decodeSteps(identity, what), 'pipe', fd);
  let raw: Digest;
  try {
    await Promise.all([pipeline(await storage.get(key), running.input!), running.finished]);
    raw = await digestFile(file);
  } catch (error) {
    running.kill();
    const verdict = await running.finished.then(() => undefined, (reason: unknown) => reason);
    if (verdict instanceof LifeboatError) throw verdict;
    if (error instanceof LifeboatError) throw error;
    throw new LifeboatError('Storage', `${storage.location}: cannot read ${key}: ${(error as Error).message}`, 'check the region\'s storage and retry');
  } finally {
    // zstd holds its own copy from its start on.
    closeSync(fd);
  }
  if (!sameBytes(record, raw)) {
    throw new LifeboatError('ChecksumMismatch', `${key} decrypts to ${raw.size} bytes (sha256 ${raw.sha256.slice(0, 16)}…), its record says ${record.size} bytes (sha256 ${record.sha256.slice(0, 16)}…)`,
      'this region holds another file under that name: restore from another region, or to a point before it');
  }
  return raw.size;
}
