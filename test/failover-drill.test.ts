import { trusted } from './support/signing';
import { fileURLToPath } from 'node:url';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listBackups } from '../activities/catalog';
import { applySchedules } from '../client/schedules/reconcile';
import { createDeps } from '../activities/deps';
import type { FailoverResult } from '../lib/failover';
import { abortUpdate, approveUpdate } from '../workflows/failover-status';
import type { ScheduledDrillResult } from '../workflows/scheduled-drill';
import type { VerifyResult } from '../workflows/verify-restore';
import { failoverWorkflowId } from '../lib/workflow-ids';
import { backUpAndSync, expectNothingLeft, hookLines, makeFailoverWorld, startFailover, waitForStatus, type FailoverWorld } from './support/failover';
import { startReceiver, type Receiver } from './support/receiver';
import { failureOf, startHarness, type Harness } from './support/workers';

const servers = inject('servers');
const lifeboat = fileURLToPath(new URL('../bin/lifeboat', import.meta.url));

describe('failover drills', () => {
  let world: FailoverWorld;
  let harness: Harness;
  let receiver: Receiver;
  let backups: Record<string, string>;
  const alerts = () => receiver.requests.map((r) => JSON.parse(r.body) as { kind: string; title: string; text: string; details?: Record<string, unknown> });

  beforeAll(async () => {
    receiver = await startReceiver();
    world = await makeFailoverWorld(servers, 'drill', {
      extra: { alerts: { channels: [{ type: 'webhook', url: `${receiver.url}/alerts` }] } },
      failover: { drill: { region: 'gothenburg', sources: ['fo-cache', 'fo-files'], schedule: { cron: '0 3 1 * *', timezone: 'Europe/Stockholm' } } },
    });
    harness = await startHarness(world.fixture.config);
    backups = await backUpAndSync(harness.client, world);
  }, 240_000);

  afterAll(async () => {
    await harness?.close();
    await receiver?.close();
    world?.fixture.cleanup();
  });


  it('restores, verifies and reports a measured RPO and RTO per source, tears everything down and never calls a hook', async () => {
    const before = Date.now();
    const handle = await startFailover(harness.client, world, { drill: true, approval: 'auto' });
    const result: FailoverResult = await handle.result();
    const report = result.report!;
    expect(result.state).toBe('succeeded');
    expect(report.approval).toMatchObject({ by: 'schedule', via: 'schedule' });
    const steps = Object.fromEntries(result.status.steps.map((s) => [s.step, s.state]));
    expect(steps).toEqual({ preflight: 'done', approval: 'done', fence: 'skipped', restore: 'done', verify: 'done', cutover: 'skipped', teardown: 'done', report: 'done' });
    const startMs = Date.parse(report.startedAt);
    expect(startMs).toBeGreaterThanOrEqual(before - 1000);
    const gothenburg = createDeps(world.fixture.config).storage('gothenburg');
    expect(report.sources.map((s) => s.source)).toEqual(world.sources);
    for (const source of report.sources) {
      const manifest = (await listBackups(gothenburg, trusted, source.source)).find((e) => e.manifest.id === backups[source.source])!.manifest;
      expect(source.backupId).toBe(backups[source.source]);
      // RPO: the failover's start minus the backup's snapshot time; RTO: start to verify done.
      expect(source.recoveryPoint).toBe(manifest.startedAt);
      expect(source.rpoMs).toBeGreaterThan(0);
      expect(source.rpoMs).toBe(startMs - Date.parse(manifest.startedAt));
      expect(source.rtoMs).toBeGreaterThan(0);
      expect(source.rtoMs).toBe(Date.parse(report.verifiedAt) - startMs);
      expect(source.rtoMs).toBeGreaterThanOrEqual(source.restoreMs);
      expect(source.rpoMet).toBe(true);
      expect(source.checks.passed).toBe(source.checks.total);
      expect(source.checks.total).toBeGreaterThan(1);
    }
    // The figures for the notes: restore per source and the drill's RTO.
    console.log(`drill RTO ${report.sources[0]!.rtoMs} ms; restores ${report.sources.map((s) => `${s.source} ${s.restoreMs} ms`).join(', ')}`);
    expect(report.tornDown.join('\n')).toMatch(/fo-db: database fo_dr_drill_\d+ dropped/);
    expect(report.tornDown.join('\n')).toMatch(/fo-cache: redis-server on port \d+ \(pid \d+\) stopped/);
    expect(report.tornDown.join('\n')).toContain(`fo-files: directory ${world.filesDir} removed`);
    expect(report.hooks).toEqual([]);
    expect(hookLines(world)).toEqual([]);
    await expectNothingLeft(world);
    const sent = alerts().filter((a) => a.kind === 'failover-report');
    expect(sent).toHaveLength(1);
    expect(sent[0]!.text).toContain(`fo-db: recovered to ${report.sources.find((s) => s.source === 'fo-db')!.recoveryPoint}`);
  }, 180_000);

  it('aborted at the approval step, it restores nothing, runs no hook and notifies', async () => {
    receiver.requests.length = 0;
    const handle = await startFailover(harness.client, world, { drill: true });
    const waiting = await waitForStatus(handle, (s) => s.state === 'awaiting-approval');
    expect(waiting.plan!.sources.map((s) => s.backupId).sort()).toEqual(Object.values(backups).sort());
    const { stdout } = await execa(lifeboat, ['--config', world.fixture.configFile, 'failover', 'abort', handle.workflowId, '--reason', 'testing the abort', '--by', 'dora'], { env: world.fixture.env });
    expect(stdout).toContain('aborted by dora');
    const result: FailoverResult = await handle.result();
    expect(result.state).toBe('aborted');
    expect(result.report).toBeNull();
    expect(result.status.abort).toMatchObject({ by: 'dora', reason: 'testing the abort' });
    expect(result.status.steps.filter((s) => ['fence', 'restore', 'verify', 'cutover'].includes(s.step)).map((s) => s.state)).toEqual(['skipped', 'skipped', 'skipped', 'skipped']);
    expect(result.status.outcome.join('\n')).toContain('nothing was restored');
    expect(hookLines(world)).toEqual([]);
    await expectNothingLeft(world);
    expect(alerts().map((a) => a.kind)).toEqual(['failover-approval', 'failover-failed']);
    expect(alerts()[0]!.text).toContain(`--name approve --input '{"by":"YOUR NAME","planHash":"${waiting.plan!.planHash}"}'`);
    expect(alerts()[1]!.title).toContain('aborted by dora');
  }, 120_000);

  it('refuses an approval of a stale plan or without a name, and takes one from "lifeboat failover approve"', async () => {
    const handle = await startFailover(harness.client, world, { drill: true });
    const waiting = await waitForStatus(handle, (s) => s.state === 'awaiting-approval');
    const stale = handle.executeUpdate(approveUpdate, { args: [{ by: 'mallory', planHash: '0123456789abcdef' }] });
    await expect(stale).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
    await expect(stale).rejects.toMatchObject({ cause: { message: expect.stringContaining(`is not the current plan ${waiting.plan!.planHash}`) } });
    await expect(handle.executeUpdate(approveUpdate, { args: [{ by: ' ', planHash: waiting.plan!.planHash }] })).rejects.toMatchObject({ cause: { message: expect.stringContaining('"by" is empty') } });
    const status = await execa(lifeboat, ['--config', world.fixture.configFile, 'failover', 'status', handle.workflowId], { env: world.fixture.env });
    expect(status.stdout).toMatch(/approval\s+RUNNING/);
    expect(status.stdout).toContain(`plan ${waiting.plan!.planHash}`);
    const approved = await execa(lifeboat, ['--config', world.fixture.configFile, 'failover', 'approve', handle.workflowId, '--by', 'carol', '--yes'], { env: world.fixture.env });
    expect(approved.stderr).toContain(`plan ${waiting.plan!.planHash}`);
    expect(approved.stdout).toContain('approved by carol');
    const result: FailoverResult = await handle.result();
    expect(result.state).toBe('succeeded');
    expect(result.report!.approval).toMatchObject({ by: 'carol', planHash: waiting.plan!.planHash, via: 'operator' });
    // Too late now: the run is no longer waiting.
    await expect(handle.executeUpdate(abortUpdate, { args: [{ by: 'carol', reason: 'late' }] })).rejects.toThrow();
    await expectNothingLeft(world);
    expect(hookLines(world)).toEqual([]);
  }, 180_000);
  it('plans with the RTO that the newest passed restore verification in the target region measured', async () => {
    const verified = await harness.client.workflow.execute('verifyRestore', {
      args: [{ source: 'fo-files', region: 'gothenburg', level: 'restore' }],
      workflowId: `test-fo-verify-${process.pid}`, taskQueue: `${world.fixture.config.temporal.taskQueuePrefix}stockholm`,
    }) as VerifyResult;
    const measured = verified.regions.find((r) => r.region === 'gothenburg')!;
    expect(measured.outcome).toBe('passed');
    const handle = await startFailover(harness.client, world, { drill: true });
    const waiting = await waitForStatus(handle, (s) => s.state === 'awaiting-approval');
    const files = waiting.plan!.sources.find((s) => s.source === 'fo-files')!;
    expect(files.expectedRtoMs).toBe(measured.restoreMs);
    expect(files.verifiedAt).not.toBeNull();
    expect(files.warnings).toEqual([]);
    expect(waiting.plan!.sources.find((s) => s.source === 'fo-db')!.expectedRtoMs).toBeNull();
    await handle.executeUpdate(abortUpdate, { args: [{ by: 'test', reason: 'only the plan was wanted' }] });
    expect((await handle.result() as FailoverResult).state).toBe('aborted');
  }, 120_000);

  it('fails the preflight when no backup in the region is as old as the asked recovery point, naming every such source, and notifies', async () => {
    receiver.requests.length = 0;
    const before = new Date(Date.now() - 3_600_000).toISOString();
    const handle = await startFailover(harness.client, world, { drill: true, approval: 'auto', recoveryPoint: before });
    const failure = await failureOf(handle.result());
    expect(failure.type).toBe('BackupNotFound');
    expect(failure.message).toContain(`backup of fo-cache in gothenburg taken at or before ${before}`);
    // Sources are planned four at once; every one that is missing is named, in the order asked.
    expect(failure.message).toContain(`backup of fo-db in gothenburg taken at or before ${before}`);
    expect(failure.message.indexOf('fo-cache')).toBeLessThan(failure.message.indexOf('fo-db'));
    expect(failure.message).toContain('State left: nothing was restored, no hook ran');
    expect(alerts().map((a) => a.kind)).toEqual(['failover-failed']);
    await expectNothingLeft(world);
  }, 60_000);

  it('"lifeboat failover start --drill --wait" starts a drill of the named sources, waits for the operator and ends with the report', async () => {
    const id = failoverWorkflowId(world.fixture.config.temporal.taskQueuePrefix, true);
    const started = execa(lifeboat, ['--config', world.fixture.configFile, 'failover', 'start', '--to', 'gothenburg', '--drill', '--source', 'fo-files', '--by', 'erin', '--wait'], { env: world.fixture.env });
    const handle = harness.client.workflow.getHandle(id);
    const waiting = await waitForStatus(handle, (s) => s.state === 'awaiting-approval');
    expect(waiting.requestedBy).toBe('erin');
    expect(waiting.plan!.sources.map((s) => s.source)).toEqual(['fo-files']);
    const again = await execa(lifeboat, ['--config', world.fixture.configFile, 'failover', 'start', '--to', 'gothenburg', '--drill'], { env: world.fixture.env, reject: false });
    expect(again.exitCode).toBe(10);
    expect(again.stderr).toContain('a failover drill is already running');
    await execa(lifeboat, ['--config', world.fixture.configFile, 'failover', 'approve', id, '--by', 'erin', '--yes'], { env: world.fixture.env });
    const { stdout, stderr } = await started;
    expect(stderr).toMatch(/^preflight: done — plan /m);
    // The step list once more at the end: progress polls once a second and may miss steps in between.
    expect(stdout).toMatch(/^approved by erin at \S+ \(operator\)$/m);
    expect(stdout).toMatch(/^teardown\s+DONE\s/m);
    expect(stdout).toMatch(/^cutover\s+SKIPPED\s/m);
    expect(stdout).toMatch(/^SOURCE\s+BACKUP\s+RECOVERED TO\s+RPO\s+RTO\s+OBJECTIVES\s+CHECKS$/m);
    expect(stdout).toMatch(/^fo-files\s+\S+\s+\S+\s+\d+ s\s+\d+ s\s+RPO met, RTO met\s+(\d+)\/\1$/m);
    expect(stdout).toContain(`torn down: fo-files: directory ${world.filesDir} removed`);
    await expectNothingLeft(world);
  }, 120_000);

  it('"schedules apply" creates the drill schedule, whose runs approve themselves as "schedule", run under the one drill id and tear down', async () => {
    const prefix = world.fixture.config.temporal.taskQueuePrefix;
    const report = await applySchedules(harness.client, world.fixture.config, false);
    const id = failoverWorkflowId(prefix, true);
    expect(report.changes.find((c) => c.id === id)).toMatchObject({ change: 'created', workflowType: 'scheduledDrill', cron: '0 3 1 * *', timezone: 'Europe/Stockholm' });
    const schedule = harness.client.schedule.getHandle(id);
    try {
      const described = await schedule.describe();
      expect(described.action).toMatchObject({ workflowType: 'scheduledDrill', taskQueue: `${prefix}gothenburg`, args: [{ targetRegion: 'gothenburg', recoveryPoint: 'latest', sources: ['fo-cache', 'fo-files'], drill: true, approval: 'auto', requestedBy: 'schedule' }] });
      const triggered = async (count: number): Promise<string> => {
        await schedule.trigger();
        for (let i = 0; i < 100; i += 1) {
          const actions = (await schedule.describe()).info.recentActions;
          if (actions.length >= count) return actions.at(-1)!.action.workflow.workflowId;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
        throw new Error('the schedule never started its run');
      };
      // A manual drill awaits approval: the scheduled one must not restore alongside it.
      const manual = await startFailover(harness.client, world, { drill: true });
      await waitForStatus(manual, (s) => s.state === 'awaiting-approval');
      const skipped = await harness.client.workflow.getHandle(await triggered(1)).result() as ScheduledDrillResult;
      expect(skipped).toEqual({ outcome: 'skipped', reason: 'a failover drill was already running', runningWorkflowId: id });
      await manual.executeUpdate(abortUpdate, { args: [{ by: 'test', reason: 'make room for the scheduled drill' }] });
      await manual.result();
      const workflowId = await triggered(2);
      const scheduled = await harness.client.workflow.getHandle(workflowId!).result() as ScheduledDrillResult;
      expect(scheduled.outcome).toBe('done');
      const result = (scheduled as Extract<ScheduledDrillResult, { outcome: 'done' }>).result;
      expect(result.state).toBe('succeeded');
      // The drill itself ran under the one drill id, so a manual drill could not have run alongside.
      expect(result.report!.workflowId).toBe(id);
      expect(result.report!.approval).toMatchObject({ by: 'schedule', via: 'schedule' });
      expect(result.report!.sources.map((s) => s.source)).toEqual(['fo-cache', 'fo-files']);
      await expectNothingLeft(world);
    } finally {
      await schedule.delete();
    }
  }, 120_000);
});
