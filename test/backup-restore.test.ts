import { trusted } from './support/signing';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import { restoreActivities } from '../activities/restore';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listBackups } from '../activities/catalog';
import { createDeps } from '../activities/deps';
import type { BackupSummary } from '../workflows/backup-source';
import type { RestoreResult } from '../activities/restore';
import type { PostgresDescription } from '../lib/manifest';
import { createSampleDatabase, tableFingerprints, withClient } from '../scripts/sample-db';
import { makeFixture, type Fixture } from './support/fixture';
import { historyText } from './support/secret-scan';
import { startHarness, type Harness } from './support/workers';
import { decrypted } from './support/codec';
import { renameDatabase, stagingName } from '../activities/sources/postgres/target';
import { LifeboatError } from '../lib/errors';

const servers = inject('servers');
const pg = { host: '127.0.0.1', port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password };

describe('a PostgreSQL backup through the backupSource workflow', () => {
  let fixture: Fixture;
  let harness: Harness;
  let summary: BackupSummary;

  beforeAll(async () => {
    await createSampleDatabase(pg, 'shop');
    fixture = await makeFixture(servers, (ctx) => ({ 'app-db': ctx.postgres('shop') }));
    harness = await startHarness(fixture.config);
    summary = await harness.client.workflow.execute('backupSource', {
      args: [{ source: 'app-db' }], workflowId: `test-backup-${fixture.prefix}`, taskQueue: `${fixture.config.temporal.taskQueuePrefix}stockholm`,
    });
  });

  afterAll(async () => {
    await harness?.close();
    fixture?.cleanup();
  });

  it('stores one encrypted object and a manifest whose hash and size match it', async () => {
    const storage = createDeps(fixture.config).storage('stockholm');
    const entries = await listBackups(storage, trusted, 'app-db');
    expect(entries).toHaveLength(1);
    const manifest = entries[0]!.manifest;
    expect(manifest.id).toBe(summary.backupId);
    expect(manifest.objects[0]).toMatchObject({ key: summary.key, size: summary.bytes, sha256: summary.sha256 });
    expect(manifest.encryption.recipients).toEqual([fixture.key.recipient]);
    expect(manifest.previousManifestSha256).toBeNull();
    expect(manifest.tools.pg_dump).toMatch(/pg_dump \(PostgreSQL\) 15/);
    expect(manifest.description).toMatchObject({ kind: 'postgres', serverVersion: expect.stringMatching(/^15\./) });
    const stat = await storage.stat(summary.key);
    expect(stat?.size).toBe(summary.bytes);
  });

  it('records exact row counts per table taken in the dump\'s own snapshot', async () => {
    const storage = createDeps(fixture.config).storage('stockholm');
    const [entry] = await listBackups(storage, trusted, 'app-db');
    const description = entry!.manifest.description as PostgresDescription;
    const counts = Object.fromEntries(description.tables.map((t) => [`${t.schema}.${t.name}`, t.rows]));
    const expected = await tableFingerprints(pg, 'shop');
    expect(counts).toEqual(Object.fromEntries(Object.entries(expected).map(([table, f]) => [table, f.rows])));
    expect(counts['public.orders']).toBe(10_000);
  });

  it('restores into a new database that equals the source table by table', async () => {
    const result: RestoreResult = await harness.client.workflow.execute('restoreBackup', {
      args: [{ source: 'app-db', region: 'stockholm', backupId: 'latest', target: `postgres://postgres@127.0.0.1:${servers.postgres.port}/shop_restored`, targetPasswordEnv: Object.keys(fixture.env).find((k) => k.startsWith('PG_PASSWORD_')), clean: false, noOwner: false }],
      workflowId: `test-restore-${fixture.prefix}`, taskQueue: `${fixture.config.temporal.taskQueuePrefix}stockholm`,
    });
    expect(result.backupId).toBe(summary.backupId);
    expect(result.checked).toBe('5 of 5 tables have exactly the row counts recorded in the manifest');
    expect(await tableFingerprints(pg, 'shop_restored')).toEqual(await tableFingerprints(pg, 'shop'));
    const view = await withClient(pg, 'shop_restored', (c) => c.query('select count(*)::int as n from order_totals'));
    expect(view.rows[0].n).toBe(2000);
    // One pass into a staging database, renamed into place: the name is the target's, the staging one is gone, sessions are allowed.
    const databases = await withClient(pg, 'postgres', (c) => c.query<{ datname: string; datallowconn: boolean }>('select datname, datallowconn from pg_database where datname = any($1)', [['shop_restored', stagingName('shop_restored', summary.backupId)]]));
    expect(databases.rows).toEqual([{ datname: 'shop_restored', datallowconn: true }]);
  });

  it('restores with restore.jobs: 2 through a scratch file that is gone afterwards, into a new database equal to the source', async () => {
    const scratchDir = mkdtempSync(join(tmpdir(), 'lifeboat-scratch-'));
    try {
      const config = { ...fixture.config, restore: { targetPasswordEnvs: [], jobs: 2, scratchDir } };
      const activities = restoreActivities(createDeps(config));
      const result: RestoreResult = await new MockActivityEnvironment().run(activities.restoreBackupTo, {
        source: 'app-db', region: 'stockholm', backupId: summary.backupId, target: `postgres://postgres@127.0.0.1:${servers.postgres.port}/shop_parallel`,
        targetPasswordEnv: Object.keys(fixture.env).find((k) => k.startsWith('PG_PASSWORD_')), clean: false, noOwner: true,
      });
      expect(result.checked).toBe('5 of 5 tables have exactly the row counts recorded in the manifest');
      expect(await tableFingerprints(pg, 'shop_parallel')).toEqual(await tableFingerprints(pg, 'shop'));
      expect(readdirSync(scratchDir)).toEqual([]);
    } finally {
      await withClient(pg, 'postgres', (c) => c.query('drop database if exists shop_parallel'));
      rmSync(scratchDir, { recursive: true, force: true });
    }
  });

  it('names a full restore.scratchDir as a Config error, not retried, and leaves neither the target nor a staging database', async () => {
    // A 16 KiB tmpfs: smaller than the shop's dump, so writing the scratch file meets ENOSPC.
    const scratchDir = mkdtempSync(join(tmpdir(), 'lifeboat-scratch-full-'));
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=16k', 'tmpfs', scratchDir]).catch((error: unknown) => {
      throw new Error(`this test mounts a small tmpfs and needs root (as the test suite does for runuser): ${(error as Error).message}`);
    });
    try {
      const config = { ...fixture.config, restore: { targetPasswordEnvs: [], jobs: 2, scratchDir } };
      const error = await new MockActivityEnvironment().run(restoreActivities(createDeps(config)).restoreBackupTo, {
        source: 'app-db', region: 'stockholm', backupId: summary.backupId, target: `postgres://postgres@127.0.0.1:${servers.postgres.port}/shop_scratch_full`,
        targetPasswordEnv: Object.keys(fixture.env).find((k) => k.startsWith('PG_PASSWORD_')), clean: false, noOwner: true,
      }).then(() => undefined, (e: unknown) => e as LifeboatError);
      expect(error).toBeInstanceOf(LifeboatError);
      expect(error!.type).toBe('Config');
      expect(error!.retryable).toBe(false);
      expect(error!.message).toContain(`restore.scratchDir (${scratchDir}/lifeboat-restore-`);
      expect(error!.message).toMatch(/No space left/);
      const left = await withClient(pg, 'postgres', (c) => c.query('select datname from pg_database where datname = any($1)', [['shop_scratch_full', stagingName('shop_scratch_full', summary.backupId)]]));
      expect(left.rows).toEqual([]);
      expect(readdirSync(scratchDir)).toEqual([]);
    } finally {
      await execa('umount', [scratchDir]).catch(() => undefined);
      rmSync(scratchDir, { recursive: true, force: true });
    }
  });

  it('keeps a verified restore under its staging name, and says how to finish, when a session holds it past the wait', async () => {
    const staging = stagingName('shop_kept', summary.backupId);
    await withClient(pg, 'postgres', async (c) => {
      await c.query(`drop database if exists "${staging}"`);
      await c.query('drop database if exists shop_kept');
      await c.query(`create database "${staging}"`);
    });
    const url = (db: string) => `postgres://${pg.user}@127.0.0.1:${pg.port}/${db}`;
    // A session that is not autovacuum's, opened before new ones were refused: nothing may end it.
    const held = await withClient(pg, staging, async (session) => {
      await session.query('create table kept (id int); insert into kept values (1)');
      return renameDatabase({ url: url(staging), password: pg.password }, 'shop_kept', 1_000).then(() => undefined, (error: unknown) => error as LifeboatError);
    });
    expect(held).toBeInstanceOf(LifeboatError);
    expect(held!.type).toBe('StagingKept');
    expect(held!.message).toContain(`the restore is complete and verified in database ${staging}`);
    expect(held!.hint).toContain(`ALTER DATABASE "${staging}" RENAME TO "shop_kept"`);
    // The session gone, the same call finishes the job, and the restored rows are there under the target's name.
    await renameDatabase({ url: url(staging), password: pg.password }, 'shop_kept', 10_000);
    const kept = await withClient(pg, 'shop_kept', (c) => c.query('select count(*)::int as n from kept'));
    expect(kept.rows[0].n).toBe(1);
    await withClient(pg, 'postgres', (c) => c.query('drop database shop_kept'));
  });

  it('keeps every secret out of Temporal history and out of the manifest', async () => {
    const secrets = [servers.postgres.password, ...Object.values(servers.s3).map((s) => s.secretAccessKey)];
    const histories: string[] = [];
    for await (const run of harness.client.workflow.list({ query: `TaskQueue = '${fixture.config.temporal.taskQueuePrefix}stockholm'` })) {
      // historyText decodes payload bytes; JSON.stringify would write them as base64, hiding any secret.
      histories.push(historyText(await decrypted(harness.client, await harness.client.workflow.getHandle(run.workflowId, run.runId).fetchHistory())));
    }
    expect(histories.length).toBeGreaterThanOrEqual(2);
    const storage = createDeps(fixture.config).storage('stockholm');
    const manifests = (await listBackups(storage, trusted, 'app-db')).map((e) => JSON.stringify(e.manifest));
    for (const text of [...histories, ...manifests]) {
      for (const secret of secrets) expect(text).not.toContain(secret);
    }
  });

  it('chains the second backup\'s manifest to the first', async () => {
    const second: BackupSummary = await harness.client.workflow.execute('backupSource', {
      args: [{ source: 'app-db' }], workflowId: `test-backup2-${fixture.prefix}`, taskQueue: `${fixture.config.temporal.taskQueuePrefix}stockholm`,
    });
    const entries = await listBackups(createDeps(fixture.config).storage('stockholm'), trusted, 'app-db');
    expect(entries.map((e) => e.manifest.id)).toEqual([summary.backupId, second.backupId]);
    expect(entries[1]!.manifest.previousManifestSha256).toBe(entries[0]!.manifestSha256);
  });
});
