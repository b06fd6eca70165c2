import {
  CancellationScope,
  CancelledFailure,
  defineQuery,
  isCancellation,
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
import { alertBackupCancelled, alertBackupDone, alertBackupFailed } from './backup-alerts';
import { surface } from './failures';
import { searchAttributes } from './search-attributes';
import { startSyncAfterBackup } from './sync-after-backup';
import { catalogScan, shortCall, stopsBeforeNextStep, streaming } from './timeouts';

export interface BackupSourceInput {
  source: string;
  /** A full backup even where the source's chain would take an increment (files): `lifeboat backup --full`. */
  full?: boolean;
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
export async function backupSource({ source, full }: BackupSourceInput): Promise<BackupSummary> {
  let phase: BackupPhase = 'planning';
  const info = workflowInfo();
  const backupId = backupIdFor(info.startTime, info.runId);
  setHandler(backupPhaseQuery, () => ({ phase, backupId }));

  // Runs that started before cancellations waited for the snapshot replay without the change.
  const waits = patched('cancellation-waits');
  // After the commit point (the manifest) a cancellation is too late: the run completes the backup.
  const committed = <T>(step: () => Promise<T>): Promise<T> => (waits ? CancellationScope.nonCancellable(step) : step());
  const failed = (region: string | undefined, error: unknown, during: BackupPhase) => CancellationScope.nonCancellable(() => (waits && isCancellation(error)
    ? alertBackupCancelled(source, region, during)
    : alertBackupFailed(source, region, error)));
  const plan = await local.planBackup(source).catch(async (error: unknown) => {
    await failed(undefined, error, phase);
    throw surface(error);
  });
  upsertSearchAttributes(searchAttributes({ source, region: plan.region, kind: plan.kind }));
  // writeManifest reads the source's catalog (the chain), discardUnfinishedBackup lists the backup: both heartbeat.
  const regional = proxyActivities<Activities>({ ...catalogScan(plan.heartbeatTimeoutMs), taskQueue: plan.taskQueue });
  // A cancelled snapshot must have stopped writing before discardUnfinishedBackup lists what it left.
  const stream = proxyActivities<Activities>({ ...streaming(plan.taskQueue, plan.heartbeatTimeoutMs), ...(waits ? stopsBeforeNextStep : {}) });

  try {
    phase = 'snapshot';
    const snapshot = await stream.snapshotToStorage({ source, backupId, ...(full ? { full } : {}) });
    // A cancellation that came with the snapshot's last bytes still discards it.
    if (waits && CancellationScope.current().consideredCancelled) throw new CancelledFailure('the backup was cancelled before its manifest was written');
    phase = 'manifest';
    const manifest: ManifestWritten | Manifest = await committed(() => regional.writeManifest({ source, backupId, snapshot, workflow: { workflowId: info.workflowId, runId: info.runId } }));
    // Runs that started before head records existed replay without the new activity.
    const head = patched('head-record') ? await committed(() => regional.writeHead({ source, backupId })) : undefined;
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
    await committed(() => startSyncAfterBackup(source, plan));
    await committed(() => alertBackupDone({ source, region: plan.region, backupId, taskQueue: plan.taskQueue, bytes: summary.bytes, durationMs: summary.durationMs, contents: summary.contents, heartbeatTimeoutMs: plan.heartbeatTimeoutMs }));
    phase = 'done';
    return summary;
  } catch (error) {
    const during = phase;
    phase = 'cleanup';
    // Also when the run is cancelled: never leave half an upload or data without a manifest behind.
    await CancellationScope.nonCancellable(() => regional.discardUnfinishedBackup({ source, backupId }));
    phase = 'failed';
    await failed(plan.region, error, during);
    throw surface(error);
  }
}

function isWhole(written: ManifestWritten | Manifest): written is Manifest {
  return 'description' in written;
}
