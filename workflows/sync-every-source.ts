import { ApplicationFailure, ChildWorkflowFailure, WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ParentClosePolicy, sleep, startChild, type ChildWorkflowHandle } from '@temporalio/workflow';
import type { SyncPlan } from '../activities/sync';
import { searchAttributes } from './search-attributes';
import { syncWorkflowId } from '../lib/workflow-ids';
import type { SyncResult } from './sync-report';

// A sync of one source that is already running (started after a backup, or by hand) is waited
// for, up to this long, rather than run beside it: two copies of one backup to one region at once
// would each clean up the other's unfinished upload.
const waitForRunningSync = { interval: '10 seconds', attempts: 360 } as const;

/** syncRegions as this file starts it: passed in by the caller, since importing it from sync-regions.ts made a cycle. */
export type SourceSync = (input: { source: string }) => Promise<SyncResult>;

/**
 * A sync of every source: one child per source, under the same workflow id a sync of that source
 * alone would have, so there is never more than one sync of a source at a time. The children run
 * one after another, so `sync.concurrency` bounds the copies of the whole run.
 */
export async function syncEverySource(plan: SyncPlan, sourceSync: SourceSync): Promise<SyncResult> {
  const result: SyncResult = { checkedAt: null, lagThresholdSeconds: plan.lagThresholdMs / 1000, sources: [] };
  for (const { source, home, kind, targets } of plan.sources) {
    const failedWith = (type: string, message: string) => result.sources.push({
      source, home, homeNewest: null, homeAgeSeconds: null,
      regions: targets.map((region) => ({
        region, copied: [], copiedCount: 0, copiedBytes: 0, present: 0, divergent: [], divergentCount: 0, newest: null, ageSeconds: null, lagSeconds: null, lagging: false,
        failed: [{ backupId: null, type, message }], failedCount: 1,
      })),
    });
    const child = await startSourceSync(sourceSync, plan.taskQueuePrefix, source, home, kind);
    if (!child) {
      failedWith('AlreadyRunning', `another sync of ${source} (${syncWorkflowId(plan.taskQueuePrefix, source)}) did not finish in time`);
      continue;
    }
    let one: SyncResult;
    try {
      one = await child.result();
    } catch (error) {
      // One source that cannot be synced at all (e.g. gone from a worker's config) does not stop the others.
      const cause = error instanceof ChildWorkflowFailure ? error.cause : error;
      failedWith(cause instanceof ApplicationFailure ? (cause.type ?? 'Error') : 'Error', (cause as Error).message);
      continue;
    }
    result.sources.push(...one.sources);
    if (one.checkedAt && (!result.checkedAt || one.checkedAt > result.checkedAt)) result.checkedAt = one.checkedAt;
  }
  return result;
}

async function startSourceSync(sourceSync: SourceSync, prefix: string, source: string, home: string, kind: string): Promise<ChildWorkflowHandle<SourceSync> | undefined> {
  for (let attempt = 0; attempt < waitForRunningSync.attempts; attempt += 1) {
    try {
      return await startChild(sourceSync, {
        args: [{ source }],
        workflowId: syncWorkflowId(prefix, source),
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
        typedSearchAttributes: searchAttributes({ source, region: home, kind }),
        memo: { summary: `sync of ${source}, part of a sync of every source` },
      });
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
      await sleep(waitForRunningSync.interval);
    }
  }
  return undefined;
}
