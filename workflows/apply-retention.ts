import { continueAsNew, isCancellation, patched, proxyActivities, upsertMemo, upsertSearchAttributes, workflowInfo, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { LockExtension } from '../activities/retention';
import type { RegionPlanSummary, RetentionPageResult, SourcePlanSummary, StoredRetentionWork } from '../activities/retention-pages';
import { alertBlocked, alertFailedDeletions, alertRunFailed } from './retention-alerts';
import { applyRetentionV1 } from './apply-retention-v1';
import { reportFrom, summaryOf, type ApplyRetentionInput, type RegionProgress, type RegionRetentionReport, type RetentionReport, type SourceRetentionReport, type WalPruneReport } from './retention-report';
import { alertUntrusted } from './untrusted-alert';
import { surface } from './failures';
import { searchAttributes, sourceKey } from './search-attributes';
import { catalogScan, shortCall } from './timeouts';

export type { ApplyRetentionInput, RegionProgress, RegionRetentionReport, RetentionItem, RetentionReport, RetentionResume, SourceRetentionReport, WalPruneReport } from './retention-report';

// Reading every manifest of every region may take a while for a long history. The activity beats
// every half second from its first line (activities/progress.ts), so a dead worker shows within 30 s.
const planning = proxyActivities<Activities>({ ...shortCall, startToCloseTimeout: '15 minutes', heartbeatTimeout: '30 seconds' });
/** Tasks per page: 50 deletions are a few seconds of S3 calls and a small result. */
const PAGE = 50;
const LISTED = 20;

/**
 * GFS/age/count retention in every region, behind the interlocks of lib/retention/plan.ts. The
 * decisions are stored beside the catalogs they concern (activities/retention-pages.ts); the
 * history holds their keys, counts and first items, and a long run continues as new.
 */
export async function applyRetention(input: ApplyRetentionInput = {}): Promise<RetentionReport> {
  if (!patched('retention-stored-plan')) return applyRetentionV1(input);
  const info = workflowInfo();
  const at = input.resume?.at ?? info.runStartTime.toISOString();
  if (input.source) upsertSearchAttributes([{ key: sourceKey, value: input.source }]);
  let work: StoredRetentionWork | undefined = input.resume?.work;
  try {
    if (!work) {
      work = await planning.planRetentionStored({ source: input.source, dryRun: input.dryRun ?? false, now: at, runId: info.runId });
      await alertsOfPlan(work, input.source, at);
    }
    const progress = input.resume?.progress ?? {};
    const wal = input.resume?.wal ?? {};
    if (!work.dryRun && !(await carryOut(work, progress, input.pagesPerRun))) {
      await continueAsNew<typeof applyRetention>({ ...input, resume: { at, work, progress, wal } });
    }
    await pruneWalAfter(work, wal);
    await discardPlans(work);
    const report = reportOf(work, at, progress, wal);
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

async function alertsOfPlan(work: StoredRetentionWork, source: string | undefined, at: string): Promise<void> {
  if (source && work.plans[0]) upsertSearchAttributes(searchAttributes({ source, region: work.plans[0].home, kind: work.plans[0].kind }));
  await alertUntrusted(work.untrusted, at, work.untrustedCounts);
  for (const plan of work.plans.filter((p) => p.blocked)) {
    const distrust = (work.untrustedCounts[plan.source] ?? 0) > 0;
    await alertBlocked(plan, distrust, at);
  }
}

const progressKey = (source: string, region: string) => `${source}/${region}`;
const outcomeKey = (kind: string, id: string) => `${kind}:${id}`;

/**
 * Every region's pages, regions in parallel (one region down does not hold up the others). False
 * when Temporal suggests continuing as new before the work is done: the caller does, and the next
 * run goes on from `progress`.
 */
async function carryOut(work: StoredRetentionWork, progress: Record<string, RegionProgress>, pagesPerRun = Infinity): Promise<boolean> {
  let stopping = false;
  let pages = 0;
  const byRegion = new Map<string, Array<{ plan: SourcePlanSummary; region: RegionPlanSummary }>>();
  for (const plan of work.plans.filter((p) => !p.blocked)) {
    for (const region of plan.regions.filter((r) => r.tasks > 0)) byRegion.set(region.region, [...(byRegion.get(region.region) ?? []), { plan, region }]);
  }
  await Promise.all([...byRegion].map(async ([regionName, parts]) => {
    const regional = proxyActivities<Activities>(onQueue(work.taskQueues[regionName]!));
    for (const { plan, region } of parts) {
      const state = progress[progressKey(plan.source, regionName)] ??= { next: 0, deleted: 0, orphansRemoved: 0, locksExtended: 0, failed: 0, failures: [], outcomes: {} };
      const listed = new Set([...region.deleted.map((d) => outcomeKey('delete', d.id)), ...region.orphans.map((o) => outcomeKey('orphan', o.id)), ...region.locks.map((l) => outcomeKey('lock', l.id))]);
      while (state.next < region.tasks) {
        if (stopping || pages >= pagesPerRun || workflowInfo().continueAsNewSuggested) {
          stopping = true;
          return;
        }
        const limit = Math.min(PAGE, region.tasks - state.next);
        pages += 1;
        let result: RetentionPageResult;
        try {
          result = await regional.applyRetentionPage({ source: plan.source, region: regionName, key: region.key, offset: state.next, limit });
        } catch (error) {
          // A cancelled run stops here rather than reporting every remaining deletion as failed.
          if (isCancellation(error)) throw error;
          const message = (surface(error) as Error).message;
          state.failed += limit;
          if (state.failures.length < LISTED) state.failures.push({ kind: 'page', id: `tasks ${state.next + 1}–${state.next + limit} of ${region.tasks}`, finishedAt: '', reasons: [], error: message });
          state.next += limit;
          continue;
        }
        state.deleted += result.deleted;
        state.orphansRemoved += result.orphansRemoved;
        state.locksExtended += result.locksExtended;
        for (const item of result.items) {
          if (item.error && item.kind === 'delete') {
            state.failed += 1;
            if (state.failures.length < LISTED) state.failures.push({ kind: item.kind, id: item.id, finishedAt: item.finishedAt ?? '', reasons: item.reasons ?? [], error: item.error });
          }
          const key = outcomeKey(item.kind, item.id);
          if (listed.has(key)) state.outcomes[key] = { objects: item.objects, ...(item.skipped ? { skipped: item.skipped } : {}), ...(item.error ? { error: item.error } : {}) };
        }
        state.next += limit;
      }
    }
  }));
  return !stopping;
}

/**
 * After a region's deletions, the archived WAL that no remaining base backup needs. The worker
 * reads which backups remain from the stored plan and the catalog: the list never passes through
 * the history.
 */
async function pruneWalAfter(work: StoredRetentionWork, wal: Record<string, WalPruneReport>): Promise<void> {
  await Promise.all(work.plans.filter((plan) => plan.wal && !plan.blocked).flatMap((plan) => plan.regions.map(async (region) => {
    const key = progressKey(plan.source, region.region);
    if (wal[key]) return;
    // Listing and deleting an archive of 100,000 files takes minutes; the activity heartbeats.
    const regional = proxyActivities<Activities>({ ...onQueue(work.taskQueues[region.region]!), startToCloseTimeout: '6 hours', heartbeatTimeout: '30 seconds' });
    try {
      wal[key] = await regional.pruneWalByPlan({ source: plan.source, region: region.region, key: region.key, dryRun: work.dryRun });
    } catch (error) {
      if (isCancellation(error)) throw error;
      wal[key] = { error: (surface(error) as Error).message };
    }
  })));
}

/** The stored plans, once the run is done with them; one left behind (a region down) is only a small object. */
async function discardPlans(work: StoredRetentionWork): Promise<void> {
  await Promise.all(work.plans.flatMap((plan) => plan.regions.map(async (region) => {
    const regional = proxyActivities<Activities>({ ...onQueue(work.taskQueues[region.region]!), retry: { maximumAttempts: 3 } });
    try {
      await regional.discardRetentionPlan({ region: region.region, key: region.key });
    } catch (error) {
      if (isCancellation(error)) throw error;
    }
  })));
}

function onQueue(taskQueue: string): ActivityOptions {
  // A region whose worker is down for an hour fails its deletions (reported) instead of holding the run.
  return { ...catalogScan(), taskQueue, scheduleToStartTimeout: '1 hour' };
}

function reportOf(work: StoredRetentionWork, at: string, progress: Record<string, RegionProgress>, wal: Record<string, WalPruneReport>): RetentionReport {
  const sources: SourceRetentionReport[] = work.plans.map((plan) => ({
    source: plan.source,
    blocked: plan.blocked,
    newestAt: plan.newestAt,
    regions: plan.regions.map((region): RegionRetentionReport => {
      const state = progress[progressKey(plan.source, region.region)];
      const outcome = (kind: string, id: string) => state?.outcomes[outcomeKey(kind, id)];
      const failedIds = new Set(state?.failures.map((f) => f.id) ?? []);
      return {
        region: region.region,
        rules: region.rules,
        kept: region.kept,
        deleted: region.deleted.filter((d) => !failedIds.has(d.id)).map((d) => ({ ...d, objects: outcome('delete', d.id)?.objects ?? null })),
        failed: (state?.failures ?? []).map(({ id, finishedAt, reasons, error }) => ({ id, finishedAt, reasons, error })),
        orphans: region.orphans.map((orphan) => {
          const result = outcome('orphan', orphan.id);
          if (result?.error) return { ...orphan, removed: null, skipped: result.error };
          return { ...orphan, removed: result && !result.skipped ? result.objects : null, ...(result?.skipped ? { skipped: result.skipped } : {}) };
        }),
        wal: plan.wal && !plan.blocked ? wal[progressKey(plan.source, region.region)] ?? null : null,
        locks: region.locks.map(({ id, until }: LockExtension) => {
          const result = outcome('lock', id);
          return result?.error ? { id, until, objects: null, error: result.error } : { id, until, objects: result?.objects ?? null };
        }),
        counts: {
          kept: region.counts.kept,
          deleted: work.dryRun ? region.counts.deleted : state?.deleted ?? 0,
          failed: state?.failed ?? 0,
          orphansRemoved: state?.orphansRemoved ?? 0,
          locksExtended: state?.locksExtended ?? 0,
        },
      };
    }),
  }));
  return reportFrom(work.dryRun, at, sources, work.unmanaged);
}
