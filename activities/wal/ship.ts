import { createReadStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { Config } from '../../lib/config/schema';
import { LifeboatError } from '../../lib/errors';
import { walKeys } from '../../lib/wal';
import { DigestStream, type Digest } from '../pipeline/digest';
import { encodeSteps } from '../pipeline/encode';
import { startPipeline } from '../pipeline/processes';
import type { Deps } from '../deps';
import type { StorageBackend } from '../storage/backend';
import { digestFile, readWalRecord, sameBytes, writeWalRecord } from './record';
import { listSpool, spoolError, type SpooledFile } from './spool';

export interface ShipFailure {
  region: string;
  /** The failure type (Storage, Config, ChecksumMismatch, …) and what the storage said. */
  type: string;
  message: string;
  /** The file it failed on; on a storage failure the region is not tried again this round. */
  file: string;
}

export interface ShipResult {
  /** Files now in every region and gone from the spool, in WAL order. */
  shipped: string[];
  /** Per region, how many files were uploaded to it this round (the others had them already). */
  uploaded: Record<string, number>;
  /** Files that stay in the spool because a region does not have them yet, or holds other bytes under their name. */
  waiting: string[];
  /** Files archive_command may still be writing; taken next round. */
  settling: string[];
  failures: ShipFailure[];
  bytes: number;
  /** How many of each there were: set when the lists above hold only their first few (see firstOf). */
  counts?: { shipped: number; waiting: number; settling: number; failures: number };
}

/** Names a round's result lists in Temporal's history: a spool's backlog may be thousands of files. */
export const LISTED_PER_ROUND = 20;

/** The round's result as the history carries it: counts of everything, the first few names of each list. */
export function firstOf(result: ShipResult): ShipResult {
  const counts = { shipped: result.shipped.length, waiting: result.waiting.length, settling: result.settling.length, failures: result.failures.length };
  const head = <T>(items: T[]) => items.slice(0, LISTED_PER_ROUND);
  return { ...result, shipped: head(result.shipped), waiting: head(result.waiting), settling: head(result.settling), failures: head(result.failures), counts };
}

/** What the shipper heartbeats: where it is, so a stuck round is visible in the UI. */
export interface ShipHeartbeat {
  file: string;
  done: number;
  of: number;
}

/** A region holds something else under a file's name: the file stays, the region still takes the next files. */
class Conflict extends Error {}

/**
 * Moves the spool's finished WAL files to every region, oldest first: streamed through zstd and
 * age (a segment may be 1 GiB), stored where missing, and removed from the spool only when every
 * region holds the same bytes: a stored object counts only when its record (size and SHA-256 of
 * the raw file) matches the spooled file. A region that fails keeps its files in the spool and is
 * not tried again this round; the other regions still get theirs.
 */
export async function shipSpool(config: Config, source: string, { storage, trusted, signer }: Pick<Deps, 'storage' | 'trusted' | 'signer'>, onFile: (progress: ShipHeartbeat) => void = () => {}): Promise<ShipResult> {
  const spool = config.sources[source]?.kind === 'postgres' ? config.sources[source].wal?.spool : undefined;
  if (!spool) throw new LifeboatError('Config', `source ${source} has no wal block`, 'WAL archiving needs a postgres source with mode: physical and wal.spool');
  const listing = await listSpool(spool, source);
  const regions = Object.keys(config.regions);
  const result: ShipResult = { shipped: [], uploaded: Object.fromEntries(regions.map((r) => [r, 0])), waiting: [], settling: listing.settling, failures: [], bytes: 0 };
  const down = new Set<string>();
  for (const [index, file] of listing.ready.entries()) {
    onFile({ file: file.name, done: index, of: listing.ready.length });
    // Reading fails for every region alike (a file gone, unreadable): that is the round's failure, not a region's.
    const raw = await digestFile(file.path).catch((error: unknown) => { throw spoolError(spool, source, error); });
    let everywhere = regions.every((region) => !down.has(region));
    await Promise.all(regions.filter((region) => !down.has(region)).map(async (region) => {
      try {
        const stored = await storeIn(storage(region), { trusted, signer }, config, source, file, raw);
        if (stored !== undefined) {
          result.uploaded[region]! += 1;
          result.bytes += stored;
        }
      } catch (error) {
        everywhere = false;
        if (!(error instanceof Conflict)) down.add(region);
        const type = error instanceof Conflict ? 'ChecksumMismatch' : error instanceof LifeboatError ? error.type : 'Storage';
        result.failures.push({ region, file: file.name, type, message: (error as Error).message });
      }
    }));
    if (!everywhere) {
      result.waiting.push(file.name);
      continue;
    }
    try {
      await unlink(file.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw spoolError(spool, source, error);
    }
    result.shipped.push(file.name);
  }
  return result;
}

/**
 * Makes one region hold the file: nothing to do when its object and record are there and the
 * record matches; otherwise the record first, then the object, so an object is never stored
 * without the record that proves what it holds. Returns the bytes uploaded, undefined for none.
 */
async function storeIn(region: StorageBackend, catalog: Pick<Deps, 'trusted' | 'signer'>, config: Config, source: string, file: SpooledFile, raw: Digest): Promise<number | undefined> {
  const key = walKeys.object(source, file.name);
  const [object, found] = await Promise.all([region.stat(key), readWalRecord(region, catalog.trusted, source, file.name)]);
  if ('problem' in found) {
    throw new Conflict(`${region.location}: ${walKeys.record(source, file.name)} is not trusted (${found.problem}): the spooled ${file.name} is kept. `
      + 'Something other than Lifeboat wrote there: find out what before removing either');
  }
  const record = 'record' in found ? found.record : undefined;
  const spooled = `${raw.size} bytes, sha256 ${raw.sha256.slice(0, 16)}…`;
  if (record && !sameBytes(record, raw)) {
    throw new Conflict(`${region.location}: ${walKeys.record(source, file.name)} records other bytes (${record.size} bytes, sha256 ${record.sha256.slice(0, 16)}…) than the spooled ${file.name} (${spooled}): the spooled file is kept. `
      + 'Another cluster may archive under this source name, or the file was changed: find out which copy is right before removing either');
  }
  if (object && !record) {
    throw new Conflict(`${region.location}: ${key} exists without a record of its bytes (written by an older Lifeboat or by something else), so it cannot be shown to hold the spooled ${file.name} (${spooled}): the spooled file is kept. `
      + `Compare it (age -d -i IDENTITY | zstd -d | sha256sum); if it is the same, remove the spooled file by hand`);
  }
  if (object) return undefined;
  if (!record) await writeWalRecord(region, catalog.signer(), source, file.name, raw);
  return uploadFile(region, key, file, raw, config, `WAL ${file.name} of ${source}`);
}

/** The file through zstd and age into `key`, as a stream; the upload completes only when every tool succeeded and the bytes read are the ones recorded. */
async function uploadFile(region: StorageBackend, key: string, file: SpooledFile, raw: Digest, config: Config, what: string): Promise<number> {
  const running = startPipeline(encodeSteps(config.compression, config.encryption.recipients, what), 'pipe');
  const read = new DigestStream();
  const checked = running.finished.then(() => {
    const got = read.digest();
    if (!sameBytes(got, raw)) throw new Conflict(`${file.path} changed while it was shipped (${got.size} bytes read, ${raw.size} recorded): it stays in the spool`);
  });
  const feeding = pipeline(createReadStream(file.path), read, running.input!);
  const storing = region.putStream(key, running.output.pipe(new DigestStream(checked)));
  try {
    const [, { size }] = await Promise.all([feeding, storing, checked]);
    return size;
  } catch (error) {
    running.kill();
    // The tools' verdict explains a broken pipe or an aborted upload; report it first.
    const cause = await checked.then(() => undefined, (reason: unknown) => reason);
    throw cause ?? error;
  }
}
