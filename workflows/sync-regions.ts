import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  continueAsNew,
  patched,
  proxyActivities,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { BackupRef, BackupToCopy, SyncPlan } from '../activities/sync';
import { isSmallBackup } from '../lib/small-backups';
import { bounded } from './bounded';
import { surface } from './failures';
import { verifyBothCopies, type DivergentReport } from './sync-divergent';
import { syncEverySource } from './sync-every-source';
import { alertOn, lagOf, LISTED, noteCopied, noteDivergent, noteFailed, secondsBetween, type RegionRun, type SyncFailure, type SyncResult } from './sync-report';
import { regionKey, searchAttributes } from './search-attributes';
import { catalogScan, shortCall, streaming } from './timeouts';

export type { CopyVerification, DivergentReport, RegionSyncResult, SourceSyncResult, SyncFailure, SyncResult } from './sync-report';

export interface SyncRegionsInput {
  /** One source; every source in the config when absent. */
  source?: string;
  /** Backup copies started per run; past it the sync continues as new, so no history grows too long. */
  copiesPerRun?: number;
  /** What the runs before a continue-as-new did, per region. */
  earlier?: Record<string, CarriedRegion>;
}

/**
 * Lists hold the first LISTED items and counts count them all; runs carried before counts were
 * (no copiedCount) listed every item. `plan`: the stored plan and how far this sync got through it.
 */
export interface CarriedRegion {
  copied: BackupRef[];
  copiedCount?: number;
  newestCopied?: BackupRef | null;
  copiedBytes: number;
  failed: SyncFailure[];
  failedCount?: number;
  /** Absent in runs carried before sync compared manifests. */
  divergent?: DivergentReport[];
  divergentCount?: number;
  plan?: RegionRun['plan'];
}

/** Where a sync stores its plan in the destination: beside `_wal/` and `_heads/`, never taken for a source. */
const syncPlanKey = (source: string, runId: string, region: string) => `_sync/${source}/${runId}-${region}.json`;

/** Backups a page of a stored plan holds: 300 to 500 bytes each in the history. */
const pageSize = 50;

// About 7 history events per backup copy: 500 keeps a run well under Temporal's 10,000-event warning.
const defaultCopiesPerRun = 500;

const local = proxyActivities<Activities>(shortCall);

// A region that is down is retried with backoff for about a minute, then reported; the sync of
// the other regions goes on. A worker of the region may be down too: its queue waits 10 minutes.
const regionRetry = { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 };

function regionCall(taskQueue: string, heartbeatTimeoutMs: number): ActivityOptions {
  // Reading a long catalog over a slow link can take long: it heartbeats per manifest read.
  return { ...catalogScan(heartbeatTimeoutMs), taskQueue, scheduleToStartTimeout: '10 minutes', retry: regionRetry };
}

function regionStream(taskQueue: string, heartbeatTimeoutMs: number): ActivityOptions {
  return { ...streaming(taskQueue, heartbeatTimeoutMs), scheduleToStartTimeout: '10 minutes', retry: regionRetry };
}

/** Copies every backup missing from another region, verified by SHA-256, manifests last; reports lag. */
export async function syncRegions(input: SyncRegionsInput = {}): Promise<SyncResult> {
  const plan = await local.planSync(input.source).catch((error: unknown) => { throw surface(error); });
  const only = plan.sources[0];
  if (input.source === undefined || !only) {
    upsertSearchAttributes([{ key: regionKey, value: plan.primaryRegion }]);
    const every = await syncEverySource(plan, syncRegions);
    upsertMemo({ summary: `sync of every source: ${summaryOf(every)}` });
    return every;
  }
  upsertSearchAttributes(searchAttributes({ source: only.source, region: only.home, kind: only.kind }));
  // Objects copied at once, across every region.
  const limit = bounded(plan.concurrency);
  const budget = { left: input.copiesPerRun ?? defaultCopiesPerRun };

  const sources = await Promise.all(plan.sources.map(async ({ source, home, targets }) => {
    const regions = await Promise.all(targets.map((target) => syncRegion(plan, limit, budget, source, home, target, input.earlier?.[target])));
    return { source, home, regions };
  }));
  const regionRuns = sources.flatMap((s) => s.regions);
  if (regionRuns.some((r) => r.deferred)) {
    // The next run compares again, finds this run's copies present, and goes on with the rest.
    const earlier = Object.fromEntries(regionRuns.map((r): [string, CarriedRegion] => [r.region, {
      copied: r.copied, copiedCount: r.copiedCount, newestCopied: r.newestCopied, copiedBytes: r.copiedBytes,
      failed: r.failed, failedCount: r.failedCount, divergent: r.divergent, divergentCount: r.divergentCount, plan: r.plan,
    }]));
    await continueAsNew<typeof syncRegions>({ source: input.source, copiesPerRun: input.copiesPerRun, earlier });
  }
  // The last run is done with the stored plans; one left behind (a bucket that locks it) is harmless.
  await Promise.all(regionRuns.filter((r) => r.plan).map((r) => proxyActivities<Activities>(regionCall(`${plan.taskQueuePrefix}${r.region}`, plan.heartbeatTimeoutMs))
    .discardCopyPlan({ to: r.region, key: r.plan!.key }).catch(() => undefined)));

  const checkedAt = regionRuns.map((r) => r.comparison?.checkedAt ?? r.plan?.summary.checkedAt).filter((c) => c !== undefined).sort().at(-1) ?? null;
  const result: SyncResult = {
    checkedAt,
    lagThresholdSeconds: plan.lagThresholdMs / 1000,
    sources: sources.map(({ source, home, regions }) => {
      const homeNewest = regions.map((r) => r.comparison?.homeNewest ?? r.plan?.summary.homeNewest).find((n) => n !== undefined) ?? null;
      return { source, home, homeNewest, homeAgeSeconds: secondsBetween(homeNewest?.finishedAt, checkedAt), regions: regions.map((r) => lagOf(r, plan, checkedAt)) };
    }),
  };
  await alertOn(result);
  upsertMemo({ summary: `sync of ${input.source}: ${summaryOf(result)}` });
  return result;
}

function summaryOf(result: SyncResult): string {
  const copied = result.sources.reduce((n, s) => n + s.regions.reduce((m, r) => m + r.copiedCount, 0), 0);
  const failed = result.sources.reduce((n, s) => n + s.regions.reduce((m, r) => m + r.failedCount, 0), 0);
  const divergent = result.sources.reduce((n, s) => n + s.regions.reduce((m, r) => m + r.divergentCount, 0), 0);
  return `${copied} backup copies made, ${failed} failed${divergent > 0 ? `, ${divergent} divergent` : ''}`;
}

async function syncRegion(
  plan: SyncPlan, limit: ReturnType<typeof bounded>, budget: { left: number }, source: string, home: string, region: string, before?: CarriedRegion,
): Promise<RegionRun> {
  const taskQueue = `${plan.taskQueuePrefix}${region}`;
  // The destination's worker does the copying: it is the one that can surely write there (a local
  // directory exists only on its machine) and it reads the home region over S3.
  const regional = proxyActivities<Activities>(regionCall(taskQueue, plan.heartbeatTimeoutMs));
  const copier = proxyActivities<Activities>(regionStream(taskQueue, plan.heartbeatTimeoutMs));
  const run: RegionRun = {
    region,
    copied: [...(before?.copied ?? [])].slice(0, LISTED),
    copiedCount: before?.copiedCount ?? before?.copied.length ?? 0,
    newestCopied: before?.newestCopied ?? [...(before?.copied ?? [])].sort((a, b) => a.finishedAt.localeCompare(b.finishedAt)).at(-1) ?? null,
    copiedBytes: before?.copiedBytes ?? 0,
    failed: [...(before?.failed ?? [])].slice(0, LISTED),
    failedCount: before?.failedCount ?? before?.failed.length ?? 0,
    divergent: [...(before?.divergent ?? [])].slice(0, LISTED),
    divergentCount: before?.divergentCount ?? before?.divergent?.length ?? 0,
    plan: before?.plan,
  };
  // A region an earlier run found unreachable, and backups that failed there, wait for the next sync.
  if (run.failed.some((f) => f.backupId === null || unreachable(f.type))) return run;
  // Once the region has failed for a reason retrying did not fix, the rest fail fast with it
  // instead of each waiting out its own retries.
  let down: SyncFailure | undefined;
  const notTried = (cause: SyncFailure) => `not tried: an earlier copy to ${region} failed (${cause.message})`;
  const copyBackup = async (backup: BackupToCopy) => {
    try {
      // Every object is tried even when one fails: a repair copies each absent object beside one
      // that holds other bytes (reported, the first per backup), and no copy is still running
      // when a failed backup's partial copy is discarded.
      const verified = await allOrFirstFailure(backup.objects.map((object) => limit(async () => {
        if (down) throw new RegionDown(down);
        try {
          return await copier.copyObject({ source, backupId: backup.id, from: home, to: region, object });
        } catch (error) {
          // Set before the slot is released, so the copy waiting for it already sees the region down.
          const failure = failureOf(error);
          if (unreachable(failure.type)) down ??= { backupId: backup.id, ...failure };
          throw error;
        }
      })));
      await regional.publishManifest({
        source, backupId: backup.id, from: home, to: region, manifestSha256: backup.manifestSha256,
        verified: verified.map(({ key, sha256, size }) => ({ key, sha256, size })),
      });
      noteCopied(run, { id: backup.id, finishedAt: backup.finishedAt });
      run.copiedBytes += verified.filter((v) => v.copied).reduce((sum, v) => sum + v.size, 0);
    } catch (error) {
      const failure = error instanceof RegionDown
        ? { ...error.failure, message: notTried(error.failure) }
        : { backupId: backup.id, ...failureOf(error) };
      if (!(error instanceof RegionDown) && unreachable(failure.type)) down ??= failure;
      noteFailed(run, { ...failure, backupId: backup.id });
      // A region that answers gets no half copy (e.g. the objects that did pass their check);
      // one that does not is tidied by the next sync, which copies the same keys again.
      // Other bytes already there stay as evidence, and so does what this copy proved beside them.
      if (!unreachable(failure.type) && failure.type !== 'AlreadyExists') await CancellationScope.nonCancellable(() => regional.discardPartialCopy({ source, backupId: backup.id, to: region })).catch(() => undefined);
    }
  };
  // Small backups go many to one activity: a catalog of thousands of them is not thousands of round trips each.
  const copyBatch = async (backups: BackupToCopy[]) => {
    if (backups.length === 0) return;
    try {
      if (down) throw new RegionDown(down);
      const outcomes = await limit(() => copier.copyBackups({ source, from: home, to: region, backups }));
      // copyBackups answers for every backup of the page, or fails as a whole.
      for (const outcome of outcomes) {
        if ('type' in outcome) noteFailed(run, { backupId: outcome.id, type: outcome.type, message: outcome.message });
        else {
          noteCopied(run, { id: outcome.id, finishedAt: backups.find((b) => b.id === outcome.id)!.finishedAt });
          run.copiedBytes += outcome.copiedBytes;
        }
      }
    } catch (error) {
      const failure = error instanceof RegionDown ? error.failure : { backupId: backups[0]!.id, ...failureOf(error) };
      if (unreachable(failure.type)) down ??= failure;
      for (const backup of backups) {
        noteFailed(run, backup.id === failure.backupId ? failure : { backupId: backup.id, type: failure.type, message: notTried(failure) });
      }
      // As for one backup: a region that answers gets no half copies; one that does not is tidied by the next sync.
      if (!unreachable(failure.type)) {
        await CancellationScope.nonCancellable(() => Promise.all(backups.map((b) => regional.discardPartialCopy({ source, backupId: b.id, to: region }).catch(() => undefined))));
      }
    }
  };
  // Runs from before stored plans replay comparing whole catalogs; a run carried with a plan goes on with it.
  if (run.plan || patched('sync-stored-plan')) return copyByPages(run, { source, home, region, regional, budget, copyBackup, copyBatch, down: () => down });

  const failedBefore = new Set(run.failed.map((f) => f.backupId));
  const copiedBefore = new Set(run.copied.map((b) => b.id));
  const reportedBefore = new Set(run.divergent.map((d) => d.backupId));
  try {
    const comparison = await regional.compareRegions({ source, from: home, to: region });
    run.comparison = {
      ...comparison,
      present: comparison.present.filter((b) => !copiedBefore.has(b.id)),
      missing: comparison.missing.filter((b) => !failedBefore.has(b.id)),
      divergent: comparison.divergent.filter((d) => !reportedBefore.has(d.id)),
    };
  } catch (error) {
    noteFailed(run, { backupId: null, ...failureOf(error) });
    return run;
  }
  const withinBudget = async (backup: BackupToCopy) => {
    if (budget.left <= 0) {
      run.deferred = true;
      return;
    }
    budget.left -= 1;
    await copyBackup(backup);
  };
  // Newest first: the most recent recovery point is what a disaster would need. A copy that
  // differs is never overwritten: both copies are verified while the others are copied.
  const [, divergent] = await Promise.all([
    Promise.all([...run.comparison.missing].reverse().map(withinBudget)),
    verifyBothCopies(source, home, region, run.comparison.divergent),
  ]);
  noteDivergent(run, divergent);
  return run;
}

interface PageContext {
  source: string;
  home: string;
  region: string;
  regional: ReturnType<typeof proxyActivities<Activities>>;
  budget: { left: number };
  copyBackup: (backup: BackupToCopy) => Promise<void>;
  copyBatch: (backups: BackupToCopy[]) => Promise<void>;
  down: () => SyncFailure | undefined;
}

/**
 * The first run compares the catalogs once and stores the plan in the destination (its key in the
 * history); each run then copies page after page of it, newest first, until its budget is spent or
 * Temporal suggests a new run, and hands the offset on. The history holds pages, never the catalog.
 */
async function copyByPages(run: RegionRun, { source, home, region, regional, budget, copyBackup, copyBatch, down }: PageContext): Promise<RegionRun> {
  let page: BackupToCopy[] | undefined;
  let divergent: Promise<DivergentReport[]> = Promise.resolve([]);
  if (!run.plan) {
    const key = syncPlanKey(source, workflowInfo().runId, region);
    try {
      const planned = await regional.planRegionCopies({ source, from: home, to: region, key, pageSize });
      run.plan = { key, offset: 0, summary: planned.summary };
      page = planned.firstPage;
      divergent = verifyBothCopies(source, home, region, planned.divergent);
      run.divergentCount += planned.summary.divergentCount - planned.divergent.length;
    } catch (error) {
      noteFailed(run, { backupId: null, ...failureOf(error) });
      return run;
    }
  }
  const plan = run.plan;
  while (plan.offset < plan.summary.missing) {
    const stop = down();
    if (stop) {
      // The rest would each fail fast with the same cause: counted once, tried again by the next sync.
      noteFailed(run, { ...stop, backupId: null, message: `${plan.summary.missing - plan.offset} backup(s) not tried: ${stop.message}` });
      plan.offset = plan.summary.missing;
      break;
    }
    if (budget.left <= 0 || workflowInfo().continueAsNewSuggested) {
      run.deferred = true;
      break;
    }
    page ??= await regional.readCopyPage({ to: region, key: plan.key, offset: plan.offset, limit: pageSize });
    const take = page.slice(0, budget.left);
    budget.left -= take.length;
    // Runs from before batched copies replay copying each object on its own.
    if (patched('sync-batched-copies')) {
      const small = take.filter(isSmallBackup);
      await Promise.all([copyBatch(small), ...take.filter((b) => !small.includes(b)).map(copyBackup)]);
    } else await Promise.all(take.map(copyBackup));
    plan.offset += take.length;
    page = undefined;
  }
  noteDivergent(run, await divergent);
  return run;
}

async function allOrFirstFailure<T>(promises: Array<Promise<T>>): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  const failures = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected').map((s) => s.reason as unknown);
  // The backup's own problem (other bytes there) before a region that went down behind it.
  const first = failures.find((f) => !(f instanceof RegionDown)) ?? failures[0];
  if (failures.length > 0) throw first;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

function failureOf(error: unknown): { type: string; message: string } {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  if (cause instanceof ApplicationFailure) return { type: cause.type ?? 'Error', message: cause.message };
  if (cause instanceof Error) return { type: cause.name === 'TimeoutFailure' ? 'Timeout' : cause.name, message: cause.message };
  return { type: 'Error', message: String(cause) };
}

/** Failures that say the region (or its worker) cannot be reached, not that this backup is bad. */
function unreachable(type: string): boolean {
  return type === 'Storage' || type === 'Timeout';
}

class RegionDown extends Error {
  constructor(readonly failure: SyncFailure) {
    super(failure.message);
  }
}

