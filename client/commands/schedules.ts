import type { Client } from '@temporalio/client';
import type { Config } from '../../lib/config/schema';
import { listSchedules } from '../schedules/list';
import { applySchedules, refusedSchedules, type ScheduleChange } from '../schedules/reconcile';
import { type Output, table } from '../output';

export async function schedulesApplyCommand(client: Client, config: Config, dryRun: boolean, out: Output): Promise<void> {
  const report = await applySchedules(client, config, dryRun);
  const counts = (['created', 'updated', 'deleted', 'unchanged', 'failed'] as const)
    .map((kind) => [kind, report.changes.filter((c) => c.change === kind).length] as const)
    .filter(([, n]) => n > 0)
    .map(([kind, n]) => `${n} ${kind}`);
  const verb = (change: ScheduleChange) => (dryRun && change.change !== 'unchanged' && change.change !== 'failed' ? `would be ${change.change}` : change.change);
  const rows = report.changes.map((c) => [verb(c), c.id, c.cron ?? '?', c.timezone ?? '?', c.workflowType ?? '?', c.error ?? c.reasons.join(', ')]);
  const text = report.changes.length === 0
    ? 'no schedules in the config and none of Lifeboat\'s on the server'
    : `${table([['CHANGE', 'SCHEDULE', 'CRON', 'TIMEZONE', 'WORKFLOW', 'WHY'], ...rows])}\n${dryRun ? 'dry run, nothing changed: ' : ''}${counts.join(', ')}`;
  const shippers = report.walShippers.map((s) => `WAL shipper of ${s.source}: ${s.started ? 'started' : s.missing ? 'not running, would be started' : 'running'}`);
  out.result(report, [text, ...shippers].join('\n'));
  const refused = refusedSchedules(report);
  if (refused) throw refused;
}

export async function schedulesListCommand(client: Client, config: Config, next: number, out: Output): Promise<void> {
  const listings = await listSchedules(client, config, next);
  const rows = listings.map((s) => [
    s.id,
    s.cron ?? '?',
    s.timezone,
    s.paused ? `paused${s.note ? ` (${s.note})` : ''}` : s.inConfig ? 'active' : 'active, not in config',
    s.nextRuns.map((r) => r.local.replace('T', ' ')).join(', ') || '(none)',
    s.lastResult ? `${s.lastResult.status} ${s.lastResult.workflowId}` : '(never ran)',
  ]);
  const text = listings.length === 0
    ? 'no Lifeboat schedules; run "lifeboat schedules apply"'
    : table([['SCHEDULE', 'CRON', 'TIMEZONE', 'STATE', 'NEXT RUNS (local time)', 'LAST RESULT'], ...rows]);
  out.result(listings, text);
}
