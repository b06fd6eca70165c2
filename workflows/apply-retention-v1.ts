import { isCancellation, proxyActivities, upsertMemo, upsertSearchAttributes, workflowInfo, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { CopyRef, RetentionWork } from '../activities/retention';
import { alertBlocked, alertFailedDeletions, alertRunFailed } from './retention-alerts';
import { alertUntrusted } from './untrusted-alert';
import { surface } from './failures';
import { searchAttributes, sourceKey } from './search-attributes';
import { catalogScan, shortCall } from './timeouts';
import { reportFrom, summaryOf, type ApplyRetentionInput, type RegionRetentionReport, type RetentionReport, type SourceRetentionReport } from './retention-report';

// Reading every manifest of every region may take a while for a long history.
const planning = proxyActivities<Activities>({ ...shortCall, startToCloseTimeout: '15 minutes', heartbeatTimeout: '2 minutes' });
/** Deletions at once per region: enough to be quick, few enough not to trip an S3 server's throttling. */
const PER_REGION = 4;

/**
 * applyRetention as it was before its plan was stored (patched 'retention-stored-plan'): runs
 * started by an earlier version replay through it. It carries every decision through the history.
 * Remove it once no such run can exist.
 */
export async function applyRetentionV1(input: ApplyRetentionInput = {}): Promise<RetentionReport> {
  const info = workflowInfo();
  const at = info.runStartTime.toISOString();
  if (input.source) upsertSearchAttributes([{ key: sourceKey, value: input.source }]);
  try {
    const work = await planning.planRetention({ source: input.source, dryRun: input.dryRun ?? false, now: at });
    if (input.source && work.plans[0]) {
      upsertSearchAttributes(searchAttributes({ source: input.source, region: work.plans[0].home, kind: work.plans[0].kind }));
    }
    await alertUntrusted(work.untrusted, at);
    for (const plan of work.plans.filter((p) => p.blocked)) {
      const distrust = work.untrusted.some((item) => item.source === plan.source);
      await alertBlocked(plan, distrust, at);
    }
    const report = work.dryRun ? reportOf(work, at, new Map(), new Map(), new Map()) : await carryOut(work, at);
    await pruneWalAfter(work, report);
    upsertMemo({ summary: summaryOf(report) });
    await alertFailedDeletions(report, input.source, at);
    return report;
  } catch (error) {
    const failure = surface(error);
    if (isCancellation(error)) throw failure;
    await alertRunFailed(failure, input.source, at);
    throw failure;
  }
}

type Outcome = { objects: number; skipped?: string } | { error: string };

async function carryOut(work: RetentionWork, at: string): Promise<RetentionReport> {
  const deletions = new Map<string, Outcome>();
  const orphans = new Map<string, Outcome>();
  const locks = new Map<string, Outcome>();
  const byRegion = new Map<string, Array<() => Promise<void>>>();
  const queue = (region: string, task: () => Promise<void>) => byRegion.set(region, [...(byRegion.get(region) ?? []), task]);
  for (const plan of work.plans) {
    if (plan.blocked) continue;
    for (const region of plan.regions) {
      const regional = proxyActivities<Activities>(onQueue(work.taskQueues[region.region]!));
      for (const decision of region.decisions.filter((d) => d.action === 'delete')) {
        const ref: CopyRef = { source: plan.source, region: region.region, id: decision.id };
        queue(region.region, async () => { deletions.set(keyOf(ref), await outcome(regional.deleteBackup(ref))); });
      }
    }
  }
  for (const orphan of work.orphans.filter((o) => o.action === 'remove')) {
    const regional = proxyActivities<Activities>(onQueue(work.taskQueues[orphan.region]!));
    queue(orphan.region, async () => { orphans.set(keyOf(orphan), await outcome(regional.removeOrphanedData(orphan))); });
  }
  for (const extension of work.extendLocks) {
    const regional = proxyActivities<Activities>(onQueue(work.taskQueues[extension.region]!));
    queue(extension.region, async () => { locks.set(keyOf(extension), await outcome(regional.extendLock(extension))); });
  }
  // Regions in parallel, a few deletions at a time in each; one region down does not hold up the others.
  await Promise.all([...byRegion.values()].map(async (tasks) => {
    for (let i = 0; i < tasks.length; i += PER_REGION) await Promise.all(tasks.slice(i, i + PER_REGION).map((task) => task()));
  }));
  return reportOf(work, at, deletions, orphans, locks);
}

/**
 * After a region's deletions, the archived WAL that no kept base backup needs. A backup whose
 * deletion failed may still be restorable, so its WAL stays too.
 */
async function pruneWalAfter(work: RetentionWork, report: RetentionReport): Promise<void> {
  await Promise.all(work.plans.filter((plan) => plan.wal && !plan.blocked).flatMap((plan) => {
    const sourceReport = report.sources.find((s) => s.source === plan.source)!;
    return sourceReport.regions.map(async (region) => {
      const keep = [...region.kept, ...region.failed].map((item) => item.id);
      // Listing and deleting an archive of 100,000 files takes minutes; the activity heartbeats.
      const regional = proxyActivities<Activities>({ ...onQueue(work.taskQueues[region.region]!), startToCloseTimeout: '6 hours', heartbeatTimeout: '2 minutes' });
      try {
        region.wal = await regional.pruneWal({ source: plan.source, region: region.region, keep, dryRun: work.dryRun });
      } catch (error) {
        if (isCancellation(error)) throw error;
        region.wal = { error: (surface(error) as Error).message };
      }
    });
  }));
}

function onQueue(taskQueue: string): ActivityOptions {
  // A region whose worker is down for an hour fails its deletions (reported) instead of holding the run.
  return { ...catalogScan(), taskQueue, scheduleToStartTimeout: '1 hour' };
}

async function outcome(call: Promise<{ objects: number; skipped?: string }>): Promise<Outcome> {
  try {
    return await call;
  } catch (error) {
    // A cancelled run stops here rather than reporting every remaining deletion as failed.
    if (isCancellation(error)) throw error;
    return { error: (surface(error) as Error).message };
  }
}

const keyOf = (ref: { source: string; region: string; id: string }) => `${ref.source}/${ref.region}/${ref.id}`;

function reportOf(work: RetentionWork, at: string, deletions: Map<string, Outcome>, orphans: Map<string, Outcome>, locks: Map<string, Outcome>): RetentionReport {
  const sources: SourceRetentionReport[] = work.plans.map((plan) => ({
    source: plan.source,
    blocked: plan.blocked,
    newestAt: plan.newestAt,
    regions: plan.regions.map((region): RegionRetentionReport => {
      const report: RegionRetentionReport = { region: region.region, rules: region.rules, kept: [], deleted: [], failed: [], orphans: [], wal: null, locks: [], counts: { kept: 0, deleted: 0, failed: 0, orphansRemoved: 0, locksExtended: 0 } };
      for (const { id, finishedAt, reasons, action } of region.decisions) {
        const item = { id, finishedAt, reasons };
        const result = deletions.get(keyOf({ source: plan.source, region: region.region, id }));
        if (action === 'keep') report.kept.push(item);
        else if (result && 'error' in result) report.failed.push({ ...item, error: result.error });
        else report.deleted.push({ ...item, objects: result?.objects ?? null });
      }
      report.orphans = work.orphans.filter((o) => o.source === plan.source && o.region === region.region).map((orphan) => {
        const result = orphans.get(keyOf(orphan));
        if (result && 'error' in result) return { ...orphan, removed: null, skipped: result.error };
        return { ...orphan, removed: result && !result.skipped ? result.objects : null, ...(result?.skipped ? { skipped: result.skipped } : {}) };
      });
      report.locks = work.extendLocks.filter((e) => e.source === plan.source && e.region === region.region).map(({ id, until }) => {
        const result = locks.get(keyOf({ source: plan.source, region: region.region, id }));
        return result && 'error' in result ? { id, until, objects: null, error: result.error } : { id, until, objects: result?.objects ?? null };
      });
      report.counts = { kept: report.kept.length, deleted: report.deleted.length, failed: report.failed.length, orphansRemoved: report.orphans.filter((o) => o.removed !== null).length, locksExtended: report.locks.filter((l) => l.objects !== null).length };
      return report;
    }),
  }));
  return reportFrom(work.dryRun, at, sources, work.unmanaged);
}
