import type { Client } from '@temporalio/client';
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
