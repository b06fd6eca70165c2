import { constants } from 'node:fs';
import { access, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { LifeboatError } from '../../lib/errors';
import { parseWalName } from '../../lib/wal';

export interface SpooledFile {
  name: string;
  path: string;
  size: number;
}

export interface SpoolListing {
  /** Finished files, in WAL order (name order is WAL order: timeline, then position; a timeline's .history before its segments). */
  ready: SpooledFile[];
  /** WAL files archive_command may still be writing: a short segment, or one changed within the settle time. */
  settling: string[];
}

/**
 * How long a file must stay unchanged before it is taken. archive_command's `cp` writes in place
 * (the atomic variant renames a dot-file, which is never a WAL name): a file changed this
 * recently may still be growing.
 */
export const SETTLE_MS = 2_000;

/** wal_segment_size is a power of two from 1 MiB to 1 GiB: a segment of another size is still being copied. */
function fullSegmentSize(size: number): boolean {
  return size >= 1 << 20 && size <= 1 << 30 && (size & (size - 1)) === 0;
}

/** Throws the Config error that says what is wrong with the spool directory, if anything is. */
export async function checkSpool(spool: string, source: string): Promise<void> {
  try {
    await access(spool, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (error) {
    throw spoolError(spool, source, error);
  }
}

/** The spool's finished WAL files; temp and dot files and anything that is not a WAL name are left alone. */
export async function listSpool(spool: string, source: string, now = Date.now()): Promise<SpoolListing> {
  await checkSpool(spool, source);
  const listing: SpoolListing = { ready: [], settling: [] };
  for (const name of (await readdir(spool)).sort()) {
    const parsed = parseWalName(name);
    if (!parsed) continue;
    const file = path.join(spool, name);
    const info = await stat(file).catch(() => undefined);
    // Gone between readdir and stat: another shipper attempt took it.
    if (!info?.isFile()) continue;
    const settled = now - info.mtimeMs >= SETTLE_MS;
    if (settled && (parsed.kind !== 'segment' || fullSegmentSize(info.size))) listing.ready.push({ name, path: file, size: info.size });
    else listing.settling.push(name);
  }
  return listing;
}

export function spoolError(spool: string, source: string, error: unknown): LifeboatError {
  const code = (error as NodeJS.ErrnoException).code;
  const what = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' || code === 'EPERM' ? 'cannot be read and written by the worker' : `cannot be used (${code ?? String(error)})`;
  return new LifeboatError('Config', `WAL spool ${spool} of ${source} ${what}`,
    `create it on the machine of ${source}'s worker, writable by both the postgres OS user (archive_command) and the worker, and set wal.spool to it (see docs/wal.md)`);
}
