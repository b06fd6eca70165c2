import { isPhysical, type PostgresPhysicalDescription } from '../../lib/manifest';
import type { Continuity } from '../../lib/wal';
import { listBackups } from '../catalog';
import type { TrustedKey } from '../../lib/signing';
import type { StorageBackend } from '../storage/backend';
import { walCoverage } from './coverage';

export interface BaseBackupRef {
  id: string;
  finishedAt: string;
  startWalFile: string;
  timeline: number;
}

export interface WalGap {
  firstMissing: string;
  lastMissing: string;
  missing: number;
  resumesAt: string;
  /** When the segment after the gap arrived: the gap is at least this old. */
  since: string;
}

/** One region's WAL of one source: what `wal status`, the shipper's continuity check and failover's preflight read. */
export interface WalRegionState {
  region: string;
  files: number;
  /** The newest segment stored and when it arrived: its age is the region's real RPO. */
  newest: { name: string; modified: string } | null;
  /** The newest base backup (mode: physical) in the region; continuity is counted from its startWalFile. */
  base: BaseBackupRef | null;
  continuity: Continuity | null;
  gaps: WalGap[];
  /** When the last segment of the unbroken run from the base backup arrived: recovery reaches no further. */
  reachableUntil: string | null;
}

/** The newest physical base backup of the source in the region, or null. */
export async function newestBaseBackup(storage: StorageBackend, trusted: TrustedKey[], source: string): Promise<BaseBackupRef | null> {
  const bases = (await listBackups(storage, trusted, source)).filter((entry) => isPhysical(entry.manifest.description));
  const newest = bases.at(-1)?.manifest;
  if (!newest) return null;
  const description = newest.description as PostgresPhysicalDescription;
  return { id: newest.id, finishedAt: newest.finishedAt, startWalFile: description.startWalFile, timeline: description.timeline };
}

export async function walRegionState(storage: StorageBackend, trusted: TrustedKey[], source: string, region: string): Promise<WalRegionState> {
  const base = await newestBaseBackup(storage, trusted, source);
  const coverage = await walCoverage(storage, source, base?.startWalFile);
  const gaps = (coverage.continuity?.gaps ?? []).map((gap) => ({ ...gap, since: coverage.files.get(gap.resumesAt)!.modified.toISOString() }));
  return { region, files: coverage.files.size, newest: coverage.newest, base, continuity: coverage.continuity, gaps, reachableUntil: coverage.reachableUntil };
}
