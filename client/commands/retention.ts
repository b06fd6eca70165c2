import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError, type Client } from '@temporalio/client';
import { anyRegionQueue } from '../../lib/any-region-queue';
import type { Config } from '../../lib/config/schema';
import { LifeboatError } from '../../lib/errors';
import { retentionWorkflowId } from '../../lib/workflow-ids';
import type { applyRetention, RetentionReport, WalPruneReport } from '../../workflows/apply-retention';
import { failureToError } from '../failure';
import { type Output, usage } from '../output';
import { uiLink } from '../temporal';

export interface RetentionApplyOptions {
  source?: string;
  dryRun: boolean;
  wait: boolean;
}

export async function retentionApplyCommand(client: Client, config: Config, options: RetentionApplyOptions, out: Output): Promise<void> {
  if (options.source && !config.sources[options.source]) {
    throw usage(`no source "${options.source}" in the config`, `sources are: ${Object.keys(config.sources).join(', ') || '(none)'}`);
  }
  const workflowId = retentionWorkflowId(config.temporal.taskQueuePrefix, options.source);
  let handle;
  try {
    handle = await client.workflow.start<typeof applyRetention>('applyRetention', {
      args: [{ source: options.source, dryRun: options.dryRun }],
      workflowId,
      workflowIdConflictPolicy: 'FAIL',
      // The plan reads every region's catalog on any region's worker; each region's worker deletes its own copies.
      taskQueue: anyRegionQueue(config.temporal.taskQueuePrefix),
      memo: { summary: `retention${options.source ? ` of ${options.source}` : ''}${options.dryRun ? ' (dry run)' : ''}` },
      staticSummary: `Retention${options.source ? ` of ${options.source}` : ' of every source'}${options.dryRun ? ' (dry run)' : ''}`,
    });
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) {
      throw new LifeboatError('AlreadyRunning', `a retention run is already going (workflow ${workflowId})`, 'wait for it to finish, or watch it in the Temporal UI');
    }
    throw error;
  }
  out.note(`started retention${options.dryRun ? ' (dry run)' : ''}: ${uiLink(config, handle.workflowId, handle.firstExecutionRunId)}`);
  // A dry run is only worth its listing, so it always waits.
  if (!options.wait && !options.dryRun) {
    out.result({ workflowId: handle.workflowId, runId: handle.firstExecutionRunId }, `workflow ${handle.workflowId} run ${handle.firstExecutionRunId}`);
    return;
  }
  let report: RetentionReport;
  try {
    report = await handle.result();
  } catch (error) {
    throw error instanceof WorkflowFailedError ? failureToError(error) : error;
  }
  out.result(report, describeReport(report));
  if (report.totals.failed > 0) {
    throw new LifeboatError('Storage', `${report.totals.failed} deletion(s) failed`, 'see "failed" above; the next retention run finishes them');
  }
}

/** Per source and region: what goes and why, what stays and every reason it stays. */
export function describeReport(report: RetentionReport): string {
  const lines = [`retention at ${report.at}${report.dryRun ? ' — dry run: nothing deleted' : ''}`];
  const goes = report.dryRun ? 'would delete' : 'deleted';
  for (const source of report.sources) {
    lines.push('', source.source + (source.blocked ? `: BLOCKED, ${source.blocked}` : ''));
    for (const region of source.regions) {
      // Reports from before counts were carried list every item.
      const counts = region.counts ?? { kept: region.kept.length, deleted: region.deleted.length, failed: region.failed.length };
      lines.push(`  ${region.region} (${region.rules}): ${counts.kept} kept, ${counts.deleted} ${goes}${counts.failed ? `, ${counts.failed} FAILED` : ''}`);
      const items = [
        ...region.deleted.map((d) => ({ at: d.finishedAt, text: `    ${goes.padEnd(12)}  ${d.id}  ${d.reasons.join('; ')}` })),
        ...region.failed.map((d) => ({ at: d.finishedAt, text: `    ${'FAILED'.padEnd(12)}  ${d.id}  ${d.error}` })),
        ...region.kept.map((d) => ({ at: d.finishedAt, text: `    ${'keep'.padEnd(12)}  ${d.id}  ${d.reasons.join('; ')}` })),
      ].sort((a, b) => a.at.localeCompare(b.at));
      lines.push(...items.map((item) => item.text));
      const unlisted = counts.kept - region.kept.length + counts.deleted - region.deleted.length + counts.failed - region.failed.length;
      if (unlisted > 0) lines.push(`    … and ${unlisted} more, not listed: a report names the newest 100 kept and the first 20 of each other kind, and counts them all`);
      for (const orphan of region.orphans) {
        const done = orphan.removed !== null ? `removed ${orphan.removed} object(s)` : orphan.action === 'remove' && !orphan.skipped ? 'would remove' : `left: ${orphan.skipped ?? orphan.reason}`;
        lines.push(`    ${'orphan'.padEnd(12)}  ${orphan.id}  ${orphan.objects} object(s) without a manifest, newest ${orphan.newest}: ${done}`);
      }
      if (region.wal) lines.push(`    ${'wal'.padEnd(12)}  ${walLine(region.wal, goes)}`);
      for (const lock of region.locks) {
        const done = lock.error ? `FAILED: ${lock.error}` : lock.objects === null ? 'would extend' : `extended on ${lock.objects} object(s)`;
        lines.push(`    ${'lock'.padEnd(12)}  ${lock.id}  Object Lock until ${lock.until} (its tier keeps it that long): ${done}`);
      }
    }
  }
  if (report.unmanaged.length > 0) lines.push('', `no retention rules, never pruned: ${report.unmanaged.join(', ')}`);
  return lines.join('\n');
}

function walLine(wal: WalPruneReport, goes: string): string {
  if ('error' in wal) return `not pruned: ${wal.error}`;
  if (!wal.keepFrom) return 'no base backup kept here: every WAL file stays';
  // Reports from before counts were carried list every file.
  const count = wal.count ?? wal.files.length;
  const what = count === 0 ? 'nothing before it' : `${goes} ${count} file(s), ${wal.files[0]} to ${wal.last ?? wal.files.at(-1)}`;
  return `kept base backups need WAL from ${wal.keepFrom}: ${what}`;
}
