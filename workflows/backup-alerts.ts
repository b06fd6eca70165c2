import { ActivityFailure, ApplicationFailure, isCancellation, log, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { alertTime, raiseAlert } from './alert';
import { catalogScan, shortCall } from './timeouts';

// What backupSource tells operators. Neither function throws: an alert must never turn a good
// backup into a failed one, nor hide the failure it reports.

export async function alertBackupFailed(source: string, region: string | undefined, error: unknown): Promise<void> {
  // An operator who cancels a backup knows; a page for it would be noise.
  if (isCancellation(error)) return;
  const type = failureType(error);
  const message = failureMessage(error);
  await raiseAlert({
    kind: 'backup-failed',
    severity: 'critical',
    title: `${source}: backup failed (${type})`,
    text: `${message}\nThe run's history in the Temporal UI shows every attempt; after fixing the cause, run "lifeboat backup ${source}".`,
    source,
    region,
    details: { failureType: type },
    at: alertTime(),
  });
}

/**
 * A cancelled backup leaves the source without the backup its schedule planned: an operator who
 * cancelled knows, whoever is on call may not. A warning, sent after the cleanup.
 */
export async function alertBackupCancelled(source: string, region: string | undefined, during: string): Promise<void> {
  await raiseAlert({
    kind: 'backup-failed',
    severity: 'warning',
    title: `${source}: backup cancelled (during ${during})`,
    text: `The run was cancelled before its manifest was written; what it had uploaded is removed, so the catalog is as it was.\nThe source's newest backup is older than planned: run "lifeboat backup ${source}" when the cause of the cancellation is dealt with.`,
    source,
    region,
    details: { failureType: 'Cancelled', phase: during },
    at: alertTime(),
  });
}

export interface BackupDone {
  source: string;
  region: string;
  backupId: string;
  taskQueue: string;
  bytes: number;
  durationMs: number;
  contents: string;
  /** temporal.heartbeatTimeout: a worker that dies during the assessment is noticed as soon as during the backup. */
  heartbeatTimeoutMs?: number;
}

/** The success digest and the size-change warning, as the config asks (read by an activity). */
export async function alertBackupDone(done: BackupDone): Promise<void> {
  const { source, region, backupId } = done;
  let assessment;
  try {
    assessment = await proxyActivities<Activities>({ ...catalogScan(done.heartbeatTimeoutMs), taskQueue: done.taskQueue, retry: { ...shortCall.retry, maximumAttempts: 3 } })
      .assessBackup({ source, backupId });
  } catch (error) {
    log.warn('backup alerts skipped: cannot assess the new backup', { source, backupId, error: failureMessage(error) });
    return;
  }
  if (assessment.sizeChange) {
    const { previousId, previousBytes, bytes, percent, thresholdPercent } = assessment.sizeChange;
    await raiseAlert({
      kind: 'size-change',
      severity: 'warning',
      title: `${source}: backup size changed ${percent > 0 ? '+' : ''}${percent}% (${previousBytes} → ${bytes} bytes)`,
      text: `Backup ${backupId} stores ${bytes} bytes; the previous comparable backup ${previousId} stored ${previousBytes} (threshold ±${thresholdPercent}%).\n`
        + 'A sudden drop can mean lost data or a wrong selection; a jump, a runaway table or log. Check the source.',
      source,
      region,
      details: { backupId, previousBackupId: previousId, bytes, previousBytes, percent, thresholdPercent },
      at: alertTime(),
    });
  }
  if (assessment.successDigest) {
    await raiseAlert({
      kind: 'backup-succeeded',
      severity: 'info',
      title: `${source}: backup ${backupId} done (${done.bytes} bytes)`,
      text: `${done.contents}; ${Math.round(done.durationMs / 1000)}s; stored in ${region}.`,
      source,
      region,
      details: { backupId, bytes: done.bytes, durationMs: done.durationMs },
      at: alertTime(),
    });
  }
}

function failureType(error: unknown): string {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  if (cause instanceof ApplicationFailure) return cause.type ?? 'Error';
  return cause instanceof Error ? cause.name : 'Error';
}

function failureMessage(error: unknown): string {
  const cause = error instanceof ActivityFailure && error.cause ? error.cause : error;
  return cause instanceof Error ? cause.message : String(cause);
}
