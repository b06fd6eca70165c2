import type { RollbackReport } from '../activities/rollback';
import { describeFinding } from '../lib/rollback';
import { raiseAlert } from './alert';

/**
 * One critical 'catalog-rollback' alert per source whose catalog disagrees with Temporal or with
 * its own head records. Raised on every check until the disagreement is explained, like rpo-missed.
 */
export async function alertRollback(reports: RollbackReport[], at: string): Promise<string[]> {
  const found = reports.filter((report) => report.findings.length > 0);
  for (const report of found) {
    const lines = report.findings.slice(0, 5).map(describeFinding);
    const missing = report.findings.find((f) => f.kind === 'backup-missing' && f.newest);
    await raiseAlert({
      kind: 'catalog-rollback', severity: 'critical', source: report.source, region: report.region, at,
      title: `${report.source}: ${lines[0]}`,
      text: `${lines.join('\n')}${report.findings.length > lines.length ? `\n… and ${report.findings.length - lines.length} more` : ''}\n`
        + `Checked the last ${report.runs} completed backup runs and ${report.heads} head records in ${report.region}. `
        + 'Someone with delete rights on the bucket may have removed backups or rolled it back: treat it as an incident. '
        + `"restore --latest" now takes the newest backup that is left${missing ? ', older than the one Temporal saw complete' : ''}; `
        + `find which regions still hold the lost backup ("lifeboat backups list --source ${report.source} --region R") and see "Rollback alerts" in docs/security.md.`,
      details: {
        findings: report.findings.length, firstKind: report.findings[0]!.kind, newestHead: report.newestHead,
        missingBackupId: missing && missing.kind === 'backup-missing' ? missing.backupId : null,
      },
    });
  }
  return found.map((report) => report.source);
}
