import { chownSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { LifeboatError } from '../../../lib/errors';
import type { PostgresPhysicalDescription } from '../../../lib/manifest';
import { parseWalName, segmentName, segmentOfLsn, walKeys } from '../../../lib/wal';
import { digestFile, type Digest } from '../../pipeline/digest';
import { FileDecoder } from '../../pipeline/file-decoder';
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
/**
 * How far staging runs ahead of the segment recovery last asked for, in bytes (at least two
 * prefetch rounds of segments): enough to keep replay fed, while the DR host's disk holds a
 * window of the archive and not all of it (pgBackRest's archive-get-queue-max plays this part).
 */
export const WAL_AHEAD_BYTES = 512 * 1024 * 1024;
/** Segments kept behind the one last asked for: PostgreSQL may read the last ones again (a retried read). */
export const WAL_KEEP_BEHIND = 2;

/** In the staging directory: every file that will be staged, one name per line, written before the first. */
export const WANTED_LIST = '.wanted';
/** In the staging directory: staging failed, so recovery must stop rather than take the archive as ended. */
export const FAILED_MARK = '.failed';
/** In the staging directory: the file restore_command was last asked for, written by it (renamed into place). */
export const ASKED_MARK = '.asked';

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

export interface StageOptions {
  /** The staged files' owner (the cluster's OS user), when the worker runs as root. */
  owner?: { uid: number; gid: number };
  /** Segment size: with aheadBytes, how many segments may wait staged ahead of replay. */
  segmentBytes: number;
  aheadBytes?: number;
  onProgress: (text: string) => void;
  /** Recovery ended (promoted, or failed): stop; files in flight finish. */
  signal?: AbortSignal;
  /** How often the staging directory is looked at for what replay asked for. */
  pollMs?: number;
}

/**
 * Decrypts the archived WAL a base backup can replay into `directory`: every history file first,
 * then segments in name order (recovery asks for them in that order), `WAL_PREFETCH` at a time,
 * each under a temporary name renamed when whole and checked, so restore_command
 * (restoreCommandScript) never copies half a file. The list of names goes first, so
 * restore_command can tell a file still coming from one that never will.
 *
 * Staging runs at most `aheadBytes` ahead of the segment restore_command last asked for, and
 * deletes segments recovery has left behind, so the DR host's disk holds a window of the archive,
 * not the archive. A segment asked for again after it was deleted is staged again. Without
 * deletions it ends when everything is staged; after one it serves until `signal` (recovery ended).
 */
export async function stageWal(storage: StorageBackend, trusted: TrustedKey[], source: string, plan: { wanted: string[]; through: string | null }, identity: string,
  directory: string, options: StageOptions): Promise<StagedWal> {
  const { wanted, through } = plan;
  const { owner, signal } = options;
  writeFileSync(join(directory, WANTED_LIST), wanted.map((name) => `${name}\n`).join(''));
  if (owner) chownSync(join(directory, WANTED_LIST), owner.uid, owner.gid);
  const history = wanted.filter((name) => parseWalName(name)?.kind !== 'segment');
  const segmentList = wanted.filter((name) => parseWalName(name)?.kind === 'segment');
  const position = new Map(segmentList.map((name, index) => [name, index]));
  const ahead = Math.max(2 * WAL_PREFETCH, Math.floor((options.aheadBytes ?? WAL_AHEAD_BYTES) / options.segmentBytes));
  const pollMs = options.pollMs ?? 50;
  const segments = new Map<string, number>();
  const present = new Set<string>();
  const inFlight = new Set<string>();
  let historyBytes = 0;
  let historyNext = 0;
  let evicted = false;
  let failed = false;
  let staged = 0;

  /** Where replay is: the index of the segment last asked for, -1 before the first. A history file asked for (at promotion) moves nothing. */
  let lastAsked = -1;
  const asked = (): number => {
    let name: string | undefined;
    try {
      name = readFileSync(join(directory, ASKED_MARK), 'utf8').trim();
    } catch {
      return lastAsked;
    }
    lastAsked = position.get(name) ?? lastAsked;
    return lastAsked;
  };
  /** Deletes what replay has left behind; the file being copied is the one asked for, never among them. */
  const evict = (at: number) => {
    for (const name of present) {
      if (position.get(name)! >= at - WAL_KEEP_BEHIND) continue;
      rmSync(join(directory, name), { force: true });
      present.delete(name);
      evicted = true;
    }
  };
  /** The next file to stage: a history file, else the first segment of the window not there yet. */
  const nextName = (): string | undefined => {
    if (historyNext < history.length) return history[historyNext++];
    const at = asked();
    evict(at);
    const from = Math.max(at, 0);
    for (let index = from; index < Math.min(segmentList.length, from + ahead + 1); index += 1) {
      const name = segmentList[index]!;
      if (!present.has(name) && !inFlight.has(name)) return name;
    }
    return undefined;
  };
  const finished = () => !evicted && historyNext >= history.length && present.size === segmentList.length;

  const worker = async (decoder: FileDecoder) => {
    while (!signal?.aborted && !failed && !finished()) {
      const name = nextName();
      if (name === undefined) {
        await sleep(pollMs);
        continue;
      }
      inFlight.add(name);
      const file = join(directory, name);
      const partial = `${file}.partial`;
      try {
        const size = await stageOne(storage, trusted, source, name, decoder, partial);
        if (owner) chownSync(partial, owner.uid, owner.gid);
        renameSync(partial, file);
        if (position.has(name)) {
          present.add(name);
          segments.set(name, size);
        } else {
          historyBytes += size;
        }
      } catch (error) {
        failed = true;
        throw error;
      } finally {
        inFlight.delete(name);
      }
      staged += 1;
      options.onProgress(`staging WAL: ${staged} file(s) staged of ${wanted.length}, ${present.size} waiting for replay`);
    }
  };
  const decoders = Array.from({ length: Math.min(WAL_PREFETCH, wanted.length) }, () => new FileDecoder(identity));
  // Every slot finishes the file it has before the decoders stop: the first failure is the one reported.
  const ended = await Promise.allSettled(decoders.map(worker));
  for (const decoder of decoders) decoder.close();
  const failure = ended.find((result) => result.status === 'rejected');
  if (failure) throw failure.reason;
  let bytes = historyBytes;
  for (const size of segments.values()) bytes += size;
  return { files: segments.size, bytes, segments, through };
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
    '# Where replay is: staging stays a window ahead of it and deletes what it has left behind.',
    `printf '%s\\n' "$1" > "$dir/${ASKED_MARK}.tmp" && mv -f "$dir/${ASKED_MARK}.tmp" "$dir/${ASKED_MARK}" || exit 200`,
    'while :; do',
    `  [ -f "$dir/${FAILED_MARK}" ] && exit 200`,
    '  if [ -f "$dir/$1" ]; then',
    '    cp "$dir/$1" "$2" && exit 0',
    '    # Deleted between the test and the copy (it was behind replay): staging fetches it again.',
    '    # A copy that failed otherwise (a full pg_wal) is fatal, not the end of the archive.',
    '    [ -f "$dir/$1" ] && exit 200',
    '  fi',
    '  sleep 0.05',
    'done',
    '',
  ].join('\n');
}

/**
 * One archived file decrypted into `file` as a stream (a segment may be 1 GiB), checked against
 * its signed record (the raw size and SHA-256 the shipper wrote): WAL replays into the restored
 * cluster as it is, so a file nobody trusted signed is never staged. Returns its size.
 */
async function stageOne(storage: StorageBackend, trusted: TrustedKey[], source: string, name: string, decoder: FileDecoder, file: string): Promise<number> {
  const key = walKeys.object(source, name);
  const what = `WAL file ${name}`;
  // Judged before a byte is decrypted: an untrusted file never reaches the staging directory.
  const found = await readWalRecord(storage, trusted, source, name);
  if (!('record' in found)) {
    throw new LifeboatError('Untrusted', `${storage.location}: WAL file ${name} of ${source} is not trusted: ${'problem' in found ? found.problem : 'it has no signed record (catalog.trustedKeys)'}`,
      'it is never replayed: restore to a point before it, or from another region; WAL archived before signing existed is trusted with "lifeboat catalog sign --trust-existing"');
  }
  const { record } = found;

  // One long-lived decoder per prefetch slot writes the file itself; it is hashed afterwards from
  // the page cache. Forking the worker and passing 16 MiB segments through its event loop cost
  // more CPU than age and zstd together, taken from the PostgreSQL replaying beside it.
  let raw: Digest;
  try {
    await decoder.decode(storage.filePath ? { file: await storage.filePath(key) } : await storage.get(key), file, what);
    raw = await digestFile(file);
  } catch (error) {
    if (error instanceof LifeboatError) throw error;
    throw new LifeboatError('Storage', `${storage.location}: cannot read ${key}: ${(error as Error).message}`, 'check the region\'s storage and retry');
  }
  if (!sameBytes(record, raw)) {
    throw new LifeboatError('ChecksumMismatch', `${key} decrypts to ${raw.size} bytes (sha256 ${raw.sha256.slice(0, 16)}…), its record says ${record.size} bytes (sha256 ${record.sha256.slice(0, 16)}…)`,
      'this region holds another file under that name: restore from another region, or to a point before it');
  }
  return raw.size;
}
