import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { verifyWorkflowId } from '../lib/workflow-ids';
import type { VerifyResult } from '../workflows/verify-restore';
import { createNoiseDatabase, withClient } from '../scripts/sample-db';
import { makeFixture, type Fixture } from './support/fixture';
import { runBackup } from './support/runs';
import { startWorkerProcess, type WorkerProcess } from './support/worker-process';
import { activityAttempts } from './support/runs';
import { dataConverterOf } from '../lib/codec/data-converter';

const servers = inject('servers');
const pgServer = { host: '127.0.0.1', port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password };

/** Scratch databases of verifyRestore runs (their scratch ids start with "v"), and whether pg_restore is writing into one. */
async function scratchState(): Promise<{ databases: string[]; restoring: boolean }> {
  return withClient(pgServer, 'postgres', async (client) => {
    const databases = (await client.query<{ datname: string }>("select datname from pg_database where datname like 'lifeboat\\_verify\\_v%'")).rows.map((r) => r.datname);
    const restoring = (await client.query("select 1 from pg_stat_activity where datname like 'lifeboat\\_verify\\_v%' and application_name = 'pg_restore'")).rows.length > 0;
    return { databases, restoring };
  });
}

describe('a worker killed during a restore-level verification', () => {
  let fixture: Fixture;
  let client: Client;
  let scratchDir: string;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    // Random bytes: a dump large enough that pg_restore runs for a while before the kill.
    await createNoiseDatabase(pgServer, 'vr_crash_src', 100000);
    scratchDir = mkdtempSync(join(tmpdir(), 'lifeboat-vr-scratch-'));
    const passwordEnv = `VR_CRASH_PG_PASSWORD_${process.pid}`;
    fixture = await makeFixture(servers, (ctx) => ({ 'vr-crash-db': ctx.postgres('vr_crash_src') }), { sync: { afterBackup: false } }, {
      verify: { target: { scratchDir, postgres: { url: `postgres://${servers.postgres.user}@127.0.0.1:${servers.postgres.port}/postgres`, passwordEnv } } },
    });
    fixture.env[passwordEnv] = servers.postgres.password;
    client = new Client({ connection: await Connection.connect({ address: servers.temporal.address }), namespace: servers.temporal.namespace, dataConverter: dataConverterOf(fixture.config) });
  }, 120_000);

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await client?.connection.close();
    fixture?.cleanup();
    if (scratchDir) rmSync(scratchDir, { recursive: true, force: true });
  });

  it('completes on retry with every check passed and leaves no scratch database or directory behind', async () => {
    const first = startWorkerProcess(fixture.configFile, fixture.env);
    workers.push(first);
    await runBackup(client, fixture.config, 'vr-crash-db');
    const handle = await client.workflow.start('verifyRestore', {
      args: [{ source: 'vr-crash-db', level: 'restore', region: 'stockholm' }],
      workflowId: verifyWorkflowId(fixture.config.temporal.taskQueuePrefix, 'vr-crash-db'),
      taskQueue: `${fixture.config.temporal.taskQueuePrefix}${fixture.config.primaryRegion}`,
    });

    await expect.poll(async () => (await scratchState()).restoring, { timeout: 120_000, interval: 100 }).toBe(true);
    first.crash();
    // Killed mid-restore: the scratch database is there, half restored.
    expect((await scratchState()).databases).toHaveLength(1);

    workers.push(startWorkerProcess(fixture.configFile, fixture.env));
    const result: VerifyResult = await handle.result();
    expect(result.outcome).toBe('passed');
    const checks = result.regions[0]!.checks;
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    expect(checks.find((c) => c.name === 'row count public.noise')!.detail).toBe('expected 100000 rows, found 100000');
    expect(result.regions[0]!.restoreMs).toBeGreaterThan(0);

    expect(await scratchState()).toEqual({ databases: [], restoring: false });
    expect(readdirSync(scratchDir)).toEqual([]);
    const restoreAttempts = await activityAttempts(handle, 'restoreLevelCheck');
    expect(Math.max(...restoreAttempts)).toBeGreaterThanOrEqual(2);
  }, 300_000);
});
