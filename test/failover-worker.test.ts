import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { approveUpdate } from '../workflows/failover-status';
import { runBackup } from './support/runs';
import type { FailoverResult } from '../lib/failover';
import { failoverWorkflowId } from '../lib/workflow-ids';
import { startWorkers, type RunningWorkers } from '../worker/run';
import { backUpAndSync, expectNothingLeft, databaseExists, hookLines, makeFailoverWorld, startFailover, waitForStatus, type FailoverWorld } from './support/failover';
import { startReceiver, type Receiver } from './support/receiver';
import { failureOf } from './support/workers';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process';
import { dataConverterOf } from '../lib/codec/data-converter';

const servers = inject('servers');

// stockholm's worker runs in this process; gothenburg's (the failover's target) is a separate
// `lifeboat worker --region gothenburg` process that a test can SIGKILL and start again.
describe('failover and the target region\'s worker', () => {
  let world: FailoverWorld;
  let stockholm: RunningWorkers;
  let gothenburg: WorkerProcess | undefined;
  let connection: Connection;
  let client: Client;
  let receiver: Receiver;
  const alerts = () => receiver.requests.map((r) => JSON.parse(r.body) as { kind: string; title: string; text: string });
  const startGothenburg = () => startWorkerProcess(world.fixture.configFile, world.fixture.env, ['--region', 'gothenburg']);

  beforeAll(async () => {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    receiver = await startReceiver();
    world = await makeFailoverWorld(servers, 'worker', {
      // Slow enough to kill mid-restore: incompressible rows.
      noiseRows: 120_000,
      failover: { workerTimeout: '3s', approval: { remindEvery: '2s', deadline: '12s' } },
      extra: { alerts: { channels: [{ type: 'webhook', url: `${receiver.url}/alerts` }] } },
    });
    stockholm = await startWorkers(world.fixture.config, ['stockholm']);
    connection = await Connection.connect({ address: servers.temporal.address });
    client = new Client({ connection, namespace: servers.temporal.namespace, dataConverter: dataConverterOf(world.fixture.config) });
    gothenburg = startGothenburg();
    await backUpAndSync(client, world);
  }, 300_000);

  afterAll(async () => {
    await gothenburg?.stop();
    stockholm?.shutdown();
    await stockholm?.done;
    await connection?.close();
    await receiver?.close();
    world?.fixture.cleanup();
  });


  it('without a decision it reminds with a fresh plan, aborts at the deadline and notifies', async () => {
    receiver.requests.length = 0;
    const handle = await startFailover(client, world, { drill: true });
    const result: FailoverResult = await handle.result();
    expect(result.state).toBe('aborted');
    expect(result.status.abort).toMatchObject({ by: 'deadline', reason: expect.stringContaining('failover.approval.deadline (12 s)') });
    expect(result.status.steps.find((s) => s.step === 'restore')!.state).toBe('skipped');
    const kinds = alerts().map((a) => a.kind);
    expect(kinds[0]).toBe('failover-approval');
    expect(kinds.at(-1)).toBe('failover-failed');
    const reminders = alerts().filter((a) => a.kind === 'failover-approval' && a.title.startsWith('Reminder: '));
    expect(reminders.length).toBeGreaterThanOrEqual(2);
    // Each reminder re-ran preflight: the plan was prepared after the run started.
    expect(Date.parse(result.status.plan!.preparedAt)).toBeGreaterThan(Date.parse(result.status.startedAt) + 1000);
    expect(alerts().at(-1)!.title).toContain('aborted by deadline');
    await expectNothingLeft(world);
  }, 120_000);

  it('refuses the approval of a plan that a reminder replaced, and takes the new one', async () => {
    const handle = await startFailover(client, world, { drill: true, sources: ['fo-files'] });
    const first = await waitForStatus(handle, (s) => s.state === 'awaiting-approval');
    // A newer backup reaches gothenburg: the next reminder's preflight plans to restore it instead.
    const newer = await runBackup(client, world.fixture.config, 'fo-files');
    await client.workflow.execute('syncRegions', { args: [{ source: 'fo-files' }], workflowId: `test-fo-sync-files-${process.pid}`, taskQueue: `${world.fixture.config.temporal.taskQueuePrefix}stockholm` });
    const second = await waitForStatus(handle, (s) => s.plan!.planHash !== first.plan!.planHash, 10_000);
    expect(second.plan!.sources[0]!.backupId).toBe(newer.backupId);
    await expect(handle.executeUpdate(approveUpdate, { args: [{ by: 'alice', planHash: first.plan!.planHash }] }))
      .rejects.toMatchObject({ cause: { message: expect.stringContaining(`plan ${first.plan!.planHash} is not the current plan ${second.plan!.planHash}`) } });
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice', planHash: second.plan!.planHash }] });
    const result: FailoverResult = await handle.result();
    expect(result.report!.sources.map((s) => s.backupId)).toEqual([newer.backupId]);
    await expectNothingLeft(world);
  }, 120_000);

  it('a worker SIGKILLed during the restore step does not break the drill: the retry starts over and completes', async () => {
    const handle = await startFailover(client, world, { drill: true, approval: 'auto' });
    await waitForStatus(handle, (s) => s.steps.find((step) => step.step === 'restore')!.sources?.['fo-db']?.state === 'running', 60_000);
    // pg_restore is under way once the database exists.
    for (let i = 0; i < 100 && !(await databaseExists(world.pgServer, world.targetDb)); i += 1) await new Promise((resolve) => setTimeout(resolve, 100));
    await new Promise((resolve) => setTimeout(resolve, 500));
    // The workflow runs on that worker too: its status is read just before the kill.
    const during = await handle.query('status') as FailoverResult['status'];
    gothenburg!.crash();
    expect(during.steps.find((s) => s.step === 'restore')!.sources!['fo-db']!.state).toBe('running');
    gothenburg = startGothenburg();
    const result: FailoverResult = await handle.result();
    expect(result.state).toBe('succeeded');
    const db = result.report!.sources.find((s) => s.source === 'fo-db')!;
    expect(db.checks.passed).toBe(db.checks.total);
    expect(result.status.steps.find((s) => s.step === 'verify')!.detail).toMatch(/checks passed/);
    console.log(`drill RTO with a worker killed mid-restore: ${db.rtoMs} ms (fo-db restore ${db.restoreMs} ms)`);
    await expectNothingLeft(world);
    expect(hookLines(world)).toEqual([]);
  }, 240_000);

  it('a target region without a running worker fails the preflight within failover.workerTimeout and notifies', async () => {
    await gothenburg!.stop();
    gothenburg = undefined;
    receiver.requests.length = 0;
    const prefix = world.fixture.config.temporal.taskQueuePrefix;
    // The workflow itself runs on stockholm's worker (lifeboat failover start --run-in stockholm).
    const handle = await client.workflow.start('drFailover', {
      args: [{ targetRegion: 'gothenburg', recoveryPoint: 'latest', drill: true, approval: 'auto' }],
      workflowId: failoverWorkflowId(prefix, true), taskQueue: `${prefix}stockholm`,
    });
    const failure = await failureOf(handle.result());
    expect(failure.type).toBe('WorkerUnavailable');
    expect(failure.message).toContain(`no worker of gothenburg picked up the preflight within 3 s (task queue ${prefix}gothenburg)`);
    expect(failure.message).toContain('nothing was restored');
    expect(alerts().map((a) => a.kind)).toEqual(['failover-failed']);
    await expectNothingLeft(world);
  }, 60_000);
});
