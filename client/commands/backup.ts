import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError, type Client, type WorkflowHandle, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { fromRawPayload } from '../raw-payload';
import type { SnapshotHeartbeat } from '../../activities/backup';
import type { Config } from '../../lib/config/schema';
import { LifeboatError } from '../../lib/errors';
import { backupWorkflowId } from '../../lib/workflow-ids';
import type { backupSource, BackupSummary } from '../../workflows/backup-source';
import { searchAttributes } from '../../workflows/search-attributes';
import { bytes, type Output, usage } from '../output';
import { failureToError } from '../failure';
import { taskQueueOf, uiLink } from '../temporal';
import { regionWorkersLine } from './doctor-workers';

export async function startBackup(client: Client, config: Config, source: string, options: { full?: boolean } = {}): Promise<WorkflowHandleWithFirstExecutionRunId<typeof backupSource>> {
  const sourceConfig = config.sources[source];
  if (!sourceConfig) throw usage(`no source "${source}" in the config`, `sources are: ${Object.keys(config.sources).join(', ') || '(none)'}`);
  try {
    return await client.workflow.start<typeof backupSource>('backupSource', {
      args: [{ source, ...(options.full ? { full: true } : {}) }],
      // One backup per source at a time: the id is the source's, and a second start is refused.
      workflowId: backupWorkflowId(config.temporal.taskQueuePrefix, source),
      workflowIdConflictPolicy: 'FAIL',
      taskQueue: taskQueueOf(config, sourceConfig.region),
      typedSearchAttributes: searchAttributes({ source, region: sourceConfig.region, kind: sourceConfig.kind }),
      memo: { summary: `${sourceConfig.kind} backup of ${source} in ${sourceConfig.region}` },
      staticSummary: `Backup of ${source} (${sourceConfig.kind}, ${sourceConfig.region})`,
    });
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) {
      throw new LifeboatError('AlreadyRunning', `a backup of ${source} is already running (workflow ${backupWorkflowId(config.temporal.taskQueuePrefix, source)})`,
        'wait for it to finish, or watch it in the Temporal UI');
    }
    throw error;
  }
}

export async function backupCommand(client: Client, config: Config, source: string, options: { wait: boolean; full?: boolean }, out: Output): Promise<void> {
  const handle = await startBackup(client, config, source, { full: options.full });
  const wait = options.wait;
  out.note(`started backup of ${source}: ${uiLink(config, handle.workflowId, handle.firstExecutionRunId)}`);
  if (!wait) {
    out.result({ workflowId: handle.workflowId, runId: handle.firstExecutionRunId }, `workflow ${handle.workflowId} run ${handle.firstExecutionRunId}`);
    return;
  }
  // A backup nobody polls for waits forever without a word: say so once, and keep waiting (a worker may be starting).
  const region = config.sources[source]!.region;
  const idle = await regionWorkersLine(client, config, region).catch(() => undefined);
  if (typeof idle === 'object') out.note(`waiting: ${idle.warn}`);
  const summary = await waitWithProgress(handle, out);
  out.result(summary, [
    `backup ${summary.backupId} of ${summary.source} (${summary.kind}) stored in ${summary.region}`,
    `  object  ${summary.key}`,
    `  size    ${bytes(summary.bytes)} (${summary.bytes} bytes)`,
    `  sha256  ${summary.sha256}`,
    `  holds   ${summary.contents}${summary.parent ? `, on top of ${summary.parent}` : ''}`,
    ...(summary.warnings > 0 ? [`  ${summary.warnings} warning(s): files changed while being read; see the manifest`] : []),
    `  took    ${(summary.durationMs / 1000).toFixed(1)} s`,
  ].join('\n'));
}

async function waitWithProgress(handle: WorkflowHandle<typeof backupSource>, out: Output): Promise<BackupSummary> {
  const started = Date.now();
  let done = false;
  const result = handle.result().finally(() => { done = true; });
  const tty = process.stderr.isTTY && !out.json;
  let last = '';
  while (!done) {
    await Promise.race([result.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 1000))]);
    if (done) break;
    const progress = await currentProgress(handle).catch(() => undefined);
    if (!progress) continue;
    const seconds = (Date.now() - started) / 1000;
    const line = `${bytes(progress.bytes)} uploaded, part ${progress.part}, ${bytes(progress.bytes / Math.max(seconds, 0.001))}/s, ${seconds.toFixed(0)} s`;
    if (line === last) continue;
    last = line;
    if (tty) process.stderr.write(`\r\x1b[K${line}`);
    else out.note(line);
  }
  if (tty && last) process.stderr.write('\n');
  try {
    return await result;
  } catch (error) {
    throw error instanceof WorkflowFailedError ? failureToError(error) : error;
  }
}

/**
 * The snapshot's latest upload progress, read from the workflow's pending activities. Other steps
 * heartbeat too (manifest, cleanup), and the snapshot's own first beats name a phase before any
 * byte moved: only a beat that counts bytes is progress to show.
 */
async function currentProgress(handle: WorkflowHandle): Promise<SnapshotHeartbeat | undefined> {
  const description = await handle.describe();
  for (const activity of description.raw.pendingActivities ?? []) {
    if (activity.activityType?.name !== 'snapshotToStorage') continue;
    const payload = activity.heartbeatDetails?.payloads?.[0];
    const beat = payload ? await fromRawPayload<Partial<SnapshotHeartbeat>>(handle.client, payload) : undefined;
    if (typeof beat?.bytes === 'number' && typeof beat.part === 'number') return beat as SnapshotHeartbeat;
  }
  return undefined;
}
