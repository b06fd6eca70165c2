import { trusted } from './support/signing';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listBackups } from '../activities/catalog';
import { createDeps } from '../activities/deps';
import { removeRestoredCluster } from '../activities/sources/postgres/pitr';
import { socketDirOf, workDirOf } from '../activities/sources/postgres/restore-cluster';
import type { StorageBackend } from '../activities/storage/backend';
import { brief, type PostgresPhysicalDescription } from '../lib/manifest';
import type { BackupSummary } from '../workflows/backup-source';
import { freePorts } from './harness/ports';
import { archiveCurrentSegment, physicalSource, startArchivingPostgres, shipEverything, type ArchivingPostgres } from './support/archiving-postgres';
import { makeFixture, type Fixture } from './support/fixture';
import { runBackup, runRestore } from './support/runs';
import { runVerify } from './support/verify';
import { failureOf, startHarness, type Harness } from './support/workers';

const servers = inject('servers');
const lifeboat = fileURLToPath(new URL('../bin/lifeboat', import.meta.url));

describe('a physical PostgreSQL source: base backups through the ordinary data path', () => {
  let dir: string;
  let scratch: string;
  let cluster: ArchivingPostgres;
  let fixture: Fixture;
  let harness: Harness;
  let storage: StorageBackend;
  let summary: BackupSummary;
  let backupMs: number;
  const cli = (args: string[]) => execa(lifeboat, ['--config', fixture.configFile, ...args], { env: fixture.env, reject: false });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lifeboat-physical-'));
    scratch = join(dir, 'scratch');
    mkdirSync(scratch);
    cluster = await startArchivingPostgres(dir);
    await cluster.query('create database shop');
    await cluster.query('create table items (id int primary key, name text not null)', 'shop');
    await cluster.query("insert into items select i, 'item ' || i from generate_series(1, 500) i", 'shop');
    await cluster.query('create index on items (name)', 'shop');
    await cluster.query("create role norep login password 'norep-password'");
    process.env.PHYSICAL_NOREP_PASSWORD = 'norep-password';
    fixture = await makeFixture(servers, () => ({
      'base-db': {
        ...physicalSource(cluster, `PHYSICAL_PG_${Date.now()}`),
        url: `postgres://postgres@127.0.0.1:${cluster.postgres.port}/shop`,
        verify: { checks: [{ name: 'items', sql: 'select count(*) from items', expect: '= 500' }] },
      },
      'norep-db': { kind: 'postgres', region: 'stockholm', mode: 'physical', url: `postgres://norep@127.0.0.1:${cluster.postgres.port}/shop`, passwordEnv: 'PHYSICAL_NOREP_PASSWORD' },
    }), { sync: { afterBackup: false } }, { verify: { target: { scratchDir: scratch } } });
    storage = createDeps(fixture.config).storage('stockholm');
    harness = await startHarness(fixture.config);
    const started = Date.now();
    summary = await runBackup(harness.client, fixture.config, 'base-db');
    backupMs = Date.now() - started;
  });

  afterAll(async () => {
    const restored = join(dir, 'restored');
    const marker = join(workDirOf(restored), 'restore.json');
    if (existsSync(marker)) await removeRestoredCluster({ dataDir: restored, port: 0 }, (JSON.parse(readFileSync(marker, 'utf8')) as { owner: string }).owner);
    await harness?.close();
    await cluster?.stop();
    fixture?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('stores one base backup whose manifest describes the cluster as pg_basebackup saw it', async () => {
    const [entry] = await listBackups(storage, trusted, 'base-db');
    const manifest = entry!.manifest;
    expect(manifest.id).toBe(summary.backupId);
    expect(manifest.objects).toHaveLength(1);
    expect(manifest.objects[0]).toMatchObject({ key: `base-db/${summary.backupId}/base.tar.zst.age`, content: 'pg_basebackup tar (-Ft -X fetch), zstd, age' });
    expect(manifest.tools.pg_basebackup).toMatch(/pg_basebackup \(PostgreSQL\) 15/);
    const description = manifest.description as PostgresPhysicalDescription;
    const [control] = await cluster.query<{ id: string }>('select system_identifier::text as id from pg_control_system()');
    expect(description).toMatchObject({
      kind: 'postgres', mode: 'physical', timeline: 1, systemIdentifier: control!.id, hasBackupManifest: true,
      walSegmentBytes: 16 * 1024 * 1024, bootstrapSuperuser: 'postgres', databases: ['postgres', 'shop'],
    });
    expect(description.startWalFile).toMatch(/^00000001[0-9A-F]{16}$/);
    expect(description.stopWalFile >= description.startWalFile).toBe(true);
    expect(description.startLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(description.stopLsn).not.toBe(description.startLsn);
    expect(Date.parse(description.startTime)).toBeLessThanOrEqual(Date.parse(manifest.finishedAt));
    expect(description.sizeBytes).toBeGreaterThan(20_000_000);
    expect(manifest.restoreWith).toContain('age -d -i IDENTITY base.tar.zst.age | zstd -d | tar -x -C DATADIR');
    expect(brief(description)).toBe('base backup of 2 databases');
    console.log(`base backup of ${(description.sizeBytes / 1e6).toFixed(1)} MB (stored ${(summary.bytes / 1e6).toFixed(1)} MB) in ${backupMs} ms`);
  });

  it('lifeboat backups list and status show it like any other backup', async () => {
    const list = await cli(['backups', 'list', '--source', 'base-db']);
    expect(list.exitCode).toBe(0);
    expect(list.stdout).toContain(summary.backupId);
    expect(list.stdout).toContain('base backup of 2 databases');
    const status = await cli(['status']);
    // norep-db is never backed up in this file: status says so with its exit code.
    expect(status.exitCode).toBe(25);
    expect(status.stderr).toContain('norep-db (never backed up)');
    expect(status.stdout).toMatch(/base-db/);
  });

  it('lifeboat doctor checks the server archives WAL, the user may replicate, and the restore tools are there', async () => {
    const result = await cli(['--json', 'doctor']);
    const report = JSON.parse(result.stdout) as { checks: Array<{ check: string; ok: boolean; detail: string }> };
    const byName = Object.fromEntries(report.checks.map((c) => [c.check, c]));
    expect(byName['source base-db']).toMatchObject({ ok: true, detail: expect.stringMatching(/^PostgreSQL 15\.\d+.*; wal_level replica, archive_mode on, replication allowed$/) });
    for (const tool of ['pg_basebackup', 'pg_ctl', 'pg_verifybackup', 'pg_amcheck']) expect(byName[`tool ${tool}`], tool).toMatchObject({ ok: true });
  });

  it('a backup user without REPLICATION fails as Config, saying what to grant, and leaves no backup', async () => {
    const failure = await failureOf(runBackup(harness.client, fixture.config, 'norep-db'));
    expect(failure.type).toBe('Config');
    expect(failure.message).toContain('pg_basebackup of norep-db: the backup user may not replicate: ');
    // The temporary slot that holds the backup's WAL is refused first (PostgreSQL 15's wording; 16 says "permission denied").
    expect(failure.message).toMatch(/must be superuser or replication role to use replication slots|permission denied to use replication slots/);
    expect(await listBackups(storage, trusted, 'norep-db')).toEqual([]);
  });

  it('passes integrity verification', async () => {
    const result = await runVerify(harness.client, fixture.config, { source: 'base-db', region: 'stockholm', level: 'integrity' });
    expect(result.outcome).toBe('passed');
  });

  it('restore-level verification restores it into a scratch cluster, runs pg_amcheck and the checks, and leaves nothing behind', async () => {
    const result = await runVerify(harness.client, fixture.config, { source: 'base-db', region: 'stockholm', level: 'restore' });
    const [region] = result.regions;
    expect(result.outcome, JSON.stringify(region?.checks)).toBe('passed');
    const names = region!.checks.map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(['restore', 'pg_verifybackup', 'recovery', 'pg_amcheck', 'items']));
    expect(region!.checks.find((c) => c.name === 'items')!.detail).toBe('select count(*) from items: expected = 500, found 500');
    expect(readdirSync(scratch)).toEqual([]);
    const { stdout } = await execa('ps', ['-eo', 'args']);
    expect(stdout).not.toContain(scratch);
    console.log(`restore-level verification of the base backup: restore ${region!.restoreMs} ms`);
  });

  it('syncs to the other region like any backup, proves restorable there, and retention plans it', async () => {
    const sync = await cli(['sync', '--source', 'base-db', '--wait']);
    expect(sync.exitCode, sync.stderr).toBe(0);
    const [copy] = await listBackups(createDeps(fixture.config).storage('gothenburg'), trusted, 'base-db');
    const [original] = await listBackups(storage, trusted, 'base-db');
    expect(copy!.manifest.objects).toEqual(original!.manifest.objects);
    const result = await runVerify(harness.client, fixture.config, { source: 'base-db', region: 'gothenburg', level: 'restore' });
    expect(result.outcome, JSON.stringify(result.regions[0]?.checks)).toBe('passed');
    const retention = await cli(['retention', 'apply', '--source', 'base-db', '--dry-run']);
    expect(retention.exitCode, retention.stderr).toBe(0);
    expect(retention.stdout).toContain('base-db');
  });

  it('lifeboat restore --to DIR --port N --at TIME brings up a cluster at that moment', async () => {
    await cluster.query("insert into items values (1001, 'kept')", 'shop');
    await archiveCurrentSegment(cluster);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const at = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await cluster.query("insert into items values (1002, 'after the target')", 'shop');
    await archiveCurrentSegment(cluster);
    await shipEverything(fixture.config, 'base-db');
    const [port] = await freePorts(1);
    const dataDir = join(dir, 'restored');
    const run = await cli(['restore', 'base-db', '--to', dataDir, '--port', String(port), '--at', at]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toContain(`restored backup ${summary.backupId} of base-db into ${dataDir} (127.0.0.1:${port})`);
    expect(run.stdout).toMatch(/recovered to \S+ \(LSN [0-9A-F]+\/[0-9A-F]+, timeline 2\) with \d+ archived WAL file\(s\)/);
    const client = new pg.Client({ host: socketDirOf(dataDir), port, user: 'postgres', database: 'shop' });
    await client.connect();
    const { rows } = await client.query<{ id: number }>('select id from items where id > 1000 order by id');
    await client.end();
    expect(rows.map((r) => r.id)).toEqual([1001]);
    // The workflow id is the owner: only that restore's cleanup may remove it.
    expect(await removeRestoredCluster({ dataDir, port: port! }, 'someone-else')).toMatchObject({ removed: false });
    expect(existsSync(join(dataDir, 'PG_VERSION'))).toBe(true);
  });

  it('a restoreBackup of a base backup into a database URL fails as Usage, naming the data directory form', async () => {
    const failure = await failureOf(runRestore(harness.client, fixture.config, { source: 'base-db', target: `postgres://postgres@127.0.0.1:${cluster.postgres.port}/elsewhere` }));
    expect(failure.type).toBe('Usage');
    expect(failure.message).toContain(`backup ${summary.backupId} of base-db is a physical base backup: it restores into a data directory, not into a database`);
    const [row] = await cluster.query<{ n: number }>("select count(*)::int as n from pg_database where datname = 'elsewhere'");
    expect(row!.n).toBe(0);
  });

  it('lifeboat restore of a physical source needs --port and takes at most one of --at and --lsn', async () => {
    const noPort = await cli(['restore', 'base-db', '--to', join(dir, 'x')]);
    expect(noPort.exitCode).toBe(2);
    expect(noPort.stderr).toContain('--port is required for a physical source');
    const both = await cli(['restore', 'base-db', '--to', join(dir, 'x'), '--port', '5999', '--at', '2026-01-01T00:00:00Z', '--lsn', '0/1']);
    expect(both.exitCode).toBe(2);
    expect(both.stderr).toContain('at most one of --at TIME or --lsn LSN');
  });
});
