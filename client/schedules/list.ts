import { WorkflowNotFoundError, type Client, type ScheduleDescription } from '@temporalio/client';
import type { Config } from '../../lib/config/schema';
import { desiredSchedules } from '../../lib/schedules/desired';
import { localTime } from '../../lib/schedules/local-time';
import { actionMemoOf } from './options';
import { describeOrUndefined, ownedScheduleIds } from './reconcile';

export interface ScheduleRun {
  /** UTC, ISO 8601. */
  at: string;
  /** The same instant in the schedule's time zone: "2026-11-24T18:00:00+01:00". */
  local: string;
}

export interface ScheduleListing {
  id: string;
  workflowType: string;
  summary: string | undefined;
  cron: string | undefined;
  timezone: string;
  paused: boolean;
  note: string | null;
  /** False for a schedule of ours that the config no longer has (`schedules apply` deletes it). */
  inConfig: boolean;
  nextRuns: ScheduleRun[];
  /** The newest run the schedule started and how it stands now; null before the first run. */
  lastResult: { workflowId: string; runId: string; scheduledAt: string; status: string } | null;
}

export async function listSchedules(client: Client, config: Config, nextCount = 3): Promise<ScheduleListing[]> {
  const desired = new Set(desiredSchedules(config).map((s) => s.id));
  // The config's ids too: visibility may not list a schedule created a moment ago.
  const ids = [...new Set([...(await ownedScheduleIds(client, config)), ...desired])].sort();
  const listings: ScheduleListing[] = [];
  for (const id of ids) {
    const description = await describeOrUndefined(client, id);
    if (description) listings.push(await listing(client, description, desired.has(id), nextCount));
  }
  return listings;
}

async function listing(client: Client, description: ScheduleDescription, inConfig: boolean, nextCount: number): Promise<ScheduleListing> {
  const memo = actionMemoOf(description);
  const timezone = description.spec.timezone || 'UTC';
  return {
    id: description.scheduleId,
    workflowType: description.action.workflowType,
    summary: memo.summary,
    cron: memo.lifeboatSchedule?.cron,
    timezone,
    paused: description.state.paused,
    note: description.state.note || null,
    inConfig,
    nextRuns: description.info.nextActionTimes.slice(0, nextCount).map((at) => ({ at: at.toISOString(), local: localTime(at, timezone) })),
    lastResult: await lastResult(client, description),
  };
}

async function lastResult(client: Client, description: ScheduleDescription): Promise<ScheduleListing['lastResult']> {
  const newest = [...description.info.recentActions].sort((a, b) => a.takenAt.getTime() - b.takenAt.getTime()).at(-1);
  if (!newest) return null;
  const { workflowId, firstExecutionRunId: runId } = newest.action.workflow;
  let status: string;
  try {
    status = (await client.workflow.getHandle(workflowId, runId).describe()).status.name;
  } catch (error) {
    // Past the namespace's retention period the run is gone; the schedule still remembers it.
    if (!(error instanceof WorkflowNotFoundError)) throw error;
    status = 'UNKNOWN (no longer in history)';
  }
  return { workflowId, runId, scheduledAt: newest.scheduledAt.toISOString(), status };
}
