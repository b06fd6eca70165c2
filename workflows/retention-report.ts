import type { OrphanPlan } from '../activities/retention';
import type { StoredRetentionWork } from '../activities/retention-pages';
import type { WalPruneResult } from '../activities/wal';
import type { Decision } from '../lib/retention/plan';

// What applyRetention takes and returns, shared by today's workflow and the one earlier runs replay through.

export interface ApplyRetentionInput {
  /** One source; every source with retention rules when absent. */
  source?: string;
  /** List what would go and why the rest stays; delete nothing. Config retention.dryRun forces it. */
  dryRun?: boolean;
  /** Continue as new after this many pages of deletions (default: when Temporal suggests it). */
  pagesPerRun?: number;
  /** Set by the run itself when it continues as new: the stored plans and how far each region got. */
  resume?: RetentionResume;
}

export type RetentionItem = Pick<Decision, 'id' | 'finishedAt' | 'reasons'>;

export interface RegionRetentionReport {
  region: string;
  rules: string;
  /** The newest 100 kept backups (counts.kept says how many). */
  kept: RetentionItem[];
  /** The first 20 deleted, or in a dry run that would be; objects is null in a dry run. */
  deleted: Array<RetentionItem & { objects: number | null }>;
  /** Deletions that failed after Temporal's retries (the first 20); the backup may have lost its manifest but nothing else. */
  failed: Array<RetentionItem & { error: string }>;
  orphans: Array<OrphanPlan & { removed: number | null; skipped?: string }>;
  /** Physical sources: archived WAL no kept base backup needs (a dry run lists it); null for other sources. */
  wal: WalPruneReport | null;
  /** Regions with Object Lock: kept backups whose lock was extended to when their tier releases them (objects null in a dry run). */
  locks: Array<{ id: string; until: string; objects: number | null; error?: string }>;
  /** The lists above name the first few; these count all of them. deleted is what would go in a dry run. */
  counts: { kept: number; deleted: number; failed: number; orphansRemoved: number; locksExtended: number };
}

export type WalPruneReport = WalPruneResult | { error: string };

export interface SourceRetentionReport {
  source: string;
  /** The RPO interlock: why nothing of this source was deleted. */
  blocked: string | null;
  newestAt: string | null;
  regions: RegionRetentionReport[];
}

export interface RetentionReport {
  dryRun: boolean;
  at: string;
  sources: SourceRetentionReport[];
  /** Sources without retention rules: never pruned. */
  unmanaged: string[];
  totals: { kept: number; deleted: number; failed: number; orphansRemoved: number; blocked: number };
}

/** How far one source's pages got in one region; what the history holds of the outcomes. */
export interface RegionProgress {
  next: number;
  deleted: number;
  orphansRemoved: number;
  locksExtended: number;
  failed: number;
  /** The first LISTED failures. */
  failures: Array<RetentionItem & { kind: string; error: string }>;
  /** Objects removed or locked, for the items the report lists (kind:id). */
  outcomes: Record<string, { objects: number | null; skipped?: string; error?: string }>;
}

export interface RetentionResume {
  at: string;
  work: StoredRetentionWork;
  progress: Record<string, RegionProgress>;
  wal: Record<string, WalPruneReport>;
}

/** The report of per-region reports: totals from each region's counts. */
export function reportFrom(dryRun: boolean, at: string, sources: SourceRetentionReport[], unmanaged: string[]): RetentionReport {
  const all = sources.flatMap((s) => s.regions);
  return {
    dryRun,
    at,
    sources,
    unmanaged,
    totals: {
      kept: all.reduce((n, r) => n + r.counts.kept, 0),
      deleted: dryRun ? 0 : all.reduce((n, r) => n + r.counts.deleted, 0),
      failed: all.reduce((n, r) => n + r.counts.failed, 0),
      orphansRemoved: all.reduce((n, r) => n + r.counts.orphansRemoved, 0),
      blocked: sources.filter((s) => s.blocked).length,
    },
  };
}

/** The run's memo in the Temporal UI. */
export function summaryOf(report: RetentionReport): string {
  const would = report.dryRun ? ' (dry run: would delete ' + report.sources.flatMap((s) => s.regions).reduce((n, r) => n + r.counts.deleted, 0) + ')' : '';
  return `retention: ${report.totals.deleted} deleted, ${report.totals.kept} kept, ${report.totals.orphansRemoved} orphan(s) removed, ${report.totals.failed} failed, ${report.totals.blocked} source(s) blocked${would}`;
}
