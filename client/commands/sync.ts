import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { fromRawPayload } from '../raw-payload';
import type { CopyHeartbeat } from '../../activities/sync';
import { anyRegionQueue } from '../../lib/any-region-queue';
import type { Config } from '../../lib/config/schema';
import { exitCodeFor, LifeboatError } from '../../lib/errors';
import { regionKey, searchAttributes } from '../../workflows/search-attributes';
import { syncWorkflowId } from '../../lib/workflow-ids';
import type { syncRegions, SyncResult } from '../../workflows/sync-regions';
import { failureToError } from '../failure';
import { bytes, table, type Output, usage } from '../output';
import { noteProgress } from '../progress';
import { taskQueueOf, uiLink } from '../temporal';
import { age } from './ages';

export async function syncCommand(client: Client, config: Config, options: { source?: string; wait: boolean }, out: Output): Promise<void> {
  const { source } = options;
  const sourceConfig = source !== undefined ? config.sources[source] : undefined;
  if (source !== undefined && !sourceConfig) throw usage(`no source "${source}" in the config`, `sources are: ${Object.keys(config.sources).join(', ') || '(none)'}`);
  const workflowId = syncWorkflowId(config.temporal.taskQueuePrefix, source);
  let handle;
  try {
    handle = await client.workflow.start<typeof syncRegions>('syncRegions', {
      args: [{ source }],
      workflowId,
      workflowIdConflictPolicy: 'FAIL',
      // One source: its region's worker plans; every source: any region's worker. Each copy runs on its destination region's queue.
      taskQueue: sourceConfig ? taskQueueOf(config, sourceConfig.region) : anyRegionQueue(config.temporal.taskQueuePrefix),
      typedSearchAttributes: sourceConfig
        ? searchAttributes({ source: source!, region: sourceConfig.region, kind: sourceConfig.kind })
        : [{ key: regionKey, value: config.primaryRegion }],
      memo: { summary: `sync of ${source ?? 'every source'} to every region` },
      staticSummary: `Sync of ${source ?? 'every source'}`,
    });
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) {
      throw new LifeboatError('AlreadyRunning', `a sync of ${source ?? 'every source'} is already running (workflow ${workflowId})`, 'wait for it to finish, or watch it in the Temporal UI');
    }
    throw error;
  }
  out.note(`started sync of ${source ?? 'every source'}: ${uiLink(config, handle.workflowId, handle.firstExecutionRunId)}`);
  if (!options.wait) {
    out.result({ workflowId: handle.workflowId, runId: handle.firstExecutionRunId }, `workflow ${handle.workflowId} run ${handle.firstExecutionRunId}`);
    return;
  }
  const result = await waitWithProgress(client, handle, out);
  out.result(result, syncText(result));
  // The document is printed either way; the exit code says whether every copy was made.
  const failure = result.sources.flatMap((s) => s.regions.flatMap((r) => r.failed))[0];
  if (failure) process.exitCode = exitCodeFor(failure.type) === 1 ? errorExit : exitCodeFor(failure.type);
  // A copy unlike the home region's was left alone, but the regions do not agree: not a success.
  else if (result.sources.some((s) => s.regions.some((r) => r.divergent.length > 0))) process.exitCode = exitCodeFor('AlreadyExists');
}

const errorExit = exitCodeFor('Storage');

/** Notes each copy in flight on stderr (once per change) until the sync ends. */
async function waitWithProgress(client: Client, handle: WorkflowHandle<typeof syncRegions>, out: Output): Promise<SyncResult> {
  const result = handle.result();
  await noteProgress(result, async () => (await copiesInFlight(client, handle))
    .map((beat): [string, string] => [`${beat.key} ${beat.to}`, `copying ${beat.key} → ${beat.to}: ${bytes(beat.bytes)}`]), out);
  try {
    return await result;
  } catch (error) {
    throw error instanceof WorkflowFailedError ? failureToError(error) : error;
  }
}

/** The latest heartbeat of every copy running in the sync, or in its per-source children. */
async function copiesInFlight(client: Client, handle: WorkflowHandle): Promise<CopyHeartbeat[]> {
  const parent = await handle.describe();
  const children = await Promise.all((parent.raw.pendingChildren ?? []).filter((c) => c.workflowId)
    .map((c) => client.workflow.getHandle(c.workflowId!, c.runId ?? undefined).describe()));
  const payloads = [parent, ...children].flatMap((run) => (run.raw.pendingActivities ?? [])
    .filter((activity) => activity.activityType?.name === 'copyObject')
    .flatMap((activity) => activity.heartbeatDetails?.payloads?.slice(0, 1) ?? []));
  return await Promise.all(payloads.map((payload) => fromRawPayload<CopyHeartbeat>(client.workflow, payload)));
}

export function syncText(result: SyncResult): string {
  const rows = [['SOURCE', 'REGION', 'COPIED', 'PRESENT', 'FAILED', 'NEWEST', 'AGE', 'LAG', 'BYTES COPIED']];
  const failures: string[] = [];
  const divergent: string[] = [];
  for (const s of result.sources) {
    rows.push([s.source, `${s.home} (home)`, '-', '-', '-', s.homeNewest?.id ?? 'none', age(s.homeAgeSeconds), '-', '-']);
    for (const r of s.regions) {
      rows.push([s.source, r.region, String(r.copiedCount), String(r.present), String(r.failedCount),
        r.newest?.id ?? 'none', age(r.ageSeconds), `${age(r.lagSeconds)}${r.lagging ? ' LAGGING' : ''}`, bytes(r.copiedBytes)]);
      for (const f of r.failed) failures.push(`  ${s.source} → ${r.region}${f.backupId ? ` ${f.backupId}` : ''}: ${f.type}: ${f.message}`);
      if (r.failedCount > r.failed.length) failures.push(`  ${s.source} → ${r.region}: and ${r.failedCount - r.failed.length} more`);
      for (const d of r.divergent) {
        const verified = d.verified.map((v) => `${v.region} ${v.outcome}${v.detail && v.outcome !== 'passed' ? ` (${v.detail})` : ''}`).join(', ') || 'not verified in this run';
        divergent.push(`  ${s.source} → ${r.region} ${d.backupId}: ${d.reason}; verified: ${verified}`);
      }
    }
  }
  return [table(rows), ...(failures.length > 0 ? ['failed:', ...failures] : []), ...(divergent.length > 0 ? ['divergent (left as they are):', ...divergent] : [])].join('\n');
}
