import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ParentClosePolicy, proxyActivities, startChild } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { backupWorkflowId } from '../lib/workflow-ids';
import { backupSource, type BackupSummary } from './backup-source';
import { surface } from './failures';
import { shortCall } from './timeouts';

export interface ScheduledBackupInput {
  source: string;
}

export type ScheduledBackupResult =
  | { outcome: 'done'; summary: BackupSummary }
  | { outcome: 'skipped'; reason: string; runningWorkflowId: string };

/**
 * What a backup schedule starts. Temporal appends the scheduled time to a schedule's workflow
 * ids, so the overlap policy only keeps scheduled runs apart; running the backup as a child
 * under the source's own id keeps a scheduled and a manual backup of one source apart too.
 */
export async function scheduledBackup({ source }: ScheduledBackupInput): Promise<ScheduledBackupResult> {
  const plan = await proxyActivities<Activities>(shortCall).planBackup(source).catch((error: unknown) => { throw surface(error); });
  const workflowId = backupWorkflowId(plan.taskQueuePrefix, source);
  let child;
  try {
    child = await startChild(backupSource, {
      args: [{ source }],
      workflowId,
      taskQueue: plan.taskQueue,
      // Cancelling the scheduled run cancels the backup, which then removes what it had uploaded.
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
    });
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) {
      return { outcome: 'skipped', reason: `a backup of ${source} was already running`, runningWorkflowId: workflowId };
    }
    throw error;
  }
  try {
    return { outcome: 'done', summary: await child.result() };
  } catch (error) {
    throw surface(error);
  }
}
