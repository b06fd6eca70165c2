import {
  CancellationScope,
  defineQuery,
  patched,
  proxyActivities,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ManifestWritten } from '../activities/backup';
import { backupIdFor, brief, warningsOf, type Manifest } from '../lib/manifest';
import { alertBackupDone, alertBackupFailed } from './backup-alerts';
import { surface } from './failures';
import { searchAttributes } from './search-attributes';
import { startSyncAfterBackup } from './sync-after-backup';
import { shortCall, streaming } from './timeouts';

export interface BackupSourceInput {
  source: string;
}

export interface BackupSummary {
  backupId: string;
  source: string;
  kind: string;
  region: string;
  key: string;
  bytes: number;
  sha256: string;
  /** The backup an increment builds on. */
  parent: string | null;
  /** "12 tables", "2345 keys", "1200 files (increment 2)". */
  contents: string;
  warnings: number;
  durationMs: number;
  /** The signed head record's sequence (lib/manifest.ts Head): Temporal's own count of this source's backups. */
  headSequence: number | null;
}

export type BackupPhase = 'planning' | 'snapshot' | 'manifest' | 'cleanup' | 'done' | 'failed';
export const backupPhaseQuery = defineQuery<{ phase: BackupPhase; backupId?: string }>('phase');

const local = proxyActivities<Activities>(shortCall);

/** One backup of one source: snapshot and upload in the source's region, then the manifest, last. */
export async function backupSource({ source }: BackupSourceInput): Promise<BackupSummary> {
  let phase: BackupPhase = 'planning';
  const info = workflowInfo();
  const backupId = backupIdFor(info.startTime, info.runId);
  setHandler(backupPhaseQuery, () => ({ phase, backupId }));

  const plan = await local.planBackup(source).catch(async (error: unknown) => {
    await alertBackupFailed(source, undefined, error);
    throw surface(error);
  });
  upsertSearchAttributes(searchAttributes({ source, region: plan.region, kind: plan.kind }));
  const regional = proxyActivities<Activities>({ ...shortCall, taskQueue: plan.taskQueue });
  const stream = proxyActivities<Activities>(streaming(plan.taskQueue, plan.heartbeatTimeoutMs));

  try {
    phase = 'snapshot';
    const snapshot = await stream.snapshotToStorage({ source, backupId });
    phase = 'manifest';
    const manifest: ManifestWritten | Manifest = await regional.writeManifest({ source, backupId, snapshot, workflow: { workflowId: info.workflowId, runId: info.runId } });
    // Runs that started before head records existed replay without the new activity.
    const head = patched('head-record') ? await regional.writeHead({ source, backupId }) : undefined;
    const summary: BackupSummary = {
      backupId,
      source,
      kind: plan.kind,
      region: plan.region,
      key: snapshot.objects[0]!.key,
      bytes: snapshot.objects[0]!.size,
      sha256: snapshot.objects[0]!.sha256,
      parent: manifest.parent,
      // Histories recorded before writeManifest returned counts hold the whole manifest.
      contents: isWhole(manifest) ? brief(manifest.description) : manifest.contents,
      warnings: isWhole(manifest) ? warningsOf(manifest.description) : manifest.warnings,
      durationMs: Date.parse(snapshot.finishedAt) - Date.parse(snapshot.startedAt),
      headSequence: head?.sequence ?? null,
    };
    // The rollback check reads backupId and headSequence from the memo in visibility listings.
    upsertMemo({ summary: `${source}: backup ${backupId}, ${summary.bytes} bytes stored in ${plan.region}`, backupId, headSequence: summary.headSequence });
    await startSyncAfterBackup(source, plan);
    await alertBackupDone({ source, region: plan.region, backupId, taskQueue: plan.taskQueue, bytes: summary.bytes, durationMs: summary.durationMs, contents: summary.contents });
    phase = 'done';
    return summary;
  } catch (error) {
    phase = 'cleanup';
    // Also when the run is cancelled: never leave half an upload or data without a manifest behind.
    await CancellationScope.nonCancellable(() => regional.discardUnfinishedBackup({ source, backupId }));
    phase = 'failed';
    await CancellationScope.nonCancellable(() => alertBackupFailed(source, plan.region, error));
    throw surface(error);
  }
}

function isWhole(written: ManifestWritten | Manifest): written is Manifest {
  return 'description' in written;
}
