import { proxyActivities, upsertMemo, upsertSearchAttributes } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { RestoreInput, RestoreResult } from '../activities/restore';
import { surface } from './failures';
import { searchAttributes } from './search-attributes';
import { catalogScan, shortCall, streaming } from './timeouts';

/** backupId may be "latest"; the workflow resolves it before the restore starts. */
export type RestoreBackupInput = RestoreInput;

/** Verifies the stored object, then restores it into the target, then compares row counts. */
export async function restoreBackup(input: RestoreBackupInput): Promise<RestoreResult> {
  const plan = await proxyActivities<Activities>(shortCall).planBackup(input.source).catch((error: unknown) => { throw surface(error); });
  const taskQueue = `${plan.taskQueuePrefix}${input.region}`;
  upsertSearchAttributes(searchAttributes({ source: input.source, region: input.region, kind: plan.kind }));
  const regional = proxyActivities<Activities>({ ...catalogScan(plan.heartbeatTimeoutMs), taskQueue });
  // Restores are not retried blindly: a restore that failed half-way needs an operator's look.
  const stream = proxyActivities<Activities>({ ...streaming(taskQueue, plan.heartbeatTimeoutMs), retry: { maximumAttempts: 3, initialInterval: '5s' } });
  try {
    // A point-in-time restore picks its base backup by the recovery target, on the worker.
    if (input.cluster && input.backupId === 'latest') {
      upsertMemo({ summary: `point-in-time restore of ${input.source} from ${input.region} to ${input.cluster.time ?? input.cluster.lsn ?? 'the end of WAL'}` });
      return await stream.restoreBackupTo(input);
    }
    const backup = await regional.resolveBackup({ source: input.source, region: input.region, backupId: input.backupId });
    upsertMemo({ summary: `restore of ${input.source} backup ${backup.id} from ${input.region}` });
    return await stream.restoreBackupTo({ ...input, backupId: backup.id });
  } catch (error) {
    throw surface(error);
  }
}
