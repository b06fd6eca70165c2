import { ActivityFailure, ApplicationFailure, CancellationScope, condition, log, patched, proxyActivities, setHandler, TimeoutFailure, upsertMemo, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { TimeoutType } from '@temporalio/common';
import type { Activities } from '../activities';
import type { FailoverSettings, RestoredSource } from '../activities/failover';
import type { FailoverInput, FailoverPlan, FailoverReport, FailoverResult, HookRun, SourceReport, StepName } from '../lib/failover';
import { alertTime, raiseAlert } from './alert';
import { abortUpdate, approveUpdate, duration, failoverStatusQuery, FailoverProgress } from './failover-status';
import { surface } from './failures';
import { searchAttributes } from './search-attributes';
import { failoverStream, shortCall, stopsBeforeNextStep } from './timeouts';

export { abortUpdate, approveUpdate, failoverStatusQuery } from './failover-status';

const local = proxyActivities<Activities>(shortCall);

/** A step's failure as the run reports it: a stable type, a message, what to do next. */
interface Failed { type: string; message: string; hint: string }

/**
 * Brings the sources back in another region, operator-approved, one visible step at a time:
 * preflight on the target region's worker, approval (Updates `approve` / `abort`), fence, restore,
 * verify, cut-over, report. A failure after a step undoes what it can in reverse order and says
 * what is left; a drill never runs the fence or cut-over hooks and always tears down.
 */
export async function drFailover(input: FailoverInput): Promise<FailoverResult> {
  const pins: PinsToRelease = {};
  try {
    return await runFailover(input, pins);
  } finally {
    // Preflight pinned the plan's backups against retention; whatever the outcome, they are retention's again.
    // A run that cannot reach the target's worker leaves its pins to expire (failoverPreflight's PIN_MARGIN_MS).
    if (pins.queue && patched('failover-unpins-its-plan')) {
      const unpinner = proxyActivities<Activities>({ ...shortCall, taskQueue: pins.queue, scheduleToStartTimeout: pins.workerTimeoutMs });
      await CancellationScope.nonCancellable(() => unpinner.failoverUnpin({ targetRegion: input.targetRegion, sources: pins.sources ?? [] })).catch((error: unknown) => {
        log.warn('the failover could not unpin its backups; the pins expire by themselves', { error: String(error) });
      });
    }
  }
}

/** Where the run's pins are released: set once a preflight has returned (and so may have written them). */
interface PinsToRelease { queue?: string; workerTimeoutMs?: number; sources?: string[] }

async function runFailover(input: FailoverInput, pins: PinsToRelease): Promise<FailoverResult> {
  const info = workflowInfo();
  const startedAt = alertTime();
  const startMs = Date.parse(startedAt);
  // Names this run's markers on the targets: the same on every retry, never another run's.
  const runKey = `fo${info.runId.replace(/-/g, '').slice(-12)}`;
  const progress = new FailoverProgress(input, startedAt);
  const { status } = progress;
  const what = input.drill ? 'failover drill' : 'failover';
  setHandler(failoverStatusQuery, () => status);

  let decided = false;
  setHandler(approveUpdate, (request) => {
    const record = { by: request.by.trim(), at: alertTime(), planHash: request.planHash, ...(request.comment ? { comment: request.comment } : {}), via: 'operator' as const };
    status.approval = record;
    status.state = 'running';
    decided = true;
    return record;
  }, {
    validator: (request) => {
      if (status.state !== 'awaiting-approval') throw new Error(`this ${what} is not awaiting approval (it is ${status.state})`);
      if (typeof request?.by !== 'string' || request.by.trim() === '') throw new Error('"by" is empty: say who approves');
      if (request.planHash !== status.plan?.planHash) {
        throw new Error(`plan ${String(request.planHash)} is not the current plan ${status.plan?.planHash}: the plan changed since you read it; read it again ("lifeboat failover status ${info.workflowId}") and approve that one`);
      }
    },
  });
  setHandler(abortUpdate, (request) => {
    const record = { by: request.by.trim(), at: alertTime(), reason: request.reason };
    status.abort = record;
    status.state = 'aborted';
    decided = true;
    return record;
  }, {
    validator: (request) => {
      if (status.state !== 'awaiting-approval') throw new Error(`this ${what} is not awaiting approval (it is ${status.state}): it can no longer be aborted`);
      if (typeof request?.by !== 'string' || request.by.trim() === '') throw new Error('"by" is empty: say who aborts');
      if (typeof request.reason !== 'string' || request.reason.trim() === '') throw new Error('"reason" is empty: say why');
    },
  });

  // Runs from before cancellations waited for restores and hooks replay without the change.
  const waits = patched('cancellation-waits');
  const stops = waits ? stopsBeforeNextStep : {};
  const alertNow = (step: () => Promise<void>) => (waits ? CancellationScope.nonCancellable(step) : step());
  // Also after a cancellation of the run: its scope is cancelled, but the failure must still reach someone.
  const failedAlert = (title: string, text: string[], details: Record<string, string | number | boolean | null> = {}) => alertNow(() => raiseAlert({
    kind: 'failover-failed', severity: input.drill ? 'warning' : 'critical', region: input.targetRegion, at: alertTime(), title, text: text.join('\n'), details: { drill: input.drill, ...details },
  }));

  // Settings: config facts without secrets, read by the worker that runs this workflow.
  status.state = 'preflight';
  progress.begin('preflight', `reading the config`);
  let settings: FailoverSettings;
  try {
    settings = await local.failoverSettings({ targetRegion: input.targetRegion, recoveryPoint: input.recoveryPoint, sources: input.sources, drill: input.drill, approval: input.approval });
  } catch (error) {
    return failEarly(progress, 'preflight', asFailed(error), failedAlert, what, input);
  }
  upsertSearchAttributes(searchAttributes({ source: settings.sources.join(','), region: input.targetRegion, kind: input.drill ? 'failover-drill' : 'failover' }));
  upsertMemo({ summary: `${what} of ${settings.sources.join(', ')} to ${input.targetRegion}: preflight` });

  const queue = `${settings.taskQueuePrefix}${input.targetRegion}`;
  const regional = proxyActivities<Activities>({
    taskQueue: queue,
    // Nobody picks the task up within this time: the target region's worker is not running.
    scheduleToStartTimeout: settings.workerTimeoutMs,
    startToCloseTimeout: '10 minutes',
    // Preflight reads the region's catalog: it heartbeats, so a dead worker is noticed sooner than 10 minutes.
    heartbeatTimeout: settings.heartbeatTimeoutMs,
    retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 3 },
  });
  // A worker killed mid-restore: the heartbeat times out, the next attempt clears this run's half-done target and starts over.
  // Restore, verify and teardown share one machine of the target region (its own queue, chosen when the restore starts).
  let hostQueue = queue;
  // Cancelled, a restore must have stopped before the teardown removes its target.
  // A hung restore fails its attempt when its progress stops (temporal.stallTimeout); all attempts together end with the RTO.
  const restorer = () => proxyActivities<Activities>({ ...failoverStream(queue, settings.heartbeatTimeoutMs, settings.objectives?.rtoMs), taskQueue: hostQueue, ...stops });
  const beyondRto = (error: unknown): unknown => {
    if (!(error instanceof ActivityFailure && error.cause instanceof TimeoutFailure && error.cause.timeoutType !== TimeoutType.HEARTBEAT && settings.objectives)) return error;
    return ApplicationFailure.create({
      type: 'Timeout', nonRetryable: true,
      message: `did not finish within the recovery time objective (objectives.rto ${duration(settings.objectives.rtoMs)}), all attempts together`,
      details: ['find out what made it slow (the worker\'s log, the target), then start the failover again; raise objectives.rto if it is too tight for this data'],
    });
  };
  const cleaner = () => proxyActivities<Activities>({ ...shortCall, taskQueue: hostQueue, startToCloseTimeout: '10 minutes', scheduleToStartTimeout: '1 hour', heartbeatTimeout: settings.heartbeatTimeoutMs });

  const preflight = async (): Promise<FailoverPlan> => {
    try {
      return await regional.failoverPreflight({ targetRegion: input.targetRegion, recoveryPoint: input.recoveryPoint, sources: settings.sources, drill: input.drill });
    } catch (error) {
      if (error instanceof ActivityFailure && error.cause instanceof TimeoutFailure && error.cause.timeoutType === TimeoutType.SCHEDULE_TO_START) {
        throw ApplicationFailure.create({
          type: 'WorkerUnavailable', nonRetryable: true,
          message: `no worker of ${input.targetRegion} picked up the preflight within ${duration(settings.workerTimeoutMs)} (task queue ${queue}): the region's worker is not running`,
          details: [`start "lifeboat worker --region ${input.targetRegion}" in ${input.targetRegion}, then start the ${what} again`],
        });
      }
      throw error;
    }
  };

  // 1. Preflight
  progress.begin('preflight', `reading ${input.targetRegion}'s catalog on its worker`);
  try {
    status.plan = await preflight();
  } catch (error) {
    return failEarly(progress, 'preflight', asFailed(error), failedAlert, what, input);
  }
  // Only a preflight that returned may have pinned anything.
  Object.assign(pins, { queue, workerTimeoutMs: settings.workerTimeoutMs, sources: settings.sources });
  progress.end('preflight', 'done', planLine(status.plan));

  // 2. Approval
  progress.begin('approval');
  if (input.approval === 'auto') {
    status.approval = { by: 'schedule', at: alertTime(), planHash: status.plan.planHash, via: 'schedule' };
    status.state = 'running';
    progress.end('approval', 'done', `approved automatically (a scheduled drill) for plan ${status.plan.planHash}`);
  } else {
    status.state = 'awaiting-approval';
    upsertMemo({ summary: `${what} to ${input.targetRegion}: awaiting approval of plan ${status.plan.planHash}` });
    const deadlineMs = startMs + settings.deadlineMs;
    await approvalAlert(status.plan, info.workflowId, false);
    while (!decided) {
      // eslint-disable-next-line no-restricted-properties -- replay-safe in the workflow sandbox (alert.ts)
      const left = deadlineMs - Date.now();
      if (left <= 0) break;
      if (await condition(() => decided, Math.min(settings.remindEveryMs, left))) break;
      // eslint-disable-next-line no-restricted-properties -- replay-safe in the workflow sandbox (alert.ts)
      if (Date.now() >= deadlineMs) break;
      // The reminder carries a fresh plan: an approval must name what would be restored now.
      try {
        const fresh = await preflight();
        if (!decided) status.plan = fresh;
      } catch (error) {
        progress.step('approval').detail = `reminder: preflight failed again (${asFailed(error).message}); the plan shown is from ${status.plan.preparedAt}`;
      }
      if (!decided) await approvalAlert(status.plan, info.workflowId, true);
    }
    if (!decided) {
      status.abort = { by: 'deadline', at: alertTime(), reason: `no decision within failover.approval.deadline (${duration(settings.deadlineMs)})` };
      status.state = 'aborted';
    }
    if (status.state === 'aborted') {
      const abort = status.abort!;
      progress.end('approval', 'failed', `aborted by ${abort.by}: ${abort.reason}`);
      progress.skipRest('not run: the failover was aborted before anything was restored');
      status.outcome = ['nothing was restored, no hook ran: the targets and the old primary are as they were'];
      upsertMemo({ summary: `${what} to ${input.targetRegion}: aborted by ${abort.by}` });
      await failedAlert(`${what} to ${input.targetRegion} aborted by ${abort.by}`, [`Reason: ${abort.reason}`, ...status.outcome], { abortedBy: abort.by });
      return { state: 'aborted', report: null, status };
    }
    progress.end('approval', 'done', `approved by ${status.approval!.by} at ${status.approval!.at} for plan ${status.approval!.planHash}`);
  }
  const plan = status.plan;
  const approval = status.approval!;
  upsertMemo({ summary: `${what} of ${settings.sources.join(', ')} to ${input.targetRegion}: approved by ${approval.by}, running` });

  const hookRunner = (hook: HookRun['hook']) => proxyActivities<Activities>({
    taskQueue: queue, startToCloseTimeout: (settings.hooks[hook]?.timeoutMs ?? 300_000) + 60_000, scheduleToStartTimeout: '1 hour',
    // Exactly once: a fence or cut-over is not safe to repeat behind the operator's back.
    retry: { maximumAttempts: 1 },
    // A cut-over hook still running when the undo hook starts would race it.
    ...stops,
  });
  const runHook = async (hook: HookRun['hook']): Promise<HookRun> => {
    let run: HookRun;
    try {
      run = await hookRunner(hook).runFailoverHook({ hook, workflowId: info.workflowId, runId: info.runId, targetRegion: input.targetRegion, drill: input.drill });
    } catch (error) {
      run = { hook, how: settings.hooks[hook]?.how ?? 'command', ok: false, detail: asFailed(error).message, ms: 0 };
    }
    status.hooks.push(run);
    return run;
  };

  let restoreStarted = false;
  let cutoverAttempted = false;
  const fail = async (step: StepName, failed: Failed): Promise<never> => {
    progress.end(step, 'failed', failed.message);
    status.state = 'compensating';
    await CancellationScope.nonCancellable(async () => {
      if (cutoverAttempted) {
        if (settings.hooks.undoCutover) {
          const undo = await runHook('undoCutover');
          status.outcome.push(undo.ok ? `undoCutover hook ran: ${undo.detail}` : `undoCutover hook FAILED (${undo.detail}): the application may still point at ${input.targetRegion}; point it back by hand`);
          if (undo.ok) progress.end('cutover', 'compensated', `undone: ${undo.detail}`);
        } else {
          status.outcome.push(`no undoCutover hook configured: check where the application points (the cut-over hook was attempted)`);
        }
      }
      if (restoreStarted) await tearDown(true);
      else status.outcome.push('no restore was started: nothing to tear down');
      if (status.hooks.some((h) => h.hook === 'fence' && h.ok)) status.outcome.push('the fence hook ran: the old primary stays fenced; lift the fence by hand if it is to serve again');
    });
    progress.skipRest(`not run: the ${what} failed at ${step}`);
    status.state = 'failed';
    upsertMemo({ summary: `${what} to ${input.targetRegion}: failed at ${step}` });
    await failedAlert(`${what} to ${input.targetRegion} failed at ${step} (${failed.type})`, [failed.message, 'State left:', ...status.outcome.map((line) => `- ${line}`), failed.hint], { step, type: failed.type });
    throw ApplicationFailure.create({ type: failed.type, nonRetryable: true, message: `${what} to ${input.targetRegion} failed at ${step}: ${failed.message}. State left: ${status.outcome.join('; ')}`, details: [failed.hint, status] });
  };

  const tornDown: string[] = [];
  const tearDown = async (compensating: boolean): Promise<void> => {
    progress.begin('teardown', `removing what this run restored in ${input.targetRegion}`);
    const results = await Promise.allSettled(plan.sources.map((s) => cleaner().failoverTeardown({ runKey, source: s.source, targetRegion: input.targetRegion })));
    const lines: string[] = [];
    results.forEach((result, index) => {
      const source = plan.sources[index]!.source;
      if (result.status === 'fulfilled') {
        const removed = result.value.removed;
        tornDown.push(...removed.map((line) => `${source}: ${line}`));
        lines.push(`${source}: ${removed.length > 0 ? `torn down (${removed.join(', ')})` : 'nothing of this run there'}`);
        progress.source('teardown', source, 'done', removed.join(', ') || 'nothing of this run there');
      } else {
        lines.push(`${source}: NOT torn down (${asFailed(result.reason).message}); remove ${plan.sources[index]!.target} by hand`);
        progress.source('teardown', source, 'failed', asFailed(result.reason).message);
      }
    });
    status.outcome.push(...lines);
    const ok = results.every((r) => r.status === 'fulfilled');
    progress.end('teardown', ok ? 'done' : 'failed', lines.join('; '));
    if (compensating && ok) {
      for (const step of ['restore', 'verify'] as const) if (['done', 'failed', 'running'].includes(progress.step(step).state)) progress.step(step).state = 'compensated';
    }
  };

  // 3. Fence
  if (input.drill) progress.end('fence', 'skipped', 'a drill never fences the primary');
  else if (!settings.hooks.fence) progress.end('fence', 'skipped', 'no fence hook configured (failover.hooks.fence)');
  else {
    progress.begin('fence', 'running the fence hook');
    const fence = await runHook('fence');
    if (fence.ok) progress.end('fence', 'done', fence.detail);
    else if (settings.fenceRequired) await fail('fence', { type: 'ToolFailed', message: `the fence hook failed: ${fence.detail}`, hint: 'fence the old primary by hand, or set failover.hooks.fenceRequired: false, then start the failover again' });
    else progress.end('fence', 'failed', `the fence hook failed (${fence.detail}); passed over (failover.hooks.fenceRequired: false)`);
  }

  // 4. Restore
  if (patched('lifeboat-host-queue')) {
    try {
      hostQueue = await regional.hostTaskQueue();
    } catch (error) {
      await fail('restore', asFailed(error));
    }
  }
  restoreStarted = true;
  progress.begin('restore', `${plan.sources.length} source(s) in parallel on ${input.targetRegion}'s worker`);
  const restored = new Map<string, RestoredSource>();
  const restores = await Promise.allSettled(plan.sources.map(async (s) => {
    progress.source('restore', s.source, 'running', `backup ${s.backupId} → ${s.target}`);
    try {
      const result = await restorer().failoverRestore({ runKey, source: s.source, targetRegion: input.targetRegion, backupId: s.backupId, recoveryTarget: s.recoveryTarget })
        .catch((error: unknown) => { throw beyondRto(error); });
      restored.set(s.source, result);
      progress.source('restore', s.source, 'done', `${result.detail} (${duration(result.restoreMs)})`);
    } catch (error) {
      progress.source('restore', s.source, 'failed', asFailed(error).message);
      throw error;
    }
  }));
  const restoreFailure = firstFailure(restores, plan);
  if (restoreFailure) await fail('restore', restoreFailure);
  progress.end('restore', 'done', `${restored.size} source(s) restored`);
  const restoredAt = alertTime();

  // 5. Verify
  progress.begin('verify', 'verifyRestore\'s checks on the restored targets');
  const checked = new Map<string, { passed: number; total: number }>();
  const verifies = await Promise.allSettled(plan.sources.map(async (s) => {
    progress.source('verify', s.source, 'running', '');
    try {
      const checks = await restorer().failoverVerify({ runKey, source: s.source, targetRegion: input.targetRegion, backupId: s.backupId })
        .catch((error: unknown) => {
          const failure = beyondRto(error);
          if (failure !== error) progress.source('verify', s.source, 'failed', asFailed(failure).message);
          throw failure;
        });
      const bad = checks.filter((c) => !c.ok);
      checked.set(s.source, { passed: checks.length - bad.length, total: checks.length });
      if (bad.length > 0) {
        const message = `${s.source}: ${bad.map((c) => `${c.name}: ${c.detail}`).join('; ')}`;
        progress.source('verify', s.source, 'failed', message);
        throw ApplicationFailure.create({ type: 'VerificationFailed', message, nonRetryable: true, details: ['do not serve from this copy: restore another backup or region'] });
      }
      progress.source('verify', s.source, 'done', `${checks.length} checks passed`);
    } catch (error) {
      if (!(error instanceof ApplicationFailure)) progress.source('verify', s.source, 'failed', asFailed(error).message);
      throw error;
    }
  }));
  const verifyFailure = firstFailure(verifies, plan);
  if (verifyFailure) await fail('verify', verifyFailure);
  progress.end('verify', 'done', `${[...checked.values()].reduce((sum, c) => sum + c.total, 0)} checks passed`);
  const verifiedAt = alertTime();

  // 6. Cut over
  let cutoverAt: string | null = null;
  if (input.drill) progress.end('cutover', 'skipped', 'a drill never cuts over');
  else if (!settings.hooks.cutover) progress.end('cutover', 'skipped', `no cut-over hook configured (failover.hooks.cutover): point the application at ${input.targetRegion} yourself`);
  else {
    progress.begin('cutover', 'running the cut-over hook');
    cutoverAttempted = true;
    const cutover = await runHook('cutover');
    if (!cutover.ok) await fail('cutover', { type: 'ToolFailed', message: `the cut-over hook failed: ${cutover.detail}`, hint: 'find out why the hook failed, then start the failover again' });
    cutoverAt = alertTime();
    progress.end('cutover', 'done', cutover.detail);
  }

  // Drills leave nothing behind; a real failover leaves the targets serving.
  if (input.drill) await tearDown(false);
  else progress.end('teardown', 'skipped', 'a failover leaves the restored targets serving');

  // 7. Report
  progress.begin('report');
  const rtoEndMs = Date.parse(cutoverAt ?? verifiedAt);
  const sources: SourceReport[] = plan.sources.map((s) => {
    const r = restored.get(s.source)!;
    const rpoMs = Math.max(0, startMs - Date.parse(r.recoveryPoint));
    const rtoMs = rtoEndMs - startMs;
    const objectives = settings.objectives;
    return {
      source: s.source, kind: s.kind, backupId: s.backupId, recoveryPoint: r.recoveryPoint, rpoMs, rtoMs,
      rpoObjectiveMs: objectives?.rpoMs ?? null, rtoObjectiveMs: objectives?.rtoMs ?? null,
      rpoMet: objectives ? rpoMs <= objectives.rpoMs : null, rtoMet: objectives ? rtoMs <= objectives.rtoMs : null,
      restoreMs: r.restoreMs, checks: checked.get(s.source) ?? { passed: 0, total: 0 }, target: r.target,
    };
  });
  const report: FailoverReport = {
    workflowId: info.workflowId, runId: info.runId, drill: input.drill, targetRegion: input.targetRegion, startedAt, approval,
    restoredAt, verifiedAt, cutoverAt, finishedAt: alertTime(), sources, hooks: status.hooks, tornDown,
    leftUp: input.drill ? [] : sources.map((s) => `${s.source}: ${s.target}`),
  };
  status.report = report;
  const missed = sources.filter((s) => s.rpoMet === false || s.rtoMet === false);
  await raiseAlert({
    kind: 'failover-report', severity: missed.length > 0 ? 'warning' : 'info', region: input.targetRegion, at: alertTime(),
    title: `${what} to ${input.targetRegion} ${input.drill ? 'passed' : 'done'}: ${sources.length} source(s), RTO ${duration(sources[0]?.rtoMs ?? 0)}`,
    text: [
      ...sources.map((s) => `${s.source}: recovered to ${s.recoveryPoint} (backup ${s.backupId}); RPO ${duration(s.rpoMs)}${s.rpoMet === false ? ' (objective MISSED)' : ''}, RTO ${duration(s.rtoMs)}${s.rtoMet === false ? ' (objective MISSED)' : ''}; ${s.checks.passed}/${s.checks.total} checks`),
      `Approved by ${approval.by} at ${approval.at}.`,
      input.drill ? `Torn down: ${tornDown.length} item(s).` : `Serving in ${input.targetRegion}: ${report.leftUp.join('; ')}`,
    ].join('\n'),
    details: { drill: input.drill, sources: sources.length, rtoMs: sources[0]?.rtoMs ?? null, worstRpoMs: Math.max(...sources.map((s) => s.rpoMs)), objectivesMissed: missed.length },
  });
  progress.end('report', 'done', `RTO ${duration(sources[0]?.rtoMs ?? 0)}, worst RPO ${duration(Math.max(...sources.map((s) => s.rpoMs)))}`);
  status.state = 'succeeded';
  upsertMemo({ summary: `${what} of ${settings.sources.join(', ')} to ${input.targetRegion}: succeeded, RTO ${duration(sources[0]?.rtoMs ?? 0)}` });
  return { state: 'succeeded', report, status };
}

/** Before anything was restored: notify, and fail with the step's own error type. */
async function failEarly(progress: FailoverProgress, step: StepName, failed: Failed, alert: (title: string, text: string[], details?: Record<string, string | number | boolean | null>) => Promise<void>, what: string, input: FailoverInput): Promise<never> {
  progress.end(step, 'failed', failed.message);
  progress.skipRest(`not run: the ${what} failed at ${step}`);
  progress.status.state = 'failed';
  progress.status.outcome = ['nothing was restored, no hook ran: the targets and the old primary are as they were'];
  upsertMemo({ summary: `${what} to ${input.targetRegion}: failed at ${step}` });
  await alert(`${what} to ${input.targetRegion} failed at ${step} (${failed.type})`, [failed.message, failed.hint, ...progress.status.outcome], { step, type: failed.type });
  throw ApplicationFailure.create({ type: failed.type, nonRetryable: true, message: `${what} to ${input.targetRegion} failed at ${step}: ${failed.message}. State left: ${progress.status.outcome.join('; ')}`, details: [failed.hint, progress.status] });
}

function asFailed(error: unknown): Failed {
  const surfaced = surface(error);
  if (surfaced instanceof ApplicationFailure) {
    const hint = typeof surfaced.details?.[0] === 'string' ? surfaced.details[0] : '';
    return { type: surfaced.type ?? 'Error', message: surfaced.message, hint };
  }
  const cause = (error as { cause?: { message?: string } }).cause;
  return { type: 'Error', message: cause?.message ?? (error as Error).message ?? String(error), hint: '' };
}

function firstFailure(settled: PromiseSettledResult<unknown>[], plan: FailoverPlan): Failed | undefined {
  const index = settled.findIndex((s) => s.status === 'rejected');
  if (index < 0) return undefined;
  const failed = asFailed((settled[index] as PromiseRejectedResult).reason);
  const others = settled.filter((s) => s.status === 'rejected').length - 1;
  return { ...failed, message: `${plan.sources[index]!.source}: ${failed.message}${others > 0 ? ` (and ${others} more source(s) failed)` : ''}` };
}

function planLine(plan: FailoverPlan): string {
  return `plan ${plan.planHash}: ${plan.sources.map((s) => `${s.source} backup ${s.backupId} to ${s.recoveryPoint} (expected RPO ${duration(s.expectedRpoMs)}, RTO ${s.expectedRtoMs === null ? 'unknown' : duration(s.expectedRtoMs)})`).join('; ')}`;
}

async function approvalAlert(plan: FailoverPlan, workflowId: string, reminder: boolean): Promise<void> {
  const what = plan.drill ? 'failover drill' : 'failover';
  await raiseAlert({
    kind: 'failover-approval', severity: plan.drill ? 'info' : 'critical', region: plan.targetRegion, at: alertTime(),
    title: `${reminder ? 'Reminder: ' : ''}${what} to ${plan.targetRegion} awaits approval (plan ${plan.planHash})`,
    text: [
      ...plan.sources.map((s) => `${s.source}: backup ${s.backupId}, recovers to ${s.recoveryPoint} (RPO now ${duration(s.expectedRpoMs)}), into ${s.target}${s.warnings.length ? `; ${s.warnings.join('; ')}` : ''}`),
      `Approve: lifeboat failover approve ${workflowId}`,
      `or: temporal workflow update execute --workflow-id ${workflowId} --name approve --input '{"by":"YOUR NAME","planHash":"${plan.planHash}"}'`,
      `Abort: lifeboat failover abort ${workflowId} --reason "…"`,
    ].join('\n'),
    details: { planHash: plan.planHash, drill: plan.drill, sources: plan.sources.length, reminder },
  });
}
