import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { decodeOptionalFailureToOptionalError } from '@temporalio/common/lib/internal-non-workflow';
import type { temporal } from '@temporalio/proto';
import { execa } from 'execa';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { fromRawPayload } from '../client/raw-payload';
import { createNoiseDatabase, recreateDatabase, withClient } from '../scripts/sample-db';
import { makeFixture, type Fixture } from './support/fixture';
import { runBackup } from './support/runs';
import { startHarness, type Harness } from './support/workers';

const servers = inject('servers');
const pgServer = { host: '127.0.0.1', port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password };
const ROWS = 20_000;

type PendingActivity = temporal.api.workflow.v1.IPendingActivityInfo;

/** The pending activity's last failed attempt and its last heartbeat, decrypted as the client reads them. */
async function decoded(client: Client, activity: PendingActivity): Promise<{ failure: ApplicationFailure | undefined; details: Record<string, unknown> | undefined }> {
  const payload = activity.heartbeatDetails?.payloads?.[0];
  const failure = await decodeOptionalFailureToOptionalError(client.options.loadedDataConverter, activity.lastFailure);
  return {
    failure: failure instanceof ApplicationFailure ? failure : undefined,
    details: payload ? await fromRawPayload<Record<string, unknown>>(client.workflow, payload) : undefined,
  };
}

describe('heartbeats that carry progress, and the stall watchdog', () => {
  let fixture: Fixture;
  let harness: Harness;
  let tree: string;

  beforeAll(async () => {
    await createNoiseDatabase(pgServer, 'hb_watch_src', ROWS);
    tree = mkdtempSync(join(tmpdir(), 'lifeboat-hb-tree-'));
    // 30,000 empty files: walking them takes longer than the 1 s heartbeat timeout below, and comes before the first byte.
    for (let d = 0; d < 60; d += 1) {
      const directory = join(tree, `d${d}`);
      mkdirSync(directory);
      await execa('sh', ['-c', 'seq -f f%g 1 500 | xargs touch'], { cwd: directory });
    }
    fixture = await makeFixture(servers, (ctx) => ({
      'app-db': ctx.postgres('hb_watch_src'),
      tree: { kind: 'files', region: 'stockholm', path: tree },
    }), { compression: { level: 1 }, sync: { afterBackup: false } });
    // A dead worker is noticed within 1 s; nothing advancing for 3 s is a stall.
    fixture.config.temporal.heartbeatTimeout = '1s';
    fixture.config.temporal.stallTimeout = '3s';
    harness = await startHarness(fixture.config);
    await runBackup(harness.client, fixture.config, 'app-db');
  }, 120_000);

  afterAll(async () => {
    await harness?.close();
    fixture?.cleanup();
    if (tree) rmSync(tree, { recursive: true, force: true });
  });

  it('heartbeats a files backup from its first line, through a tree walk longer than the heartbeat timeout', async () => {
    const started = Date.now();
    const summary = await runBackup(harness.client, fixture.config, 'tree');
    expect(summary.backupId).toMatch(/\S/);
    // On the code before this change the walk ran before the first heartbeat: every attempt timed out after 1 s.
    expect(Date.now() - started).toBeGreaterThan(1000);
  }, 120_000);

  it('fails a restore attempt whose pg_restore waits on a lock with the watchdog\'s message, then restores once the lock is gone', async () => {
    await recreateDatabase(pgServer, 'hb_watch_dst');
    await withClient(pgServer, 'hb_watch_dst', (c) => c.query('create table noise (id int)'));
    // Held by the test: pg_restore --clean must drop the table, and waits for this lock without a byte of progress.
    const holder = new pg.Client({ ...pgServer, database: 'hb_watch_dst' });
    await holder.connect();
    await holder.query('begin');
    await holder.query('lock table noise in access share mode');
    const passwordEnv = Object.keys(fixture.env).find((k) => k.startsWith('PG_PASSWORD_'))!;
    const target = `postgres://${servers.postgres.user}@127.0.0.1:${servers.postgres.port}/hb_watch_dst`;
    const started = Date.now();
    const handle = await harness.client.workflow.start('restoreBackup', {
      args: [{ source: 'app-db', region: 'stockholm', backupId: 'latest', target, targetPasswordEnv: passwordEnv, clean: true, noOwner: false }],
      workflowId: `test-hb-watch-${process.pid}-${Date.now()}`,
      taskQueue: `${fixture.config.temporal.taskQueuePrefix}stockholm`,
    });
    let stalled: Awaited<ReturnType<typeof decoded>> | undefined;
    try {
      while (!stalled && Date.now() - started < 60_000) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        const pending = (await handle.describe()).raw.pendingActivities ?? [];
        const restore = pending.find((a) => a.activityType?.name === 'restoreBackupTo');
        if (restore?.lastFailure) stalled = await decoded(harness.client, restore);
      }
    } finally {
      await holder.query('rollback');
      await holder.end();
    }
    const seenAfter = Date.now() - started;
    expect(stalled, 'no failed attempt within 60 s: the hung pg_restore was not stopped').toBeDefined();
    // The watchdog's failure, not a heartbeat timeout: heartbeats went on all the while, progress did not.
    expect(stalled!.failure?.message).toMatch(/^pg_restore into postgres:\/\/.*hb_watch_dst made no progress for 3s/);
    expect(stalled!.failure?.type).toBe('Stalled');
    expect(stalled!.failure?.nonRetryable).toBeFalsy();
    // The heartbeat names where it stood: the object and the bytes fed before pg_restore stopped reading.
    expect(stalled!.details).toMatchObject({ key: expect.stringMatching(/app-db\/.*\/dump/) as unknown, bytes: expect.any(Number) as unknown });
    expect(seenAfter).toBeLessThan(30_000);
    // Retryable: the next attempt, with the lock gone, restores everything.
    await handle.result();
    const rows = await withClient(pgServer, 'hb_watch_dst', async (c) => Number((await c.query('select count(*) as n from noise')).rows[0].n));
    expect(rows).toBe(ROWS);
    console.log(`stall seen after ${seenAfter} ms; restore done after ${Date.now() - started} ms`);
  }, 120_000);
});
