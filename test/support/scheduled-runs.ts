import type { Client, ScheduleDescription } from '@temporalio/client';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import type { ScheduledBackupResult } from '../../workflows/scheduled-backup';

/** One action a schedule took, as Temporal recorded it, and how the run it started went. */
export interface ScheduledRun {
  scheduleId: string;
  scheduledAt: number;
  /** When the schedule took the action (started the workflow). */
  takenAt: number;
  workflowId: string;
  runId: string;
  /** WorkflowExecutionStatus name: COMPLETED, FAILED, RUNNING, ... */
  status: string;
  /** The first workflow task a worker started: when the run began executing. */
  pickedUpAt: number | undefined;
  closedAt: number | undefined;
  /** scheduledBackup's outcome: 'skipped' when a backup of the source was already running. */
  outcome: ScheduledBackupResult['outcome'] | undefined;
  bytes: number;
  /** The snapshot activity of the backup it ran (its last attempt), which waits for a heavy slot. */
  snapshot: { startedAt: number; closedAt: number } | undefined;
  /** Every message down the failure's cause chain, for a run that did not complete. */
  failure: string | undefined;
}

type Event = NonNullable<Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>>['events']>[number];

/** The messages down an error's cause chain, "outer: inner: innermost", without repeats. */
export function causeChain(error: unknown): string {
  const messages: string[] = [];
  for (let at: unknown = error; at instanceof Error; at = at.cause) {
    if (at.message && !messages.includes(at.message)) messages.push(at.message);
  }
  return messages.join(': ') || String(error);
}

async function history(client: Client, workflowId: string, runId: string): Promise<Event[]> {
  return (await client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
}

/** When the activity of `type` last started and closed in a history. */
function activityTimes(events: Event[], type: string): { startedAt: number; closedAt: number } | undefined {
  const scheduled = new Set<string>();
  let startedAt: number | undefined;
  let closedAt: number | undefined;
  for (const event of events) {
    const id = String(event.eventId);
    if (event.activityTaskScheduledEventAttributes?.activityType?.name === type) scheduled.add(id);
    const started = event.activityTaskStartedEventAttributes;
    if (started && scheduled.has(String(started.scheduledEventId))) startedAt = optionalTsToMs(event.eventTime);
    const closed = event.activityTaskCompletedEventAttributes ?? event.activityTaskFailedEventAttributes ?? event.activityTaskTimedOutEventAttributes;
    if (closed && scheduled.has(String(closed.scheduledEventId))) closedAt = optionalTsToMs(event.eventTime);
  }
  return startedAt !== undefined && closedAt !== undefined ? { startedAt, closedAt } : undefined;
}

/** Reads back one action of a schedule: its run's status, result or failure, and timings from the histories. */
export async function scheduledRun(client: Client, scheduleId: string, action: ScheduleDescription['info']['recentActions'][number]): Promise<ScheduledRun> {
  const { workflowId, firstExecutionRunId: runId } = action.action.workflow;
  const handle = client.workflow.getHandle(workflowId, runId);
  const description = await handle.describe();
  const run: ScheduledRun = {
    scheduleId, scheduledAt: action.scheduledAt.getTime(), takenAt: action.takenAt.getTime(), workflowId, runId,
    status: description.status.name, pickedUpAt: undefined, closedAt: description.closeTime?.getTime(),
    outcome: undefined, bytes: 0, snapshot: undefined, failure: undefined,
  };
  if (run.status === 'COMPLETED') {
    const result = (await handle.result()) as ScheduledBackupResult;
    run.outcome = result.outcome;
    if (result.outcome === 'done') run.bytes = result.summary.bytes;
  } else if (run.status !== 'RUNNING') {
    run.failure = await handle.result().then(() => `ended ${run.status}`, causeChain);
  }
  const events = await history(client, workflowId, runId);
  run.pickedUpAt = optionalTsToMs(events.find((event) => event.workflowTaskStartedEventAttributes)?.eventTime);
  const child = events.find((event) => event.childWorkflowExecutionStartedEventAttributes)?.childWorkflowExecutionStartedEventAttributes?.workflowExecution;
  if (child?.workflowId && child.runId) run.snapshot = activityTimes(await history(client, child.workflowId, child.runId), 'snapshotToStorage');
  return run;
}

/** The scheduled times of a cron of every `intervalMs` (aligned to the epoch, as "*\/5 * * * *" in UTC is) in (from, to]. */
export function ticksBetween(intervalMs: number, from: number, to: number): number[] {
  const ticks: number[] = [];
  for (let at = Math.floor(from / intervalMs) * intervalMs + intervalMs; at <= to; at += intervalMs) ticks.push(at);
  return ticks;
}

/** Median and maximum of some numbers; zeros for none. */
export function spread(values: number[]): { median: number; max: number } {
  if (values.length === 0) return { median: 0, max: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return { median: sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2, max: sorted.at(-1)! };
}

/** The length of the union of some intervals: how long at least one of them was running. */
export function unionLength(intervals: Array<{ startedAt: number; closedAt: number }>): number {
  let total = 0;
  let end = -Infinity;
  for (const { startedAt, closedAt } of [...intervals].sort((a, b) => a.startedAt - b.startedAt)) {
    if (closedAt <= end) continue;
    total += closedAt - Math.max(startedAt, end);
    end = closedAt;
  }
  return total;
}
