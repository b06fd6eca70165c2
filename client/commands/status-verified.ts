import type { VerifiedEntry } from '../../activities/verify-catalog';
import { parseDuration } from '../../lib/config/duration';
import type { Config } from '../../lib/config/schema';
import type { VerifyLevel } from '../../lib/verify';
import { rpoStatus, type RpoStatus } from './rpo-status';

// What verification proved about a source, against the objectives. A backup counts as verified
// when any level passed for it in any region (the same rule as retention's interlock); only a
// passed restore measures the RTO, since integrity never restores anything.

export interface VerifiedStatus {
  newest: { id: string; region: string; level: VerifyLevel; verifiedAt: string; ageSeconds: number } | null;
  status: RpoStatus;
}

export type RtoVerdict = 'OK' | 'SLOW' | 'UNMEASURED' | 'NO-OBJECTIVE';

export interface RtoStatus {
  objectiveSeconds: number | null;
  /** The newest passed restore-level verification: how long its restore took. */
  measured: { seconds: number; id: string; region: string; verifiedAt: string } | null;
  status: RtoVerdict;
}

/** From the source's entries in every readable region (one entry per copy). */
export function verificationStatus(entries: Array<{ manifest: Pick<VerifiedEntry['manifest'], 'id' | 'finishedAt'>; records: VerifiedEntry['records'] }>, objectives: Config['objectives'], now: number): { verified: VerifiedStatus; rto: RtoStatus } {
  const passed = entries.flatMap((entry) => entry.records.filter((r) => r.outcome === 'passed').map((record) => ({ entry, record })));
  const newestBackup = passed.reduce<(typeof passed)[number] | undefined>((best, p) => {
    if (!best) return p;
    const order = p.entry.manifest.finishedAt.localeCompare(best.entry.manifest.finishedAt) || p.record.finishedAt.localeCompare(best.record.finishedAt);
    return order > 0 ? p : best;
  }, undefined);
  const rpoSeconds = objectives ? parseDuration(objectives.rpo) / 1000 : null;
  const newest = newestBackup
    ? {
        id: newestBackup.entry.manifest.id, region: newestBackup.record.region, level: newestBackup.record.level, verifiedAt: newestBackup.record.finishedAt,
        ageSeconds: Math.round((now - Date.parse(newestBackup.entry.manifest.finishedAt)) / 1000),
      }
    : null;
  const verified: VerifiedStatus = {
    newest,
    status: rpoStatus(rpoSeconds, newest?.ageSeconds ?? null),
  };

  const restores = passed.filter((p) => p.record.level === 'restore' && p.record.restoreMs !== null)
    .sort((a, b) => a.record.finishedAt.localeCompare(b.record.finishedAt));
  const last = restores.at(-1);
  const measured = last
    ? { seconds: last.record.restoreMs! / 1000, id: last.entry.manifest.id, region: last.record.region, verifiedAt: last.record.finishedAt }
    : null;
  const rtoSeconds = objectives ? parseDuration(objectives.rto) / 1000 : null;
  const rto: RtoStatus = {
    objectiveSeconds: rtoSeconds,
    measured,
    status: rtoSeconds === null ? 'NO-OBJECTIVE' : !measured ? 'UNMEASURED' : measured.seconds <= rtoSeconds ? 'OK' : 'SLOW',
  };
  return { verified, rto };
}
