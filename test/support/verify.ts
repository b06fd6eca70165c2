import type { Client } from '@temporalio/client';
import { readAll, type StorageBackend } from '../../activities/storage/backend';
import type { Config } from '../../lib/config/schema';
import type { VerifyRecord } from '../../lib/verify';
import { verifyWorkflowId } from '../../lib/workflow-ids';
import type { VerifyRestoreInput, VerifyResult } from '../../workflows/verify-restore';

/** A verifyRestore run under the id `lifeboat verify` uses, started on the primary region's queue. */
export function runVerify(client: Client, config: Config, input: VerifyRestoreInput): Promise<VerifyResult> {
  return client.workflow.execute('verifyRestore', {
    args: [input],
    workflowId: verifyWorkflowId(config.temporal.taskQueuePrefix, input.source),
    taskQueue: `${config.temporal.taskQueuePrefix}${config.primaryRegion}`,
  });
}

/** Every verify record of one backup in one region, oldest first. */
export async function verifyRecords(storage: StorageBackend, source: string, backupId: string): Promise<VerifyRecord[]> {
  const records: VerifyRecord[] = [];
  for await (const object of storage.list(`${source}/${backupId}/verify/`)) {
    if (!object.key.endsWith('.json')) continue;
    records.push(JSON.parse((await readAll(await storage.get(object.key))).toString('utf8')) as VerifyRecord);
  }
  return records;
}
