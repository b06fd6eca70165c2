import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { log, ParentClosePolicy, startChild } from '@temporalio/workflow';
import { searchAttributes } from './search-attributes';
import { syncWorkflowId } from '../lib/workflow-ids';
import type { syncRegions } from './sync-regions';

/**
 * Starts a sync of the source that outlives the backup (ABANDON), so the new backup reaches the
 * other regions now rather than at the next scheduled sync. Never fails the backup: a sync already
 * running for the source may miss it, and the scheduled sync catches up whatever was missed.
 */
export async function startSyncAfterBackup(source: string, plan: { region: string; kind: string; taskQueuePrefix: string; syncAfterBackup: boolean }): Promise<void> {
  if (!plan.syncAfterBackup) return;
  try {
    await startChild<typeof syncRegions>('syncRegions', {
      args: [{ source }],
      workflowId: syncWorkflowId(plan.taskQueuePrefix, source),
      parentClosePolicy: ParentClosePolicy.ABANDON,
      typedSearchAttributes: searchAttributes({ source, region: plan.region, kind: plan.kind }),
      memo: { summary: `sync of ${source} after its backup` },
    });
  } catch (error) {
    const reason = error instanceof WorkflowExecutionAlreadyStartedError ? 'a sync of this source is already running' : String(error);
    log.warn('sync after backup not started', { source, reason });
  }
}
