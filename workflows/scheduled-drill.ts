import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ParentClosePolicy, proxyActivities, startChild } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { FailoverInput, FailoverResult } from '../lib/failover';
import { failoverWorkflowId } from '../lib/workflow-ids';
import { drFailover } from './dr-failover';
import { surface } from './failures';
import { shortCall } from './timeouts';

export type ScheduledDrillResult =
  | { outcome: 'done'; result: FailoverResult }
  | { outcome: 'skipped'; reason: string; runningWorkflowId: string };

/**
 * What the drill schedule starts. Temporal appends the scheduled time to a schedule's workflow
 * ids; running the drill as a child under the one drill id keeps a scheduled and a manual drill
 * from restoring into the same targets at once (as scheduledBackup does for backups).
 */
export async function scheduledDrill(input: FailoverInput): Promise<ScheduledDrillResult> {
  const settings = await proxyActivities<Activities>(shortCall).failoverSettings(input).catch((error: unknown) => { throw surface(error); });
  const workflowId = failoverWorkflowId(settings.taskQueuePrefix, true);
  let child;
  try {
    child = await startChild(drFailover, {
      args: [{ ...input, drill: true }],
      workflowId,
      taskQueue: `${settings.taskQueuePrefix}${input.targetRegion}`,
      // Cancelling the scheduled run cancels the drill, whose compensation tears down what it restored.
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
    });
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) {
      return { outcome: 'skipped', reason: `a failover drill was already running`, runningWorkflowId: workflowId };
    }
    throw error;
  }
  try {
    return { outcome: 'done', result: await child.result() };
  } catch (error) {
    throw surface(error);
  }
}
