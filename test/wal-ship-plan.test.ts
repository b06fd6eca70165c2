import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkflowHandle } from '@temporalio/client';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { shipperDoctorLine, startShippers } from '../client/commands/wal';
import type { Alert } from '../lib/alerts';
import { walShipperWorkflowId } from '../lib/workflow-ids';
import { walStatusQuery, type shipWal } from '../workflows/ship-wal';
import { makeFixture, type Fixture } from './support/fixture';
import { startReceiver, type Receiver } from './support/receiver';
import { startHarness, type Harness } from './support/workers';

// A shipper whose worker cannot plan it (the worker's config lacks the source) keeps going with
// backoff and alerts; once the worker is fixed it ships again. A stopped shipper is what doctor
// and schedules apply see, and apply starts it again.

const servers = inject('servers');
const lifeboat = fileURLToPath(new URL('../bin/lifeboat', import.meta.url));
const source = 'plan-db';
const hookPath = '/alerts';

describe('a WAL shipper that cannot plan', () => {
  let fixture: Fixture;
  let harness: Harness | undefined;
  let receiver: Receiver;
  let handle: WorkflowHandle<typeof shipWal>;
  const cli = (args: string[]) => execa(lifeboat, ['--config', fixture.configFile, ...args], { reject: false });
  const alerts = () => receiver.requests.filter((r) => r.path === hookPath).map((r) => JSON.parse(r.body) as Alert).filter((a) => a.source === source);

  beforeAll(async () => {
    receiver = await startReceiver();
    const hookEnv = `PLAN_HOOK_${randomBytes(4).toString('hex')}`;
    process.env[hookEnv] = `${receiver.url}${hookPath}`;
    fixture = await makeFixture(servers, (ctx) => ({
      [source]: { ...ctx.postgres('postgres'), mode: 'physical', wal: { spool: join(servers.workDir, `plan-spool-${randomBytes(4).toString('hex')}`), interval: '1s', roundsPerRun: 50 } },
    }), { alerts: { channels: [{ type: 'webhook', urlEnv: hookEnv }] } });
    const wal = fixture.config.sources[source] as { wal: { spool: string } };
    mkdirSync(wal.wal.spool, { recursive: true });
  });

  afterAll(async () => {
    await handle?.terminate().catch(() => undefined);
    await harness?.close();
    await receiver?.close();
    fixture?.cleanup();
  });

  it('keeps running, shows the failure and alerts once while its worker\'s config lacks the source, and ships once the worker has it', async () => {
    // A worker deployed with an older config: it has never heard of the source.
    harness = await startHarness({ ...fixture.config, sources: {} });
    const [started] = await startShippers(harness.client, fixture.config, source);
    handle = harness.client.workflow.getHandle<typeof shipWal>(started!.workflowId);
    await expect.poll(() => alerts().map((a) => a.kind), { timeout: 30_000 }).toEqual(['wal-ship-failed']);
    expect(alerts()[0]!.title).toBe(`${source}: WAL shipping stopped, the shipper cannot plan (Config)`);
    const failing = await handle.query(walStatusQuery);
    expect(failing).toMatchObject({ source, ship: null, shipError: { type: 'Config', message: `no source "${source}" in the worker's config` } });
    // Still there after the first retry, which failed again without a second alert.
    await new Promise((resolve) => setTimeout(resolve, 7000));
    expect((await handle.describe()).status.name).toBe('RUNNING');
    // That worker does not poll the source's spool either (it has never heard of it): doctor fails the shipper, with the round's error.
    await expect(shipperDoctorLine(harness.client, fixture.config, source)).rejects.toThrow(new RegExp(`no worker polls \\S+\\.spool\\.${source}: the WAL of ${source} stays in its spool; its last round \\(\\S+\\) failed: Config: no source "${source}" in the worker's config`));
    expect(alerts()).toHaveLength(1);

    // The worker is redeployed with the right config: the next attempt plans and the rounds run.
    await harness.close();
    harness = await startHarness(fixture.config);
    handle = harness.client.workflow.getHandle<typeof shipWal>(started!.workflowId);
    await expect.poll(async () => (await handle.query(walStatusQuery))?.rounds ?? 0, { timeout: 60_000, interval: 500 }).toBeGreaterThanOrEqual(1);
    expect(await handle.query(walStatusQuery)).toMatchObject({ shipError: null, ship: { failures: [] } });
    expect(alerts()).toHaveLength(1);
  }, 120_000);

  it('is reported by doctor when it is not running, and started again by schedules apply', async () => {
    await handle.terminate('the shipper stopped');
    const doctor = await cli(['--json', 'doctor']);
    const checks = (JSON.parse(doctor.stdout) as { checks: Array<{ check: string; ok: boolean; detail: string }> }).checks;
    expect(checks.find((c) => c.check === `wal shipper ${source}`)).toEqual({
      check: `wal shipper ${source}`, ok: false, detail: expect.stringMatching(/is not running.*lifeboat schedules apply/) as string, type: 'Config',
    });
    expect(doctor.exitCode).not.toBe(0);
    expect((await cli(['schedules', 'apply', '--dry-run'])).stdout).toContain(`WAL shipper of ${source}: not running, would be started`);
    const apply = await cli(['schedules', 'apply']);
    expect(apply.stdout, apply.stderr).toContain(`WAL shipper of ${source}: started`);
    const restarted = harness!.client.workflow.getHandle<typeof shipWal>(walShipperWorkflowId(fixture.config.temporal.taskQueuePrefix, source));
    expect((await restarted.describe()).status.name).toBe('RUNNING');
    await expect.poll(() => shipperDoctorLine(harness!.client, fixture.config, source), { timeout: 30_000, interval: 500 }).toEqual(expect.stringContaining('running, last round'));
  }, 120_000);
});
