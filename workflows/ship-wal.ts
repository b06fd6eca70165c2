import { TimeoutType } from '@temporalio/common';
import { ActivityFailure, continueAsNew, defineQuery, isCancellation, patched, proxyActivities, setHandler, sleep, TimeoutFailure, workflowInfo, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { WalPlan } from '../activities/wal';
import type { WalRegionState } from '../activities/wal/region-state';
import type { ShipResult } from '../activities/wal/ship';
import { alertTime, raiseAlert } from './alert';
import { surface } from './failures';
import { shortCall } from './timeouts';

/** What one run hands the next, so a failure streak or a gap already reported is not reported again. */
export interface WalAlertState {
  /** A wal-ship-failed alert went out and shipping has not fully succeeded since. */
  failing: boolean;
  /** "<region>/<first missing segment>" of every gap already reported that is still there. */
  gaps: string[];
  /** Rounds of every run so far. */
  rounds: number;
}

export interface ShipWalInput {
  source: string;
  carried?: WalAlertState;
  /** The previous run's last round, so walStatus has an answer from the first moment of a new run. */
  last?: WalStatus | null;
}

export type WalRegionFacts = WalRegionState | { region: string; error: string };

export interface WalStatus {
  source: string;
  at: string;
  /** Rounds of every run so far, this one included. */
  rounds: number;
  ship: ShipResult | null;
  /** The round failed as a whole (spool missing, the region's worker down): nothing was shipped. */
  shipError: { type: string; message: string; hint: string | null } | null;
  regions: WalRegionFacts[];
  alerts: WalAlertState;
}

export const walStatusQuery = defineQuery<WalStatus | null>('walStatus');

const local = proxyActivities<Activities>(shortCall);

function regionCall(taskQueue: string, heartbeatTimeoutMs: number): ActivityOptions {
  // A region whose worker is down is reported this round, not waited for: the next round asks again.
  // walRegionStatus heartbeats from its first line, so a worker that dies under it is noticed at the heartbeat timeout, not the minute.
  return { ...shortCall, taskQueue, heartbeatTimeout: heartbeatTimeoutMs, scheduleToStartTimeout: '1 minute', retry: { ...shortCall.retry, maximumAttempts: 3 } };
}

/**
 * Ships a source's spooled WAL to every region for good: rounds of ship, continuity check and a
 * sleep of wal.interval, continuing as new after wal.roundsPerRun rounds to keep the history short.
 */
export async function shipWal({ source, carried, last }: ShipWalInput): Promise<never> {
  const state: WalAlertState = carried ?? { failing: false, gaps: [], rounds: 0 };
  let status: WalStatus | null = last ?? null;
  setHandler(walStatusQuery, () => status);
  const plan = await planOrWait(source, state, (failed) => { status = failed; });
  // Only the worker on the spool's machine polls its queue (item 6); runs from before it keep the region queue.
  const onSpoolQueue = Boolean(plan.spoolTaskQueue) && patched('wal-spool-queue');
  const shipper = proxyActivities<Activities>({
    taskQueue: onSpoolQueue ? plan.spoolTaskQueue : plan.taskQueue,
    startToCloseTimeout: '1 hour',
    heartbeatTimeout: plan.heartbeatTimeoutMs,
    // The spool's machine is down: report it (the files wait there) rather than stall the shipper.
    scheduleToStartTimeout: onSpoolQueue ? plan.workerTimeoutMs : '5 minutes',
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 3 },
  });
  const regional = new Map(plan.regions.map((region) => [region, proxyActivities<Activities>(regionCall(`${plan.taskQueuePrefix}${region}`, plan.heartbeatTimeoutMs))]));

  for (let round = 0; round < plan.roundsPerRun; round += 1) {
    const at = alertTime();
    let ship: ShipResult | null = null;
    let shipError: WalStatus['shipError'] = null;
    try {
      ship = await shipper.shipWalFiles({ source });
    } catch (error) {
      if (isCancellation(error)) throw error;
      shipError = onSpoolQueue && notTaken(error) ? await spoolWorkerMissing(source, plan, regional.get(plan.region)!) : shipFailure(error, plan.region);
    }
    await alertShipping(source, plan.region, ship, shipError, state, at);
    const regions = await Promise.all(plan.regions.map(async (region): Promise<WalRegionFacts> => {
      try {
        return await regional.get(region)!.walRegionStatus({ source, region });
      } catch (error) {
        if (isCancellation(error)) throw error;
        return { region, error: (surface(error) as Error).message };
      }
    }));
    await alertGaps(source, regions, plan.gapGraceMs, state, at);
    state.rounds += 1;
    status = { source, at, rounds: state.rounds, ship, shipError, regions, alerts: { ...state, gaps: [...state.gaps] } };
    await sleep(plan.intervalMs);
    // Temporal suggests a new run before the history grows too long, whatever wal.roundsPerRun says
    // (up to 10,000 rounds of a dozen events each would pass its 51,200-event limit). Runs from
    // before this check replay without it.
    if (workflowInfo().continueAsNewSuggested && patched('ship-wal-suggested')) break;
  }
  return continueAsNew<typeof shipWal>({ source, carried: state, last: status });
}

/** The wait after a failed plan: 5 s, doubling, at most 5 minutes; a run continues as new after this many failures. */
const planRetry = { firstMs: 5_000, maxMs: 300_000, perRun: 50 };

/**
 * A shipper that cannot plan (a worker whose config lacks the source or its wal block, a bad
 * duration) must not stop for good: archive_command keeps filling the spool meanwhile. It alerts
 * once per failure streak, shows the failure in walStatus, and tries again with backoff.
 */
async function planOrWait(source: string, state: WalAlertState, report: (status: WalStatus) => void): Promise<WalPlan> {
  let latest: WalStatus | null = null;
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await local.planWal({ source });
    } catch (error) {
      // Runs from before the retry replay their failure as it was.
      if (isCancellation(error) || !patched('plan-wal-retry')) throw error;
      const at = alertTime();
      const shipError = failureOf(error);
      latest = { source, at, rounds: state.rounds, ship: null, shipError, regions: [], alerts: { ...state, gaps: [...state.gaps] } };
      report(latest);
      if (!state.failing) {
        state.failing = true;
        await raiseAlert({
          kind: 'wal-ship-failed', severity: 'critical', source, at,
          title: `${source}: WAL shipping stopped, the shipper cannot plan (${shipError.type})`,
          text: [
            `${shipError.type}: ${shipError.message}`,
            `${shipError.hint ? `Hint: ${shipError.hint}\n` : ''}Nothing leaves the spool until the worker can plan; archive_command keeps filling it. The shipper (workflow ${workflowInfo().workflowId}) tries again with backoff (up to every ${planRetry.maxMs / 60_000} minutes) and sends no more alerts until shipping succeeds again.`,
          ].join('\n'),
          details: { type: shipError.type, attempt },
        });
      }
      if (attempt + 1 >= planRetry.perRun) return continueAsNew<typeof shipWal>({ source, carried: state, last: latest });
      await sleep(Math.min(planRetry.maxMs, planRetry.firstMs * 2 ** attempt));
    }
  }
}

function failureOf(error: unknown): NonNullable<WalStatus['shipError']> {
  const failure = surface(error) as { type?: string; name?: string; message: string; details?: unknown[] };
  const hint = failure.details?.[0];
  return { type: failure.type ?? (failure.name === 'TimeoutFailure' ? 'Timeout' : 'Error'), message: failure.message, hint: typeof hint === 'string' ? hint : null };
}

function notTaken(error: unknown): boolean {
  return error instanceof ActivityFailure && error.cause instanceof TimeoutFailure && error.cause.timeoutType === TimeoutType.SCHEDULE_TO_START;
}

/** No worker polls the spool's queue: whichever worker of the region answers says what it finds at the spool's path. */
async function spoolWorkerMissing(source: string, plan: WalPlan, region: ReturnType<typeof proxyActivities<Activities>>): Promise<NonNullable<WalStatus['shipError']>> {
  const waited = `${Math.round(plan.workerTimeoutMs / 1000)} s`;
  try {
    const found = await region.spoolProblem({ source });
    return { type: 'WorkerUnavailable', message: `no worker on the machine with the WAL spool of ${source} took the round within ${waited}: ${found.problem}`, hint: found.hint };
  } catch (error) {
    if (isCancellation(error)) throw error;
    return shipFailure(error, plan.region);
  }
}

function shipFailure(error: unknown, region: string): NonNullable<WalStatus['shipError']> {
  if (notTaken(error)) {
    return {
      type: 'WorkerUnavailable', message: `no worker on the spool's machine (region ${region}) took the round within 5 minutes`,
      hint: `start "lifeboat worker --region ${region}" on the machine that holds wal.spool; a worker polls a spool only if the directory exists when it starts. The files wait there meanwhile`,
    };
  }
  return failureOf(error);
}

/** One wal-ship-failed alert per failure streak: the first failing round alerts, the next full success ends the streak. */
async function alertShipping(source: string, home: string, ship: ShipResult | null, shipError: WalStatus['shipError'], state: WalAlertState, at: string): Promise<void> {
  const failures = shipError ? [{ region: home, type: shipError.type, message: shipError.message }] : ship!.failures;
  if (failures.length === 0) {
    state.failing = false;
    return;
  }
  if (state.failing) return;
  state.failing = true;
  const regions = [...new Set(failures.map((f) => f.region))];
  const waiting = ship ? ship.counts?.waiting ?? ship.waiting.length : null;
  await raiseAlert({
    kind: 'wal-ship-failed', severity: 'critical', source, region: regions.join(','), at,
    title: shipError ? `${source}: WAL shipping failed (${shipError.type})` : `${source}: WAL not shipped to ${regions.join(', ')}`,
    text: [
      ...failures.map((f) => `${f.region}: ${f.type}: ${f.message}`),
      shipError
        ? `${shipError.hint ? `Hint: ${shipError.hint}\n` : ''}Nothing left the spool this round; archive_command keeps filling it. The shipper (workflow ${workflowInfo().workflowId}) retries every round and sends no more alerts until shipping succeeds again.`
        : `${waiting} WAL file(s) stay in the spool until every region has them; the other regions still get theirs. The shipper retries every round and sends no more alerts until shipping succeeds again.`,
    ].join('\n'),
    details: { regions: regions.join(','), waiting, type: failures[0]!.type },
  });
}

/** One wal-gap alert per gap that is older than wal.gapGrace; a gap that heals is forgotten, so its return alerts again. */
async function alertGaps(source: string, regions: WalRegionFacts[], graceMs: number, state: WalAlertState, at: string): Promise<void> {
  const now = Date.parse(at);
  const current: string[] = [];
  for (const facts of regions) {
    if ('error' in facts) {
      // Unknown this round: keep what was reported for the region rather than report it again later.
      current.push(...state.gaps.filter((key) => key.startsWith(`${facts.region}/`)));
      continue;
    }
    for (const gap of facts.gaps) {
      if (now - Date.parse(gap.since) < graceMs) continue;
      const key = `${facts.region}/${gap.firstMissing}`;
      current.push(key);
      if (state.gaps.includes(key)) continue;
      const base = facts.base!;
      await raiseAlert({
        kind: 'wal-gap', severity: 'critical', source, region: facts.region, at,
        title: `${source}: WAL gap in ${facts.region}, ${gap.missing} segment(s) missing from ${gap.firstMissing}`,
        text: [
          `Segments ${gap.firstMissing} to ${gap.lastMissing} are missing in ${facts.region}; ${gap.resumesAt} and later are there.`,
          `Point-in-time recovery from base backup ${base.id} reaches ${facts.continuity?.contiguousThrough ?? 'no segment at all'}${facts.reachableUntil ? ` (archived ${facts.reachableUntil})` : ''}:`,
          `every recovery point after that is not reachable in ${facts.region} until the next base backup. Take one now ("lifeboat backup ${source}"), and check whether another region still has the missing segments ("lifeboat wal status --source ${source}").`,
        ].join('\n'),
        details: {
          firstMissing: gap.firstMissing, lastMissing: gap.lastMissing, missing: gap.missing, resumesAt: gap.resumesAt,
          baseBackup: base.id, contiguousThrough: facts.continuity?.contiguousThrough ?? null, reachableUntil: facts.reachableUntil,
        },
      });
    }
  }
  state.gaps = current;
}
