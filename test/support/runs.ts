import type { Client, WorkflowHandle } from '@temporalio/client';
import type { Config } from '../../lib/config/schema';
import type { RestoreBackupInput } from '../../workflows/restore-backup';
import type { RestoreResult } from '../../activities/restore';
import type { BackupSummary } from '../../workflows/backup-source';

let runs = 0;
const id = (what: string) => `test-${what}-${process.pid}-${Date.now()}-${runs++}`;

export function runBackup(client: Client, config: Config, source: string): Promise<BackupSummary> {
  const region = config.sources[source]!.region;
  return client.workflow.execute('backupSource', { args: [{ source }], workflowId: id(`backup-${source}`), taskQueue: `${config.temporal.taskQueuePrefix}${region}` });
}

export function runRestore(client: Client, config: Config, input: Partial<RestoreBackupInput> & { source: string; target: string }): Promise<RestoreResult> {
  const region = input.region ?? config.sources[input.source]!.region;
  return client.workflow.execute('restoreBackup', {
    args: [{ region, backupId: 'latest', clean: false, noOwner: false, ...input }],
    workflowId: id(`restore-${input.source}`),
    taskQueue: `${config.temporal.taskQueuePrefix}${region}`,
  });
}

/** The attempt numbers of every run of an activity type in a workflow's history. */
export async function activityAttempts(handle: Pick<WorkflowHandle, 'fetchHistory'>, activityType: string): Promise<number[]> {
  const history = await handle.fetchHistory();
  const types = new Map<string, string>();
  const attempts: number[] = [];
  for (const event of history.events ?? []) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled) types.set(String(event.eventId), scheduled.activityType?.name ?? '');
    const started = event.activityTaskStartedEventAttributes;
    if (started && types.get(String(started.scheduledEventId)) === activityType) attempts.push(started.attempt ?? 0);
  }
  return attempts;
}
