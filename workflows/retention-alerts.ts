import { raiseAlert } from './alert';
import type { RetentionReport } from './retention-report';

// The alerts of a retention run, shared by today's applyRetention and the one earlier runs replay
// through: the same alerts, so the same commands.

export async function alertBlocked(plan: { source: string; blocked: string | null; newestAt: string | null }, distrust: boolean, at: string): Promise<void> {
  await raiseAlert({
    kind: 'retention-blocked', severity: 'critical', source: plan.source, at,
    title: distrust ? `${plan.source}: retention blocked, untrusted objects in the catalog` : `${plan.source}: retention blocked, newest backup older than the RPO objective`,
    text: distrust
      ? `${plan.blocked}.`
      : `${plan.blocked}. Find out why backups of ${plan.source} fail ("lifeboat backup ${plan.source} --wait"); retention resumes by itself once a backup succeeds.`,
    details: { newestAt: plan.newestAt },
  });
}

export async function alertFailedDeletions(report: RetentionReport, source: string | undefined, at: string): Promise<void> {
  if (report.totals.failed === 0) return;
  await raiseAlert({
    kind: 'retention-failed', severity: 'warning', source, at,
    title: `retention: ${report.totals.failed} deletion(s) failed`,
    text: 'Some backup copies could not be deleted after retries; their manifests may be gone (so they no longer count as backups) and the next retention run removes their data. Check the storage of the regions named in the report.',
    details: { failed: report.totals.failed, deleted: report.totals.deleted },
  });
}

export async function alertRunFailed(failure: unknown, source: string | undefined, at: string): Promise<void> {
  await raiseAlert({
    kind: 'retention-failed', severity: 'critical', source, at,
    title: `retention failed${source ? ` for ${source}` : ''}`,
    text: `${(failure as Error).message}\nNothing more was deleted; the run is in the Temporal UI.`,
    details: { type: (failure as { type?: string }).type ?? null },
  });
}
