import type { Client } from '@temporalio/client';
import type { Deps } from '../../activities/deps';
import { checkSource } from '../../activities/rollback';
import { LifeboatError } from '../../lib/errors';
import { describeFinding, type RollbackFinding } from '../../lib/rollback';

// Whether a source's catalog still holds every backup Temporal saw complete, and its head records
// are not behind Temporal's (lib/rollback.ts): what `status` shows as CATALOG and `doctor` checks.

export interface RollbackStatus {
  /** UNCHECKED: Temporal or the home region could not be read (see error). */
  status: 'ok' | 'ROLLBACK' | 'UNCHECKED';
  /** Completed runs checked (the newest, at most 50) and trusted head records read. */
  runs: number;
  heads: number;
  newestHead: number | null;
  findings: RollbackFinding[];
  /** One line per finding. */
  problems: string[];
  /** Head records no trusted key signed (or not the head they are stored as): ignored. */
  untrustedHeads: number;
  error?: string;
}

export async function rollbackStatus(client: Client | undefined, deps: Deps, source: string): Promise<RollbackStatus> {
  const unchecked = (error: string): RollbackStatus => ({ status: 'UNCHECKED', runs: 0, heads: 0, newestHead: null, findings: [], problems: [], untrustedHeads: 0, error });
  if (!client) return unchecked('Temporal is not reachable');
  try {
    const report = await checkSource(client, deps, source);
    return {
      status: report.findings.length > 0 ? 'ROLLBACK' : 'ok',
      runs: report.runs, heads: report.heads, newestHead: report.newestHead,
      findings: report.findings, problems: report.findings.map(describeFinding), untrustedHeads: report.untrustedHeads.length,
    };
  } catch (error) {
    return unchecked((error as Error).message);
  }
}

/** doctor's line for one source: what was checked, or a failure naming every finding. */
export async function rollbackDoctorLine(client: Client, deps: Deps, source: string): Promise<string> {
  const status = await rollbackStatus(client, deps, source);
  if (status.error) throw new LifeboatError('Storage', `cannot cross-check ${source}: ${status.error}`, 'make sure Temporal and the source\'s home region can be read');
  if (status.status === 'ROLLBACK') {
    throw new LifeboatError('VerificationFailed', `ROLLBACK: ${status.problems.join('; ')}`,
      'someone may have deleted backups or rolled the bucket back: see "Rollback alerts" in docs/security.md');
  }
  const untrusted = status.untrustedHeads > 0 ? `; ${status.untrustedHeads} untrusted head record(s) ignored` : '';
  return `${status.runs} completed backup run(s) and ${status.heads} head record(s) agree with the catalog${status.newestHead === null ? '' : ` (head ${status.newestHead})`}${untrusted}`;
}
