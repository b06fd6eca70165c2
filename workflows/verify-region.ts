import { ActivityFailure, CancellationScope, isCancellation, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { VerifyPlan } from '../activities/verify';
import type { CheckOutcome, RestoreLevelResult, VerifyLevel, VerifyRecord } from '../lib/verify';
import { alertTime, raiseAlert } from './alert';
import { catalogScan, shortCall, stopsBeforeNextStep, streaming } from './timeouts';

export type VerifyStep = 'waiting' | 'picking' | 'integrity' | 'restore' | 'cleanup' | 'record' | 'done';

export interface RegionVerifyResult {
  region: string;
  /** null when the region holds no backup of the source (and was not named): nothing verified. */
  backupId: string | null;
  level: VerifyLevel;
  outcome: 'passed' | 'failed' | 'skipped';
  checks: CheckOutcome[];
  restoreMs: number | null;
  bytes: number;
  /** Where the record was written. */
  recordKey: string | null;
}

export interface RegionJob {
  source: string;
  region: string;
  level: VerifyLevel;
  backupId?: string;
  plan: VerifyPlan;
  /** What the progress query shows for this region. */
  progress: { step: VerifyStep; backupId?: string };
}

/** Picks, verifies, records and (on failure) alerts in one region, on that region's worker. */
export async function verifyInRegion(job: RegionJob): Promise<RegionVerifyResult> {
  const { source, region, level, plan } = job;
  const taskQueue = `${plan.taskQueuePrefix}${region}`;
  const regional = proxyActivities<Activities>({ ...catalogScan(plan.heartbeatTimeoutMs), taskQueue, scheduleToStartTimeout: '1 hour' });
  const stream = proxyActivities<Activities>(streaming(taskQueue, plan.heartbeatTimeoutMs));
  // A restore that fails half-way is not retried blindly, as in restoreBackup; the cleanup always is.
  // Both run on the machine that holds the scratch copy (its own queue, asked for just before).
  // Cancelled, it must have stopped before cleanupScratch removes its target (runs from before replay without).
  const waits = patched('cancellation-waits') ? stopsBeforeNextStep : {};
  const scratch = (hostQueue: string) => proxyActivities<Activities>({ ...streaming(taskQueue, plan.heartbeatTimeoutMs), taskQueue: hostQueue, retry: { maximumAttempts: 3, initialInterval: '5s' }, ...waits });
  const cleaner = (hostQueue: string) => proxyActivities<Activities>({ ...shortCall, taskQueue: hostQueue, startToCloseTimeout: '10 minutes', scheduleToStartTimeout: '1 hour', heartbeatTimeout: plan.heartbeatTimeoutMs });
  const info = workflowInfo();
  // Once per run and region, from the workflow's clock: a retried write lands on the same key.
  const startedAt = alertTime();
  const timestamp = startedAt.replace(/[-:]/g, '');

  job.progress.step = 'picking';
  const backupId = await regional.pickBackupToVerify({ source, region, backupId: job.backupId, strategy: plan.strategy, windowMs: plan.windowMs, now: startedAt });
  if (backupId === null) {
    if (plan.named) {
      return record(job, regional, { startedAt, timestamp, backupId: null, checks: [{ name: 'backup present', ok: false, detail: `no backup of ${source} in ${region}` }], restore: null, bytes: 0, tools: {} });
    }
    job.progress.step = 'done';
    return { region, backupId: null, level, outcome: 'skipped', checks: [], restoreMs: null, bytes: 0, recordKey: null };
  }
  Object.assign(job.progress, { step: 'integrity', backupId });
  const integrity = await stream.verifyIntegrity({ source, region, backupId });
  let checks = integrity.checks;
  let restore: RestoreLevelResult | null = null;
  if (level === 'restore' && checks.every((c) => c.ok)) {
    // The run and the region name the scratch target, so a retried restore and the cleanup find the same one.
    const scratchId = `v${info.runId.replace(/-/g, '').slice(-12)}-${region}`;
    const hostQueue = patched('lifeboat-host-queue') ? await regional.hostTaskQueue() : taskQueue;
    try {
      job.progress.step = 'restore';
      restore = await scratch(hostQueue).restoreLevelCheck({ source, region, backupId, scratchId });
      checks = [...checks, ...restore.checks];
    } catch (error) {
      // A backup that cannot be restored failed its verification: recorded and alerted like a failed check.
      if (!(error instanceof ActivityFailure) || isCancellation(error) || operatorError(error)) throw error;
      checks = [...checks, { name: 'restore into scratch', ok: false, detail: messageOf(error) }];
    } finally {
      job.progress.step = 'cleanup';
      // Also after a failure or a cancellation of the run: no scratch database, directory or process stays.
      await CancellationScope.nonCancellable(() => cleaner(hostQueue).cleanupScratch({ source, region, scratchId }));
    }
  }
  return record(job, regional, { startedAt, timestamp, backupId, checks, restore, bytes: integrity.bytes, tools: { ...integrity.tools, ...restore?.tools } });
}

interface Verified {
  startedAt: string;
  timestamp: string;
  /** null: a region that was asked for holds no backup of the source. */
  backupId: string | null;
  checks: CheckOutcome[];
  restore: RestoreLevelResult | null;
  bytes: number;
  tools: Record<string, string>;
}

async function record(job: RegionJob, regional: Pick<Activities, 'writeVerifyRecord'>, verified: Verified): Promise<RegionVerifyResult> {
  const { source, region, level, plan } = job;
  const info = workflowInfo();
  const outcome = verified.checks.every((c) => c.ok) ? 'passed' : 'failed';
  Object.assign(job.progress, { step: 'record', backupId: verified.backupId ?? undefined });
  let recordKey: string | null = null;
  if (verified.backupId !== null) {
    const stored: VerifyRecord = {
      format: 'lifeboat-verify/1', source, kind: plan.kind, region, backupId: verified.backupId, level, outcome,
      startedAt: verified.startedAt, finishedAt: alertTime(), restoreMs: verified.restore?.restoreMs ?? null, bytes: verified.bytes,
      checks: verified.checks, tools: verified.tools, workflow: { workflowId: info.workflowId, runId: info.runId },
    };
    recordKey = await regional.writeVerifyRecord({ ...stored, timestamp: verified.timestamp });
  }
  if (outcome === 'failed') {
    const failed = verified.checks.filter((c) => !c.ok);
    await raiseAlert({
      kind: 'verify-failed', severity: 'critical', source, region, at: alertTime(),
      title: `${source}: ${level} verification of ${verified.backupId ? `backup ${verified.backupId}` : 'its backups'} in ${region} failed`,
      text: [...failed.map((c) => `${c.name}: ${c.detail}`),
        `Do not count on this copy: restore from another backup or region, and find out what damaged it.`].join('\n'),
      details: { backupId: verified.backupId, level, failedChecks: failed.length, firstFailed: failed[0]?.name ?? null },
    });
  }
  job.progress.step = 'done';
  return { region, backupId: verified.backupId, level, outcome, checks: verified.checks, restoreMs: verified.restore?.restoreMs ?? null, bytes: verified.bytes, recordKey };
}

function messageOf(error: ActivityFailure): string {
  const cause = error.cause as { type?: string | null; message?: string } | undefined;
  return cause?.message ? `${cause.type ? `${cause.type}: ` : ''}${cause.message}` : error.message;
}

// A region without a scratch target, a missing tool or key: the operator's to fix, not the backup's
// fault, so the run fails with that error instead of recording the backup as unrestorable.
const operatorErrors = new Set(['Config', 'Usage', 'MissingTool', 'BadKey']);

function operatorError(error: ActivityFailure): boolean {
  const type = (error.cause as { type?: string | null } | undefined)?.type;
  return typeof type === 'string' && operatorErrors.has(type);
}
