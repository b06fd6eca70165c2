import { createHash } from 'node:crypto';
import { ScheduleAlreadyRunning, ScheduleNotFoundError, type Client, type ScheduleDescription } from '@temporalio/client';
import type { Config } from '../../lib/config/schema';
import { LifeboatError } from '../../lib/errors';
import { canonicalJson, desiredSchedules, type DesiredSchedule } from '../../lib/schedules/desired';
import { startShippers, type ShipperStart } from '../commands/wal';
import { actionMemoOf, createOptions, isOwned, updateOptions } from './options';

export type ScheduleChangeKind = 'created' | 'updated' | 'deleted' | 'unchanged' | 'failed';

export interface ScheduleChange {
  id: string;
  change: ScheduleChangeKind;
  workflowType: string | undefined;
  cron: string | undefined;
  timezone: string | undefined;
  /** Why an update is needed: "cron 0 2 * * * → 0 3 * * *". */
  reasons: string[];
  /** For `failed`: what the server refused, naming the config key. */
  error?: string;
}

export interface ApplyReport {
  dryRun: boolean;
  changes: ScheduleChange[];
  /** WAL shippers are no schedules, but run for good like one: apply starts those that do not run. */
  walShippers: ShipperStart[];
}

/**
 * Makes Temporal's schedules match the config: creates, updates, and deletes the schedules this
 * config owns (options.ts, isOwned) and touches no other. Running it twice changes nothing the
 * second time. With dryRun, reads only. A spec the server refuses (a malformed cron) fails that
 * schedule alone; the rest still apply, then the whole run ends in a Config error naming it.
 */
export async function applySchedules(client: Client, config: Config, dryRun: boolean): Promise<ApplyReport> {
  const desired = desiredSchedules(config);
  const changes: ScheduleChange[] = [];
  for (const schedule of desired) {
    changes.push(await reconcileOne(client, config, schedule, dryRun));
  }
  const wanted = new Set(desired.map((s) => s.id));
  for (const id of await ownedScheduleIds(client, config)) {
    if (wanted.has(id)) continue;
    const change = await removeOne(client, id, dryRun);
    if (change) changes.push(change);
  }
  return { dryRun, changes, walShippers: await startShippers(client, config, undefined, dryRun) };
}

/** The ids of this config's schedules on the server, from visibility (which may lag a second behind). */
export async function ownedScheduleIds(client: Client, config: Config): Promise<string[]> {
  const ids: string[] = [];
  for await (const summary of client.schedule.list()) {
    if (isOwned(config, summary)) ids.push(summary.scheduleId);
  }
  return ids.sort();
}

async function reconcileOne(client: Client, config: Config, desired: DesiredSchedule, dryRun: boolean): Promise<ScheduleChange> {
  const base = { id: desired.id, workflowType: desired.workflowType, cron: desired.cron, timezone: desired.timezone };
  // Describe by id rather than trusting the list: visibility may not show a schedule created a moment ago.
  const current = await describeOrUndefined(client, desired.id);
  try {
    if (!current) {
      if (!dryRun) {
        await client.schedule.create(createOptions(config, desired));
        await recordCompiled(client, desired);
      }
      return { ...base, change: 'created', reasons: [] };
    }
    if (!isOwned(config, { scheduleId: desired.id, memo: current.memo })) {
      throw new LifeboatError('Config', `schedule ${desired.id} exists but was not created by this Lifeboat config (its memo has no lifeboat.taskQueuePrefix "${config.temporal.taskQueuePrefix}")`,
        `delete or rename that schedule, or change temporal.taskQueuePrefix`);
    }
    const reasons = differences(desired, current);
    if (reasons.length === 0) return { ...base, change: 'unchanged', reasons };
    if (!dryRun) {
      await writeSpec(client, desired);
      await recordCompiled(client, desired);
    }
    return { ...base, change: 'updated', reasons };
  } catch (error) {
    // The SDK turns the server's "Invalid schedule spec: …" into a TypeError holding the reason.
    if (error instanceof TypeError) {
      return { ...base, change: 'failed', reasons: [], error: `${desired.configKey}.cron: "${desired.cron}" was refused by Temporal: ${error.message}` };
    }
    if (error instanceof ScheduleAlreadyRunning) {
      throw new LifeboatError('AlreadyRunning', `schedule ${desired.id} appeared while applying: is another "lifeboat schedules apply" running?`, 'run "lifeboat schedules apply" again');
    }
    throw error;
  }
}

/** Spec, action and policies from the config; the state is left alone, so an operator's pause (and its note) survives. */
async function writeSpec(client: Client, desired: DesiredSchedule, compiled?: string): Promise<void> {
  await client.schedule.getHandle(desired.id).update((previous) => ({
    ...updateOptions(desired, compiled),
    state: { paused: previous.state.paused, note: previous.state.note, remainingActions: previous.state.remainingActions },
  }));
}

/**
 * The server keeps a cron only compiled into calendars. Recording what it compiled ours into
 * lets the next apply notice a cron edited behind Lifeboat's back (in the UI) and put it back.
 * A second write, but an idempotent one: were it lost, the next apply would simply write again.
 */
async function recordCompiled(client: Client, desired: DesiredSchedule): Promise<void> {
  const written = await client.schedule.getHandle(desired.id).describe();
  await writeSpec(client, desired, compiledFingerprint(written));
}

function compiledFingerprint(description: ScheduleDescription): string {
  const { calendars, intervals, skip, startAt, endAt } = description.spec;
  return createHash('sha256').update(canonicalJson({ calendars, intervals, skip, startAt, endAt })).digest('hex').slice(0, 16);
}

async function removeOne(client: Client, id: string, dryRun: boolean): Promise<ScheduleChange | undefined> {
  const current = await describeOrUndefined(client, id);
  if (!current) return undefined; // already gone; the list was behind
  const memo = actionMemoOf(current).lifeboatSchedule;
  if (!dryRun) {
    await client.schedule.getHandle(id).delete().catch((error: unknown) => {
      if (!(error instanceof ScheduleNotFoundError)) throw error;
    });
  }
  return { id, change: 'deleted', workflowType: current.action.workflowType, cron: memo?.cron, timezone: memo?.timezone ?? current.spec.timezone, reasons: ['no longer in the config'] };
}

export async function describeOrUndefined(client: Client, id: string): Promise<ScheduleDescription | undefined> {
  try {
    return await client.schedule.getHandle(id).describe();
  } catch (error) {
    if (error instanceof ScheduleNotFoundError) return undefined;
    throw error;
  }
}

/**
 * What differs between the config and the server. The hash catches any change to the config; the
 * fields the server reports back as written catch edits made behind Lifeboat's back (in the UI).
 * The cron comes back only compiled into calendars: recordCompiled() keeps a fingerprint of those.
 */
function differences(desired: DesiredSchedule, current: ScheduleDescription): string[] {
  const applied = actionMemoOf(current).lifeboatSchedule;
  const reasons: string[] = [];
  const compare = (what: string, was: unknown, now: unknown) => {
    if (JSON.stringify(was) !== JSON.stringify(now)) reasons.push(`${what} ${show(was)} → ${show(now)}`);
  };
  compare('cron', applied?.cron, desired.cron);
  compare('timezone', current.spec.timezone || 'UTC', desired.timezone);
  compare('jitter', current.spec.jitter ?? 0, desired.jitterMs ?? 0);
  compare('overlap', current.policies.overlap, desired.overlap);
  compare('catchupWindow', current.policies.catchupWindow, desired.catchupWindowMs);
  compare('workflowType', current.action.workflowType, desired.workflowType);
  compare('taskQueue', current.action.taskQueue, desired.taskQueue);
  compare('workflowId', current.action.workflowId, desired.workflowId);
  compare('input', current.action.args, desired.args);
  if (applied?.compiled !== undefined && applied.compiled !== compiledFingerprint(current)) reasons.push('calendar changed outside Lifeboat');
  if (reasons.length === 0 && applied?.hash !== desired.hash) reasons.push('summary or search attributes changed');
  return reasons;
}

function show(value: unknown): string {
  return value === undefined ? '(none)' : typeof value === 'string' ? value : JSON.stringify(value);
}

/** The schedules the server refused, as one Config error; undefined when there are none. */
export function refusedSchedules(report: ApplyReport): LifeboatError | undefined {
  const failed = report.changes.filter((c) => c.change === 'failed');
  if (failed.length === 0) return undefined;
  return new LifeboatError('Config', failed.map((c) => `${c.error} (schedule ${c.id})`).join('\n'),
    'write the cron as "minute hour day-of-month month day-of-week", e.g. "0 */6 * * *", then run "lifeboat schedules apply" again');
}
