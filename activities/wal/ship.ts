import { readFile, unlink } from 'node:fs/promises';
import type { Config } from '../../lib/config/schema';
import { LifeboatError } from '../../lib/errors';
import { walKeys } from '../../lib/wal';
import { encryptBuffer } from '../pipeline/buffers';
import type { StorageBackend } from '../storage/backend';
import { listSpool, spoolError } from './spool';

export interface ShipFailure {
  region: string;
  /** The failure type (Storage, Config, …) and what the storage said. */
  type: string;
  message: string;
  /** The file it failed on; the region is not tried again this round. */
  file: string;
}

export interface ShipResult {
  /** Files now in every region and gone from the spool, in WAL order. */
  shipped: string[];
  /** Per region, how many files were uploaded to it this round (the others had them already). */
  uploaded: Record<string, number>;
  /** Files that stay in the spool because a region does not have them yet. */
  waiting: string[];
  /** Files archive_command may still be writing; taken next round. */
  settling: string[];
  failures: ShipFailure[];
  bytes: number;
}

/** What the shipper heartbeats: where it is, so a stuck round is visible in the UI. */
export interface ShipHeartbeat {
  file: string;
  done: number;
  of: number;
}

/**
 * Moves the spool's finished WAL files to every region, oldest first: compressed and encrypted
 * once, stored where missing (a stat first, so a retried round uploads nothing twice), and
 * removed from the spool only when every region has it. A region that fails keeps its files in
 * the spool and is not tried again this round; the other regions still get theirs.
 */
export async function shipSpool(config: Config, source: string, storage: (region: string) => StorageBackend, onFile: (progress: ShipHeartbeat) => void = () => {}): Promise<ShipResult> {
  const spool = config.sources[source]?.kind === 'postgres' ? config.sources[source].wal?.spool : undefined;
  if (!spool) throw new LifeboatError('Config', `source ${source} has no wal block`, 'WAL archiving needs a postgres source with mode: physical and wal.spool');
  const listing = await listSpool(spool, source);
  const regions = Object.keys(config.regions);
  const result: ShipResult = { shipped: [], uploaded: Object.fromEntries(regions.map((r) => [r, 0])), waiting: [], settling: listing.settling, failures: [], bytes: 0 };
  const down = new Set<string>();
  for (const [index, file] of listing.ready.entries()) {
    onFile({ file: file.name, done: index, of: listing.ready.length });
    const key = walKeys.object(source, file.name);
    let everywhere = regions.every((region) => !down.has(region));
    const failed = (region: string, error: unknown) => {
      everywhere = false;
      down.add(region);
      result.failures.push({ region, file: file.name, type: error instanceof LifeboatError ? error.type : 'Storage', message: (error as Error).message });
    };
    const live = regions.filter((region) => !down.has(region));
    // Regions at once: a WAL file waits for the slowest region, not for the sum of them.
    const present = await Promise.all(live.map((region) => storage(region).stat(key).then((info) => info !== undefined, (error: unknown) => (failed(region, error), true))));
    const missing = live.filter((_, i) => !present[i]);
    if (missing.length > 0) {
      // Reading and encrypting fail for every region alike (a missing tool, a file gone): that is the round's failure, not a region's.
      const encrypted = await encryptBuffer(await readFile(file.path), config.compression, config.encryption.recipients, `WAL ${file.name} of ${source}`);
      await Promise.all(missing.map(async (region) => {
        try {
          await storage(region).put(key, encrypted);
          result.uploaded[region]! += 1;
          result.bytes += encrypted.length;
        } catch (error) {
          failed(region, error);
        }
      }));
    }
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
