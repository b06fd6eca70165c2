import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import type { FailoverResult, FailoverStatus } from '../lib/failover';
import { withClient } from '../scripts/sample-db';
import { approveWithTemporalCli as approveThroughCodec, backUpAndSync, databaseExists, hookLines, makeFailoverWorld, redisAnswers, removeTargets, startFailover, waitForStatus, type FailoverWorld } from './support/failover';
import { startReceiver, type Receiver } from './support/receiver';
import { failureOf, startHarness, type Harness } from './support/workers';

const servers = inject('servers');

describe('a real failover', () => {
  let world: FailoverWorld;
  let harness: Harness;
  let receiver: Receiver;
  const alerts = () => receiver.requests.map((r) => JSON.parse(r.body) as { kind: string; title: string; text: string });

  beforeAll(async () => {
    receiver = await startReceiver();
    world = await makeFailoverWorld(servers, 'real', { extra: { alerts: { channels: [{ type: 'webhook', url: `${receiver.url}/alerts` }] } } });
    harness = await startHarness(world.fixture.config);
    await backUpAndSync(harness.client, world);
  }, 240_000);

  afterEach(async () => {
    await removeTargets(world);
    receiver.requests.length = 0;
    for (const entry of readdirSync(dirname(world.hookLog))) if (entry.startsWith('hooks.log')) rmSync(join(dirname(world.hookLog), entry));
  });

  afterAll(async () => {
    await harness?.close();
    await receiver?.close();
    world?.fixture.cleanup();
  });

  /** Approves with the Temporal CLI, as an operator without Lifeboat at hand would. */
  async function approveWithTemporalCli(workflowId: string): Promise<FailoverStatus> {
    const waiting = await waitForStatus(harness.client.workflow.getHandle(workflowId), (s) => s.state === 'awaiting-approval');
    await approveThroughCodec(servers, world.fixture, workflowId, { by: 'alice', planHash: waiting.plan!.planHash });
    return waiting;
  }

  it('approved with the Temporal CLI, it runs the fence and cut-over hooks once and leaves the targets serving', async () => {
    const handle = await startFailover(harness.client, world, { drill: false });
    const waiting = await approveWithTemporalCli(handle.workflowId);
    const result: FailoverResult = await handle.result();
    expect(result.state).toBe('succeeded');
    const report = result.report!;
    expect(report.approval).toMatchObject({ by: 'alice', planHash: waiting.plan!.planHash, via: 'operator' });
    expect(hookLines(world)).toEqual(['fence false gothenburg', 'cutover false gothenburg']);
    expect(report.hooks.map((h) => [h.hook, h.ok, h.stdoutTail])).toEqual([['fence', true, 'fence ran'], ['cutover', true, 'cutover ran']]);
    const steps = Object.fromEntries(result.status.steps.map((s) => [s.step, s.state]));
    expect(steps).toEqual({ preflight: 'done', approval: 'done', fence: 'done', restore: 'done', verify: 'done', cutover: 'done', teardown: 'skipped', report: 'done' });
    // RTO runs to the cut-over.
    for (const source of report.sources) expect(source.rtoMs).toBe(Date.parse(report.cutoverAt!) - Date.parse(report.startedAt));
    expect(report.leftUp).toHaveLength(3);
    const orders = await withClient(world.pgServer, world.targetDb, (client) => client.query('select count(*)::int as n from orders'));
    expect(orders.rows[0].n).toBe(10000);
    expect(await redisAnswers(world.redisPort)).toBe(true);
    const { stdout } = await execa('redis-cli', ['-p', String(world.redisPort), 'HGET', `fo:real_${process.pid}:profile`, 'name']);
    expect(stdout.trim()).toBe('Ada');
    expect(readdirSync(join(world.filesDir, 'docs')).length).toBeGreaterThan(10);
    expect(alerts().map((a) => a.kind)).toEqual(['failover-approval', 'failover-report']);
  }, 180_000);

  it('a restore that fails mid-way tears down what it restored, notifies, and says what state it left', async () => {
    // Someone's data in the files target: never overwritten.
    mkdirSync(world.filesDir, { recursive: true });
    writeFileSync(join(world.filesDir, 'precious.txt'), 'not Lifeboat\'s');
    const handle = await startFailover(harness.client, world, { drill: false });
    await approveWithTemporalCli(handle.workflowId);
    const failure = await failureOf(handle.result());
    expect(failure.type).toBe('TargetNotEmpty');
    expect(failure.message).toContain('failed at restore: fo-files: failover target');
    expect(failure.message).toMatch(/State left: .*fo-db: torn down \(database fo_dr_real_\d+ dropped/);
    expect(failure.message).toContain('fo-files: nothing of this run there');
    expect(failure.message).toContain('the old primary stays fenced');
    expect(await databaseExists(world.pgServer, world.targetDb)).toBe(false);
    expect(existsSync(world.redisDir)).toBe(false);
    expect(await redisAnswers(world.redisPort)).toBe(false);
    expect(readdirSync(world.filesDir)).toEqual(['precious.txt']);
    expect(hookLines(world)).toEqual(['fence false gothenburg']);
    const status = await handle.query('status') as FailoverStatus;
    expect(Object.fromEntries(status.steps.map((s) => [s.step, s.state]))).toMatchObject({ fence: 'done', restore: 'compensated', verify: 'skipped', cutover: 'skipped', teardown: 'done' });
    expect(status.steps.find((s) => s.step === 'restore')!.sources!['fo-files']!.state).toBe('failed');
    const failed = alerts().find((a) => a.kind === 'failover-failed')!;
    expect(failed.title).toContain('failed at restore (TargetNotEmpty)');
    expect(failed.text).toContain('fo-cache: torn down');
  }, 180_000);

  it('a failing cut-over hook runs undoCutover and tears the restored targets down', async () => {
    writeFileSync(`${world.hookLog}.fail-cutover`, '');
    const handle = await startFailover(harness.client, world, { drill: false });
    await approveWithTemporalCli(handle.workflowId);
    const failure = await failureOf(handle.result());
    expect(failure.type).toBe('ToolFailed');
    expect(failure.message).toContain('failed at cutover: the cut-over hook failed: /bin/sh: exit 3');
    expect(failure.message).toContain('undoCutover hook ran');
    expect(hookLines(world)).toEqual(['fence false gothenburg', 'cutover false gothenburg', 'undoCutover false gothenburg']);
    const status = await handle.query('status') as FailoverStatus;
    expect(Object.fromEntries(status.steps.map((s) => [s.step, s.state]))).toMatchObject({ restore: 'compensated', verify: 'compensated', cutover: 'compensated', teardown: 'done' });
    expect(status.hooks.find((h) => h.hook === 'cutover')!.stderrTail).toBe('cutover refused');
    expect(await databaseExists(world.pgServer, world.targetDb)).toBe(false);
    expect(existsSync(world.redisDir)).toBe(false);
    expect(existsSync(world.filesDir)).toBe(false);
    expect(await redisAnswers(world.redisPort)).toBe(false);
    expect(alerts().map((a) => a.kind)).toEqual(['failover-approval', 'failover-failed']);
  }, 180_000);
});
