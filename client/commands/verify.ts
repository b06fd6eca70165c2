import { ApplicationFailure, WorkflowExecutionAlreadyStartedError, WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { Config } from '../../lib/config/schema';
import { exitCodeFor, LifeboatError } from '../../lib/errors';
import type { VerifyLevel } from '../../lib/verify';
import { verifyWorkflowId } from '../../lib/workflow-ids';
import { searchAttributes } from '../../workflows/search-attributes';
import { verifyProgressQuery, type VerifyProgress, type verifyRestore, type VerifyResult } from '../../workflows/verify-restore';
import { failureToError } from '../failure';
import { table, type Output, usage } from '../output';
import { noteProgress } from '../progress';
import { taskQueueOf, uiLink } from '../temporal';

export interface VerifyOptions {
  region?: string;
  level: VerifyLevel;
  backup?: string;
  wait: boolean;
}

export async function verifyCommand(client: Client, config: Config, source: string, options: VerifyOptions, out: Output): Promise<void> {
  const sourceConfig = config.sources[source];
  if (!sourceConfig) throw usage(`no source "${source}" in the config`, `sources are: ${Object.keys(config.sources).join(', ') || '(none)'}`);
  if (options.region !== undefined && !config.regions[options.region]) throw usage(`no region "${options.region}" in the config`, `regions are: ${Object.keys(config.regions).join(', ')}`);
  const workflowId = verifyWorkflowId(config.temporal.taskQueuePrefix, source);
  let handle;
  try {
    handle = await client.workflow.start<typeof verifyRestore>('verifyRestore', {
      args: [{ source, region: options.region, level: options.level, backupId: options.backup }],
      workflowId,
      workflowIdConflictPolicy: 'FAIL',
      // The source's region plans; each region's own worker verifies its copy.
      taskQueue: taskQueueOf(config, sourceConfig.region),
      typedSearchAttributes: searchAttributes({ source, region: options.region ?? sourceConfig.region, kind: sourceConfig.kind }),
      memo: { summary: `${options.level} verification of ${source} in ${options.region ?? 'every region'}` },
      staticSummary: `Verify ${source} (${options.level})`,
    });
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) {
      throw new LifeboatError('AlreadyRunning', `a verification of ${source} is already running (workflow ${workflowId})`, 'wait for it to finish, or watch it in the Temporal UI');
    }
    throw error;
  }
  out.note(`started ${options.level} verification of ${source}: ${uiLink(config, handle.workflowId, handle.firstExecutionRunId)}`);
  if (!options.wait) {
    out.result({ workflowId: handle.workflowId, runId: handle.firstExecutionRunId }, `workflow ${handle.workflowId} run ${handle.firstExecutionRunId}`);
    return;
  }
  const result = await waitWithProgress(handle, out);
  out.result(result, verifyText(result));
  if (result.outcome === 'failed') process.exitCode = exitCodeFor('VerificationFailed');
}

/** Notes each region's step on stderr as it changes; a failed verification still yields its result. */
async function waitWithProgress(handle: WorkflowHandle<typeof verifyRestore>, out: Output): Promise<VerifyResult> {
  const result = handle.result();
  await noteProgress(result, async () => Object.entries(await handle.query(verifyProgressQuery) as VerifyProgress)
    .map(([region, { step, backupId }]): [string, string] => [region, `${region}: ${step}${backupId ? ` (backup ${backupId})` : ''}`]), out);
  try {
    return await result;
  } catch (error) {
    // The workflow fails so the UI and schedules show it; the per-region result travels in its details.
    if (error instanceof WorkflowFailedError && error.cause instanceof ApplicationFailure && error.cause.type === 'VerificationFailed') {
      const carried = error.cause.details?.[1] as VerifyResult | undefined;
      if (carried?.regions) return carried;
    }
    throw error instanceof WorkflowFailedError ? failureToError(error) : error;
  }
}

export function verifyText(result: VerifyResult): string {
  const rows = [['REGION', 'BACKUP', 'LEVEL', 'OUTCOME', 'RESTORE', 'CHECKS'], ...result.regions.map((r) => [
    r.region,
    r.backupId ?? '-',
    r.level,
    r.outcome.toUpperCase(),
    r.restoreMs === null ? '-' : `${(r.restoreMs / 1000).toFixed(1)} s`,
    `${r.checks.filter((c) => c.ok).length}/${r.checks.length} ok`,
  ])];
  const failed = result.regions.flatMap((r) => r.checks.filter((c) => !c.ok).map((c) => `FAILED ${r.region} ${c.name}: ${c.detail}`));
  return [table(rows), ...(failed.length > 0 ? ['', ...failed] : [])].join('\n');
}
