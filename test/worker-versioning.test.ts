import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startShippers } from '../client/commands/wal';
import type { Config } from '../lib/config/schema';
import { makeFixture, type Fixture } from './support/fixture';
import { runBackup } from './support/runs';
import { startHarness, type Harness } from './support/workers';

// Worker Deployment Versioning on the real dev server: a backup is pinned to the build that ran it,
// the WAL shipper follows the current build (README "Upgrades").

const servers = inject('servers');
const { VersioningBehavior } = temporal.api.enums.v1;

describe('workers of a Worker Deployment (temporal.deployment)', () => {
  let fixture: Fixture;
  let config: Config;
  const harnesses: Harness[] = [];
  let shipper: WorkflowHandle | undefined;
  const deploymentName = `lifeboat-${randomBytes(4).toString('hex')}`;

  /** Starts every region's worker as build `buildId` and makes that build current, as the README's upgrade steps do. */
  const deploy = async (buildId: string): Promise<Harness> => {
    process.env.LIFEBOAT_BUILD_ID = buildId;
    const harness = await startHarness(config);
    delete process.env.LIFEBOAT_BUILD_ID;
    harnesses.push(harness);
    expect(harness.workers.version).toEqual({ deploymentName, buildId });
    // The server learns of a version from its first polls.
    await expect.poll(async () => (await execa('temporal', ['worker', 'deployment', 'set-current-version', '--address', servers.temporal.address, '--namespace', servers.temporal.namespace,
      '--deployment-name', deploymentName, '--build-id', buildId, '--yes'], { reject: false })).exitCode, { timeout: 30_000, interval: 1000 }).toBe(0);
    return harness;
  };
  const versioningOf = async (handle: WorkflowHandle) => {
    const info = (await handle.describe()).raw.workflowExecutionInfo?.versioningInfo;
    return { behavior: info?.behavior, buildId: info?.deploymentVersion?.buildId };
  };

  beforeAll(async () => {
    const tree = join(servers.workDir, `versioned-tree-${randomBytes(4).toString('hex')}`);
    const spool = join(servers.workDir, `versioned-spool-${randomBytes(4).toString('hex')}`);
    mkdirSync(tree, { recursive: true });
    mkdirSync(spool, { recursive: true });
    writeFileSync(join(tree, 'a.txt'), 'pinned\n');
    fixture = await makeFixture(servers, (ctx) => ({
      'versioned-files': { kind: 'files', region: 'stockholm', path: tree },
      'versioned-wal': { ...ctx.postgres('postgres'), mode: 'physical', wal: { spool, interval: '1s', roundsPerRun: 100 } },
    }), { sync: { afterBackup: false } });
    config = { ...fixture.config, temporal: { ...fixture.config.temporal, deployment: { name: deploymentName } } };
  });

  afterAll(async () => {
    await shipper?.terminate().catch(() => undefined);
    for (const harness of harnesses) await harness.close();
    fixture?.cleanup();
  });

  it('pins a backup to the build that ran it and lets the WAL shipper move to the current build', async () => {
    const first = await deploy('build-1');
    const backup = await runBackup(first.client, config, 'versioned-files');
    const [started] = await startShippers(first.client, config, 'versioned-wal');
    shipper = first.client.workflow.getHandle(started!.workflowId);
    await expect.poll(() => versioningOf(shipper!), { timeout: 30_000, interval: 500 }).toEqual({ behavior: VersioningBehavior.VERSIONING_BEHAVIOR_AUTO_UPGRADE, buildId: 'build-1' });
    const backups = [];
    for await (const run of first.client.workflow.list({ query: `WorkflowType = 'backupSource' AND TaskQueue = '${config.temporal.taskQueuePrefix}stockholm'` })) backups.push(run);
    expect(backups).toHaveLength(1);
    expect(await versioningOf(first.client.workflow.getHandle(backups[0]!.workflowId, backups[0]!.runId))).toEqual({ behavior: VersioningBehavior.VERSIONING_BEHAVIOR_PINNED, buildId: 'build-1' });
    expect(backup.bytes).toBeGreaterThan(0);

    // build-2 becomes current: the shipper's next round runs on it, a new backup starts on it.
    await deploy('build-2');
    await expect.poll(async () => (await versioningOf(shipper!)).buildId, { timeout: 30_000, interval: 500 }).toBe('build-2');
    await runBackup(first.client, config, 'versioned-files');
    const after = [];
    for await (const run of first.client.workflow.list({ query: `WorkflowType = 'backupSource' AND TaskQueue = '${config.temporal.taskQueuePrefix}stockholm'` })) after.push(run);
    const versions = await Promise.all(after.map((run) => versioningOf(first.client.workflow.getHandle(run.workflowId, run.runId))));
    expect(versions.map((v) => v.buildId).sort()).toEqual(['build-1', 'build-2']);
  }, 120_000);
});
