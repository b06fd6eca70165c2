import { patched, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { alertTime, raiseAlert } from './alert';
import { alertRollback } from './rollback-alert';
import { alertUntrusted } from './untrusted-alert';
import { catalogScan } from './timeouts';

export interface ObjectivesResult {
  rpo: string | null;
  /** Sources whose newest backup (in any region) is older than the RPO, or that have none. */
  missed: string[];
  /** Sources whose catalog disagrees with Temporal's completed backups or with its head records (catalog-rollback). */
  rollback?: string[];
}

// Every source's catalog in every region: heartbeats per manifest read.
const catalogs = proxyActivities<Activities>(catalogScan());

/**
 * Raises 'rpo-missed' for every source with no backup younger than objectives.rpo in any
 * region. Scheduled every 15 minutes when `objectives` is set; a source that stays late is
 * reported on every run, as a reminder, until a backup lands.
 */
export async function checkObjectives(_input: Record<string, never> = {}): Promise<ObjectivesResult> {
  const report = await catalogs.newestBackups();
  // Runs in flight when the rollback check was added replay without it.
  const heads = patched('rollback-check') ? await catalogs.checkRollback() : [];
  await alertUntrusted([
    ...report.sources.flatMap((s) => s.untrusted.map((item) => ({ source: s.source, ...item }))),
    ...heads.flatMap((h) => h.untrustedHeads.map((item) => ({ source: h.source, region: h.region, ...item }))),
  ], alertTime());
  const rollback = await alertRollback(heads, alertTime());
  if (report.rpoMs === null) return { rpo: null, missed: [], rollback };
  const rpoMs = report.rpoMs;
  const now = Date.parse(alertTime());
  const missed = report.sources.filter((s) => !s.newest || now - Date.parse(s.newest.finishedAt) > rpoMs);
  await Promise.all(missed.map((s) => {
    const ageSeconds = s.newest ? Math.round((now - Date.parse(s.newest.finishedAt)) / 1000) : null;
    const unreadable = s.unreadable.length > 0 ? `\nThe catalogs of ${s.unreadable.join(', ')} could not be read; a newer backup may be there.` : '';
    return raiseAlert({
      kind: 'rpo-missed',
      severity: 'critical',
      title: s.newest
        ? `${s.source}: newest backup is ${hours(ageSeconds!)} old, over the RPO of ${hours(rpoMs / 1000)}`
        : `${s.source}: no backup at all, RPO is ${hours(rpoMs / 1000)}`,
      text: (s.newest
        ? `Newest backup ${s.newest.id} finished ${s.newest.finishedAt} (${s.newest.region}).`
        : 'No region holds a backup of this source.')
        + ` Check its schedule ("lifeboat schedules list") and recent failures, or run "lifeboat backup ${s.source}".${unreadable}`,
      source: s.source,
      region: s.home,
      details: { ageSeconds, rpoSeconds: rpoMs / 1000, newestBackupId: s.newest?.id ?? null, unreadableRegions: s.unreadable.join(',') || null },
      at: alertTime(),
    });
  }));
  return { rpo: `${rpoMs / 1000}s`, missed: missed.map((s) => s.source), rollback };
}

function hours(seconds: number): string {
  return seconds >= 3600 ? `${(seconds / 3600).toFixed(1)}h` : `${Math.round(seconds / 60)}m`;
}
