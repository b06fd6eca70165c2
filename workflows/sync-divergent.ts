import { ActivityFailure, isCancellation, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { DivergentCopy } from '../activities/sync';
import type { VerifyPlan } from '../activities/verify';
import { shortCall } from './timeouts';
import { verifyInRegion } from './verify-region';

// A backup whose copy in a region is not the home region's is never overwritten: which copy is
// right is the operator's call, so both are verified (integrity level, through the verify path:
// a signed record in each region, a verify-failed alert for a copy that fails) and the outcome
// goes into the sync's report beside the sync-divergent alert.

export interface CopyVerification {
  region: string;
  outcome: 'passed' | 'failed' | 'untrusted' | 'error';
  /** The verify record written in that region; null when none was. */
  recordKey: string | null;
  /** The first failed check, why the copy is not trusted, or why it could not be verified. */
  detail: string | null;
}

export interface DivergentReport {
  backupId: string;
  finishedAt: string;
  reason: string;
  homeManifestSha256: string;
  manifestSha256: string;
  /** The home region's copy, then the region's; empty past the per-run limit. */
  verified: CopyVerification[];
}

// A region whose whole catalog was replaced must not turn one sync into thousands of
// verifications: the newest few are verified, all are reported.
const verifyAtMost = 3;

const local = proxyActivities<Activities>(shortCall);

/** Verifies both copies of each divergent backup (newest first, up to the limit) and reports them all. */
export async function verifyBothCopies(source: string, home: string, region: string, divergent: DivergentCopy[]): Promise<DivergentReport[]> {
  if (divergent.length === 0) return [];
  let plan: VerifyPlan | undefined;
  let planError: string | null = null;
  try {
    plan = await local.planVerify({ source });
  } catch (error) {
    if (isCancellation(error)) throw error;
    planError = messageOf(error);
  }
  const newestFirst = [...divergent].sort((a, b) => b.finishedAt.localeCompare(a.finishedAt));
  return Promise.all(newestFirst.map(async (copy, index): Promise<DivergentReport> => {
    const { id, finishedAt, reason, homeManifestSha256, manifestSha256 } = copy;
    const report = { backupId: id, finishedAt, reason, homeManifestSha256, manifestSha256 };
    if (index >= verifyAtMost) return { ...report, verified: [] };
    const both = plan
      ? await Promise.all([
        verifyCopy(plan, source, home, id),
        // An untrusted manifest is no backup: there is nothing of it to verify.
        copy.trusted ? verifyCopy(plan, source, region, id) : Promise.resolve<CopyVerification>({ region, outcome: 'untrusted', recordKey: null, detail: reason }),
      ])
      : [home, region].map((r): CopyVerification => ({ region: r, outcome: 'error', recordKey: null, detail: planError }));
    return { ...report, verified: both };
  }));
}

async function verifyCopy(plan: VerifyPlan, source: string, region: string, backupId: string): Promise<CopyVerification> {
  try {
    const result = await verifyInRegion({ source, region, level: 'integrity', backupId, plan: { ...plan, named: true }, progress: { step: 'waiting' } });
    const failed = result.checks.find((check) => !check.ok);
    return { region, outcome: result.outcome === 'passed' ? 'passed' : 'failed', recordKey: result.recordKey, detail: failed ? `${failed.name}: ${failed.detail}` : null };
  } catch (error) {
    // A region that cannot be verified now (storage or worker down) is reported, not a failed sync.
    if (isCancellation(error)) throw error;
    return { region, outcome: 'error', recordKey: null, detail: messageOf(error) };
  }
}

function messageOf(error: unknown): string {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  return cause instanceof Error ? cause.message : String(cause);
}
