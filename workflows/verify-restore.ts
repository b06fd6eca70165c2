import { ApplicationFailure, defineQuery, proxyActivities, setHandler, upsertMemo, upsertSearchAttributes } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { VerifyLevel } from '../lib/verify';
import { surface } from './failures';
import { searchAttributes } from './search-attributes';
import { shortCall } from './timeouts';
import { verifyInRegion, type RegionJob, type RegionVerifyResult, type VerifyStep } from './verify-region';

export type { RegionVerifyResult, VerifyStep } from './verify-region';

export interface VerifyRestoreInput {
  source: string;
  /** Only this region; default `sources.<s>.verify.regions`, else every region holding the source's backups. */
  region?: string;
  level: VerifyLevel;
  /** A backup id; default by `sources.<s>.verify.strategy`. */
  backupId?: string;
}

export interface VerifyResult {
  source: string;
  level: VerifyLevel;
  outcome: 'passed' | 'failed';
  regions: RegionVerifyResult[];
}

export type VerifyProgress = Record<string, { step: VerifyStep; backupId?: string }>;
export const verifyProgressQuery = defineQuery<VerifyProgress>('progress');

const local = proxyActivities<Activities>(shortCall);

/**
 * Proves a backup restorable in every region that holds it, in parallel on each region's worker:
 * integrity always, then a restore into a scratch target. Each region gets a record and, when it
 * failed, an alert; then the run fails with VerificationFailed, the result in its details, so the
 * Temporal UI, schedules and the CLI's exit code all say "failed" without reading the result.
 */
export async function verifyRestore(input: VerifyRestoreInput): Promise<VerifyResult> {
  const progress: VerifyProgress = {};
  setHandler(verifyProgressQuery, () => progress);
  const plan = await local.planVerify({ source: input.source, region: input.region }).catch((error: unknown) => { throw surface(error); });
  upsertSearchAttributes(searchAttributes({ source: input.source, region: input.region ?? plan.home, kind: plan.kind }));

  const jobs: RegionJob[] = plan.regions.map((region) => {
    progress[region] = { step: 'waiting' };
    return { source: input.source, region, level: input.level, backupId: input.backupId, plan, progress: progress[region] };
  });
  const settled = await Promise.allSettled(jobs.map((job) => verifyInRegion(job)));
  // A region whose storage or worker stayed down cannot be verified: that is an error, not a verdict.
  const broken = settled.find((s) => s.status === 'rejected');
  if (broken) throw surface(broken.reason);
  const regions = settled.map((s) => (s as PromiseFulfilledResult<RegionVerifyResult>).value);

  const verified = regions.filter((r) => r.outcome !== 'skipped');
  const failed = verified.filter((r) => r.outcome === 'failed');
  const result: VerifyResult = { source: input.source, level: input.level, outcome: failed.length > 0 ? 'failed' : 'passed', regions };
  upsertMemo({ summary: `${input.level} verification of ${input.source}: ${verified.map((r) => `${r.region} ${r.outcome}`).join(', ') || 'no backup to verify'}` });
  if (verified.length === 0) {
    throw ApplicationFailure.create({ type: 'BackupNotFound', message: `no backup of ${input.source} in ${plan.regions.join(', ')} to verify`, nonRetryable: true, details: [`run "lifeboat backup ${input.source}" first`] });
  }
  if (failed.length > 0) {
    const what = failed.map((r) => `${r.region} (backup ${r.backupId}): ${r.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`).join('; ')}`);
    throw ApplicationFailure.create({
      type: 'VerificationFailed',
      message: `${input.level} verification of ${input.source} failed in ${what.join(' | ')}`,
      nonRetryable: true,
      details: ['do not count on the failed copies: restore from another backup or region; the verify records and the alert say what failed', result],
    });
  }
  return result;
}
