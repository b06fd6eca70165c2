import { putSignedJson } from './signing';
import { verifyRecordKey } from '../../activities/verify-records';
import type { StorageBackend } from '../../activities/storage/backend';
import type { VerifyRecord } from '../../lib/verify';

// What verifyRestore leaves beside a backup, planted straight into storage: the tests of the
// catalog, status, metrics and retention need the records, not the workflow that writes them.

export function verifyRecord(fields: Pick<VerifyRecord, 'source' | 'backupId' | 'region' | 'level' | 'outcome' | 'finishedAt'> & Partial<VerifyRecord>): VerifyRecord {
  return {
    format: 'lifeboat-verify/1', kind: 'postgres', startedAt: fields.finishedAt, restoreMs: null, bytes: 12,
    checks: [{ name: 'planted', ok: fields.outcome === 'passed', detail: 'planted by a test' }], tools: {},
    workflow: { workflowId: `planted-verify-${fields.backupId}`, runId: 'planted' },
    ...fields,
  };
}

export async function plantRecord(storage: StorageBackend, record: VerifyRecord): Promise<string> {
  const timestamp = record.finishedAt.replace(/[-:]/g, '').replace(/\.(\d+)Z$/, '$1Z');
  const key = verifyRecordKey(record.source, record.backupId, timestamp);
  await putSignedJson(storage, key, record);
  return key;
}
