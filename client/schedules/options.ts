import type { ScheduleDescription, ScheduleOptions, ScheduleSummary, ScheduleUpdateOptions } from '@temporalio/client';
import type { Config } from '../../lib/config/schema';
import type { DesiredSchedule } from '../../lib/schedules/desired';
import { searchAttributes } from '../../workflows/search-attributes';

// How a desired schedule is written to Temporal, and how Lifeboat reads its own marks back.
//
// A schedule's own memo cannot be changed after it is created, so it holds only what never
// changes for an id: the ownership mark. What `apply` compares (the spec hash, and the cron,
// which the server keeps only in compiled form) lives in the action's memo, which every update
// rewrites; each started workflow carries it too, which tells an operator which spec started it.

/** Schedule memo: `lifeboat.taskQueuePrefix` marks the schedules one Lifeboat config owns. */
export interface OwnerMemo {
  lifeboat: { taskQueuePrefix: string };
  summary: string;
}

/** Action memo, copied into every workflow the schedule starts. */
export interface ActionMemo {
  summary: string;
  lifeboatSchedule: {
    id: string;
    hash: string;
    cron: string;
    timezone: string;
    /** Fingerprint of the calendars the server compiled the cron into, recorded after each write. */
    compiled?: string;
  };
}

export function isOwned(config: Config, schedule: Pick<ScheduleSummary, 'scheduleId' | 'memo'>): boolean {
  const prefix = config.temporal.taskQueuePrefix;
  const mark = (schedule.memo as Partial<OwnerMemo> | undefined)?.lifeboat;
  // Both: the id prefix is how an operator tells them apart, the mark keeps a config with prefix
  // "lifeboat-" from claiming the schedules of one with "lifeboat-eu-".
  return schedule.scheduleId.startsWith(prefix) && mark?.taskQueuePrefix === prefix;
}

export function actionMemoOf(description: Pick<ScheduleDescription, 'action'>): Partial<ActionMemo> {
  return (description.action.memo ?? {}) as Partial<ActionMemo>;
}

export function createOptions(config: Config, desired: DesiredSchedule): ScheduleOptions {
  const memo: OwnerMemo = { lifeboat: { taskQueuePrefix: config.temporal.taskQueuePrefix }, summary: desired.summary };
  return { scheduleId: desired.id, ...updateOptions(desired), memo: { ...memo } };
}

/** Everything but the state, which belongs to operators (pause, note). */
export function updateOptions(desired: DesiredSchedule, compiled?: string): Omit<ScheduleUpdateOptions, 'state'> {
  const pairs = desired.searchAttributes ? searchAttributes(desired.searchAttributes) : [];
  const memo: ActionMemo = {
    summary: desired.summary,
    lifeboatSchedule: { id: desired.id, hash: desired.hash, cron: desired.cron, timezone: desired.timezone, ...(compiled === undefined ? {} : { compiled }) },
  };
  return {
    spec: {
      cronExpressions: [desired.cron],
      timezone: desired.timezone,
      ...(desired.jitterMs === undefined ? {} : { jitter: desired.jitterMs }),
    },
    action: {
      type: 'startWorkflow',
      workflowType: desired.workflowType,
      args: desired.args,
      taskQueue: desired.taskQueue,
      workflowId: desired.workflowId,
      typedSearchAttributes: pairs,
      memo: { ...memo },
      staticSummary: desired.summary,
    },
    policies: { overlap: desired.overlap, catchupWindow: desired.catchupWindowMs },
    typedSearchAttributes: pairs,
  };
}
