import type { BackupRef, RegionComparison, SyncPlan } from '../activities/sync';
import type { CopyPlanSummary } from '../activities/sync-plan';
import type { Alert } from '../lib/alerts';
import { raiseAlert } from './alert';
import type { DivergentReport } from './sync-divergent';

export type { CopyVerification, DivergentReport } from './sync-divergent';

// What a sync reports: per source and region, what was copied, what failed, and the lag; and
// the alerts that follow from it.

export interface SyncFailure {
  /** null when the whole region failed (its catalog could not be read). */
  backupId: string | null;
  type: string;
  message: string;
}

export interface RegionSyncResult {
  region: string;
  /** Backup ids copied by this sync: the first LISTED of them (copiedCount counts them all). */
  copied: string[];
  copiedCount: number;
  copiedBytes: number;
  /** Backups the region already held whole. */
  present: number;
  /** The first LISTED failures (failedCount counts them all). */
  failed: SyncFailure[];
  failedCount: number;
  /** Backups whose copy here differs from the home region's: left as they are, both copies verified. The first LISTED. */
  divergent: DivergentReport[];
  divergentCount: number;
  /** The newest backup the region holds after this run. */
  newest: BackupRef | null;
  /** Seconds since that backup finished. */
  ageSeconds: number | null;
  /** How far it is behind the home region's newest (0 when caught up; from the home's oldest when the region holds none). */
  lagSeconds: number | null;
  lagging: boolean;
}

export interface SourceSyncResult {
  source: string;
  home: string;
  homeNewest: BackupRef | null;
  homeAgeSeconds: number | null;
  regions: RegionSyncResult[];
}

export interface SyncResult {
  checkedAt: string | null;
  lagThresholdSeconds: number;
  sources: SourceSyncResult[];
}

/** Items a sync's result and carried state list; beyond it they are counted (the history stays small). */
export const LISTED = 20;

/** One region's part of a run, before the report is made of it. Lists hold the first LISTED items; counts count all. */
export interface RegionRun {
  region: string;
  /** Runs from before stored plans compared whole catalogs. */
  comparison?: RegionComparison;
  /** The stored plan this sync works through (activities/sync-plan.ts). */
  plan?: { key: string; offset: number; summary: CopyPlanSummary };
  copied: BackupRef[];
  copiedCount: number;
  newestCopied: BackupRef | null;
  copiedBytes: number;
  failed: SyncFailure[];
  failedCount: number;
  divergent: DivergentReport[];
  divergentCount: number;
  /** Backups left for the next run (this run's copy budget was spent). */
  deferred?: boolean;
}

/** Counts a copy, and lists it while the list is short. */
export function noteCopied(run: RegionRun, ref: BackupRef): void {
  run.copiedCount += 1;
  if (run.copied.length < LISTED) run.copied.push(ref);
  if (!run.newestCopied || ref.finishedAt > run.newestCopied.finishedAt) run.newestCopied = ref;
}

export function noteFailed(run: RegionRun, failure: SyncFailure): void {
  run.failedCount += 1;
  if (run.failed.length < LISTED) run.failed.push(failure);
}

export function noteDivergent(run: RegionRun, reports: DivergentReport[], count = reports.length): void {
  run.divergentCount += count;
  run.divergent.push(...reports.slice(0, Math.max(0, LISTED - run.divergent.length)));
}

/** A region's result: what it holds after this run, and how far that is behind the home region. */
export function lagOf(run: RegionRun, plan: SyncPlan, checkedAt: string | null): RegionSyncResult {
  const held = [...(run.comparison?.present ?? []), run.plan?.summary.newestPresent, run.newestCopied]
    .filter((b): b is BackupRef => !!b).sort((a, b) => a.finishedAt.localeCompare(b.finishedAt));
  const newest = held.at(-1) ?? null;
  const homeNewest = run.comparison?.homeNewest ?? run.plan?.summary.homeNewest;
  const homeOldest = run.comparison?.homeOldest ?? run.plan?.summary.homeOldest;
  let lagSeconds: number | null = null;
  if (homeNewest && newest) lagSeconds = Math.max(0, secondsBetween(newest.finishedAt, homeNewest.finishedAt) ?? 0);
  else if (homeNewest) lagSeconds = secondsBetween(homeOldest?.finishedAt, checkedAt);
  return {
    region: run.region,
    copied: run.copied.map((b) => b.id),
    copiedCount: run.copiedCount,
    copiedBytes: run.copiedBytes,
    present: run.comparison?.present.length ?? run.plan?.summary.present ?? 0,
    failed: run.failed,
    failedCount: run.failedCount,
    divergent: run.divergent,
    divergentCount: run.divergentCount,
    newest,
    ageSeconds: secondsBetween(newest?.finishedAt, checkedAt),
    lagSeconds,
    lagging: lagSeconds !== null && lagSeconds * 1000 > plan.lagThresholdMs,
  };
}

// Failures that say the region's copy itself is wrong, not that it could not be reached.
const damage = new Set(['ChecksumMismatch', 'AlreadyExists', 'Untrusted']);

/** sync-failed for a region with failed copies, sync-divergent for copies unlike the home's, sync-lag for one further behind than the threshold. */
export async function alertOn(result: SyncResult): Promise<void> {
  const at = result.checkedAt ?? new Date(0).toISOString();
  const alerts = result.sources.flatMap(({ source, home, regions }) => regions.flatMap((r): Alert[] => [
    ...(r.failed.length > 0 ? [{
      kind: 'sync-failed' as const,
      severity: r.failed.some((f) => damage.has(f.type)) ? 'critical' as const : 'warning' as const,
      title: `${source}: ${r.failedCount} cop${r.failedCount === 1 ? 'y' : 'ies'} to ${r.region} failed (${r.failed[0]!.type})`,
      text: `${r.failed[0]!.message}\n${r.failed.some((f) => f.type === 'AlreadyExists')
        ? `Nothing was overwritten, and no retry will: find out who wrote the object in ${r.region} (docs/sync.md, "Sync never spreads damage").`
        : `The next sync retries; run "lifeboat sync --source ${source}" once ${r.region} is reachable.`}`,
      source, region: r.region, at,
      details: { failed: r.failedCount, copied: r.copiedCount, type: r.failed[0]!.type, home },
    }] : []),
    ...(r.divergent.length > 0 ? [divergentAlert(source, home, r, at)] : []),
    ...(r.lagging ? [{
      kind: 'sync-lag' as const,
      severity: 'warning' as const,
      title: `${source}: ${r.region} is ${hours(r.lagSeconds)} behind ${home}`,
      text: `The newest copy of ${source} in ${r.region} is ${r.newest ? r.newest.id : 'missing'}; the threshold is ${hours(result.lagThresholdSeconds)}.`,
      source, region: r.region, at,
      details: { lagSeconds: r.lagSeconds, ageSeconds: r.ageSeconds, thresholdSeconds: result.lagThresholdSeconds, home },
    }] : []),
  ]));
  await Promise.all(alerts.map((alert) => raiseAlert(alert)));
}

function divergentAlert(source: string, home: string, r: RegionSyncResult, at: string): Alert {
  const first = r.divergent[0]!;
  const outcomes = first.verified.map((v) => `${v.region} ${v.outcome}`).join(', ') || 'not verified in this run';
  return {
    kind: 'sync-divergent',
    severity: 'critical',
    title: `${source}: ${r.divergentCount} backup${r.divergentCount === 1 ? '' : 's'} in ${r.region} differ${r.divergentCount === 1 ? 's' : ''} from ${home}`,
    text: [`Backup ${first.backupId}: ${first.reason}. Verification: ${outcomes}.`,
      'Nothing was overwritten. Someone or something wrote that copy: treat it as an incident, keep both copies, and restore only a copy whose verification passed (docs/sync.md, "A divergent copy").'].join('\n'),
    source, region: r.region, at,
    details: {
      divergent: r.divergentCount, backupId: first.backupId, home,
      homeVerified: first.verified[0]?.outcome ?? null, regionVerified: first.verified[1]?.outcome ?? null,
    },
  };
}

export function secondsBetween(earlier: string | null | undefined, later: string | null | undefined): number | null {
  if (!earlier || !later) return null;
  return Math.round((Date.parse(later) - Date.parse(earlier)) / 1000);
}

function hours(seconds: number | null): string {
  return seconds === null ? 'unknown' : `${(seconds / 3600).toFixed(1)} h`;
}
