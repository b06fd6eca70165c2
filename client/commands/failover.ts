import { createInterface } from 'node:readline/promises';
import { userInfo } from 'node:os';
import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError, WorkflowUpdateFailedError, type Client, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { Config } from '../../lib/config/schema';
import { LifeboatError } from '../../lib/errors';
import { parseRecoveryTime } from '../../lib/recovery-target';
import type { FailoverInput, FailoverPlan, FailoverResult, FailoverStatus } from '../../lib/failover';
import { failoverWorkflowId } from '../../lib/workflow-ids';
import type { drFailover } from '../../workflows/dr-failover';
import { abortUpdate, approveUpdate, duration, failoverStatusQuery } from '../../workflows/failover-status';
import { searchAttributes } from '../../workflows/search-attributes';
import { failureToError } from '../failure';
import { table, usage, type Output } from '../output';
import { noteProgress } from '../progress';
import { taskQueueOf, uiLink } from '../temporal';

export interface FailoverStartOptions {
  to: string;
  at?: string;
  source: string[];
  drill: boolean;
  wait: boolean;
  by?: string;
  runIn?: string;
}

const who = (by: string | undefined) => by ?? process.env.LIFEBOAT_OPERATOR ?? userInfo().username;

export async function failoverStartCommand(client: Client, config: Config, options: FailoverStartOptions, out: Output): Promise<void> {
  if (!config.regions[options.to]) throw usage(`no region "${options.to}" in the config`, `regions are: ${Object.keys(config.regions).join(', ')}`);
  const runIn = options.runIn ?? options.to;
  if (!config.regions[runIn]) throw usage(`no region "${runIn}" in the config`, `regions are: ${Object.keys(config.regions).join(', ')}`);
  const at = options.at === undefined ? undefined : parseRecoveryTime(options.at, '--at');
  for (const source of options.source) if (!config.sources[source]) throw usage(`no source "${source}" in the config`, `sources are: ${Object.keys(config.sources).join(', ')}`);
  const input: FailoverInput = {
    targetRegion: options.to, recoveryPoint: at ?? 'latest',
    sources: options.source.length > 0 ? options.source : undefined, drill: options.drill, approval: 'operator', requestedBy: who(options.by),
  };
  const workflowId = failoverWorkflowId(config.temporal.taskQueuePrefix, options.drill);
  const what = options.drill ? 'failover drill' : 'failover';
  let handle: WorkflowHandleWithFirstExecutionRunId<typeof drFailover>;
  try {
    handle = await client.workflow.start<typeof drFailover>('drFailover', {
      args: [input], workflowId, workflowIdConflictPolicy: 'FAIL',
      // The target region's worker runs it: the primary's may be gone with its region.
      taskQueue: taskQueueOf(config, runIn),
      typedSearchAttributes: searchAttributes({ source: options.source.join(',') || 'all', region: options.to, kind: options.drill ? 'failover-drill' : 'failover' }),
      memo: { summary: `${what} to ${options.to}, requested by ${input.requestedBy}` },
      staticSummary: `${options.drill ? 'Drill: failover' : 'Failover'} to ${options.to}`,
    });
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) {
      throw new LifeboatError('AlreadyRunning', `a ${what} is already running (workflow ${workflowId})`, `see it with "lifeboat failover status ${workflowId}"`);
    }
    throw error;
  }
  out.note(`started ${what} to ${options.to}: ${uiLink(config, handle.workflowId, handle.firstExecutionRunId)}`);
  out.note(`it waits for approval: "lifeboat failover status ${workflowId}", then "lifeboat failover approve ${workflowId}"`);
  if (!options.wait) {
    out.result({ workflowId: handle.workflowId, runId: handle.firstExecutionRunId }, `workflow ${handle.workflowId} run ${handle.firstExecutionRunId}`);
    return;
  }
  const result = handle.result();
  await noteProgress(result, async () => (await handle.query(failoverStatusQuery)).steps
    .filter((s) => s.state !== 'pending').map((s): [string, string] => [s.step, `${s.step}: ${s.state}${s.detail ? ` — ${s.detail}` : ''}`]), out);
  try {
    const ended = await result;
    out.result(ended, `${statusText(handle.workflowId, ended.status)}\n\n${resultText(ended)}`);
    if (ended.state === 'aborted') process.exitCode = 1;
  } catch (error) {
    throw error instanceof WorkflowFailedError ? failureToError(error) : error;
  }
}

async function statusOf(client: Client, id: string): Promise<FailoverStatus> {
  try {
    return await client.workflow.getHandle(id).query(failoverStatusQuery);
  } catch (error) {
    if ((error as Error).name === 'WorkflowNotFoundError') throw usage(`no failover workflow "${id}"`, 'the id is printed by "lifeboat failover start" (e.g. lifeboat-failover)');
    throw error;
  }
}

export async function failoverStatusCommand(client: Client, id: string, out: Output): Promise<void> {
  const status = await statusOf(client, id);
  out.result(status, statusText(id, status));
}

export async function failoverApproveCommand(client: Client, id: string, options: { by?: string; yes: boolean; comment?: string }, out: Output): Promise<void> {
  const status = await statusOf(client, id);
  if (status.state !== 'awaiting-approval' || !status.plan) throw usage(`failover ${id} is not awaiting approval (it is ${status.state})`);
  out.note(planText(status.plan));
  if (!options.yes) {
    if (!process.stdin.isTTY) throw usage('approving needs a confirmation', 'pass --yes to approve the plan shown above without a prompt');
    const prompt = createInterface({ input: process.stdin, output: process.stderr });
    const answer = await prompt.question(`Approve plan ${status.plan.planHash}${status.drill ? ' (drill)' : ''}? Type "yes": `);
    prompt.close();
    if (answer.trim() !== 'yes') throw usage('not approved');
  }
  const record = await update(() => client.workflow.getHandle(id).executeUpdate(approveUpdate, { args: [{ by: who(options.by), planHash: status.plan!.planHash, ...(options.comment ? { comment: options.comment } : {}) }] }));
  out.result(record, `approved by ${record.by} at ${record.at} (plan ${record.planHash}); follow it with "lifeboat failover status ${id}"`);
}

export async function failoverAbortCommand(client: Client, id: string, options: { by?: string; reason: string }, out: Output): Promise<void> {
  const record = await update(() => client.workflow.getHandle(id).executeUpdate(abortUpdate, { args: [{ by: who(options.by), reason: options.reason }] }));
  out.result(record, `aborted by ${record.by} at ${record.at}: ${record.reason}`);
}

/** A validator's refusal is the operator's to fix: a Usage error with the workflow's own words. */
async function update<T>(send: () => Promise<T>): Promise<T> {
  try {
    return await send();
  } catch (error) {
    if (error instanceof WorkflowUpdateFailedError) throw usage(`refused: ${error.cause?.message ?? error.message}`);
    throw error;
  }
}

export function planText(plan: FailoverPlan): string {
  const rows = [['SOURCE', 'KIND', 'BACKUP', 'RECOVERS TO', 'EXP. RPO', 'EXP. RTO', 'TARGET'], ...plan.sources.map((s) => [
    s.source, s.kind, s.backupId, s.recoveryPoint, duration(s.expectedRpoMs), s.expectedRtoMs === null ? 'unknown' : duration(s.expectedRtoMs), s.target,
  ])];
  const warnings = plan.sources.flatMap((s) => s.warnings.map((w) => `WARNING ${s.source}: ${w}`));
  return [`plan ${plan.planHash} (${plan.drill ? 'drill, ' : ''}to ${plan.targetRegion}, prepared ${plan.preparedAt})`, table(rows), ...warnings].join('\n');
}

export function statusText(id: string, status: FailoverStatus): string {
  const rows = [['STEP', 'STATE', 'STARTED', 'FINISHED', 'DETAIL'], ...status.steps.map((s) => [s.step, s.state.toUpperCase(), s.startedAt ?? '-', s.finishedAt ?? '-', s.detail])];
  const sources = status.steps.flatMap((s) => Object.entries(s.sources ?? {}).map(([source, v]) => `  ${s.step} ${source}: ${v.state} ${v.detail}`));
  return [
    `${status.drill ? 'failover drill' : 'failover'} ${id} to ${status.targetRegion}: ${status.state.toUpperCase()} (started ${status.startedAt}${status.requestedBy ? ` by ${status.requestedBy}` : ''})`,
    table(rows), ...sources,
    ...(status.plan ? ['', planText(status.plan)] : []),
    ...(status.approval ? [`approved by ${status.approval.by} at ${status.approval.at} (${status.approval.via})`] : []),
    ...(status.abort ? [`aborted by ${status.abort.by} at ${status.abort.at}: ${status.abort.reason}`] : []),
    ...(status.outcome.length ? ['', 'state left:', ...status.outcome.map((line) => `  ${line}`)] : []),
  ].join('\n');
}

function resultText(result: FailoverResult): string {
  if (!result.report) return `aborted: ${result.status.abort?.reason ?? ''}\n${result.status.outcome.join('\n')}`;
  const rows = [['SOURCE', 'BACKUP', 'RECOVERED TO', 'RPO', 'RTO', 'OBJECTIVES', 'CHECKS'], ...result.report.sources.map((s) => [
    s.source, s.backupId, s.recoveryPoint, duration(s.rpoMs), duration(s.rtoMs),
    s.rpoMet === null ? '-' : `${s.rpoMet ? 'RPO met' : 'RPO MISSED'}, ${s.rtoMet ? 'RTO met' : 'RTO MISSED'}`, `${s.checks.passed}/${s.checks.total}`,
  ])];
  return [table(rows), ...(result.report.drill ? [`torn down: ${result.report.tornDown.join('; ') || 'nothing'}`] : [`serving: ${result.report.leftUp.join('; ')}`])].join('\n');
}

