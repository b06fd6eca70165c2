import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { decodeOptionalFailureToOptionalError } from '@temporalio/common/lib/internal-non-workflow';
import { execa } from 'execa';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listBackups } from '../activities/catalog';
import { createDeps } from '../activities/deps';
import type { RestoreResult } from '../activities/restore';
import type { PostgresPhysicalDescription } from '../lib/manifest';
import type { BackupSummary } from '../workflows/backup-source';
import { createSampleDatabase, tableFingerprints, withClient } from '../scripts/sample-db';
import { physicalSource, startArchivingPostgres, type ArchivingPostgres } from './support/archiving-postgres';
import { makeFixture, type Fixture } from './support/fixture';
import { trusted } from './support/signing';
import { startHarness, type Harness } from './support/workers';

// A region of type local takes the last tool's output by descriptor (a FIFO that a worker thread
// hashes into the temp file): these backups never pass through the worker's main thread, and must
// still store exactly what the manifest says, for every kind of source.

const servers = inject('servers');
const pgServer = { host: '127.0.0.1', port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password };
const REGION = 'disk';
/** A region on a 64 KiB tmpfs, where a dump cannot fit (mounted only when the tests run as root). */
const FULL = 'full';
const root = process.getuid?.() === 0;
const database = `local_region_${randomBytes(3).toString('hex')}`;

describe('a backup to a region of type local', () => {
  let fixture: Fixture;
  let harness: Harness;
  let regionDir: string;
  let clusterDir: string;
  let fullDir: string | undefined;
  let cluster: ArchivingPostgres;
  let runs = 0;

  const backup = (source: string): Promise<BackupSummary> => harness.client.workflow.execute('backupSource', {
    args: [{ source }], workflowId: `test-local-region-${fixture.prefix}${runs++}`, taskQueue: `${fixture.config.temporal.taskQueuePrefix}${REGION}`,
  });
  /** Every file under the backup's directory in the region, temp files included. */
  const filesOf = (source: string, backupId: string): string[] => {
    try {
      return readdirSync(join(regionDir, source, backupId)).sort();
    } catch {
      return [];
    }
  };
  /** The stored object decrypted and decompressed with the standard tools, as a break-glass restore would. */
  const plain = async (key: string): Promise<Buffer> => {
    const { stdout } = await execa('sh', ['-c', 'age -d -i "$1" "$2" | zstd -d -q -c', 'sh', fixture.key.identityFile, join(regionDir, key)], { encoding: 'buffer' });
    return Buffer.from(stdout);
  };

  /** The manifest's hash and size of the data object are sha256sum's and stat's of the file, and nothing half-written is left beside it. */
  const expectStoredAsRecorded = async (source: string, summary: BackupSummary) => {
    const [entry] = await listBackups(createDeps(fixture.config).storage(REGION), trusted, source);
    expect(entry!.manifest.id).toBe(summary.backupId);
    const data = entry!.manifest.objects.find((object) => object.role === 'data')!;
    const { stdout } = await execa('sha256sum', [join(regionDir, data.key)]);
    const { stdout: size } = await execa('stat', ['-c', '%s', join(regionDir, data.key)]);
    expect({ sha256: data.sha256, size: data.size }).toEqual({ sha256: stdout.split(' ')[0], size: Number(size) });
    expect(summary).toMatchObject({ key: data.key, sha256: data.sha256, bytes: data.size });
    expect(filesOf(source, summary.backupId).filter((name) => name.includes('.partial-'))).toEqual([]);
    return data.key;
  };

  beforeAll(async () => {
    await createSampleDatabase(pgServer, database);
    const tree = join(servers.workDir, `local-region-tree-${randomBytes(4).toString('hex')}`);
    mkdirSync(join(tree, 'a'), { recursive: true });
    for (let i = 0; i < 20; i += 1) writeFileSync(join(tree, 'a', `f${i}.txt`), randomBytes(4096).toString('hex'));
    clusterDir = mkdtempSync(join(tmpdir(), 'lifeboat-local-region-'));
    cluster = await startArchivingPostgres(clusterDir);
    regionDir = join(servers.workDir, `local-region-${randomBytes(4).toString('hex')}`);
    const full = join(clusterDir, 'full');
    mkdirSync(full);
    if (root) {
      await execa('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', full]);
      fullDir = full;
    }
    fixture = await makeFixture(servers, (ctx) => ({
      'local-db': ctx.postgres(database, { region: REGION }),
      'local-locked': ctx.postgres(database, { region: REGION }),
      'local-files': { kind: 'files', region: REGION, path: tree },
      'local-cache': { kind: 'redis', region: REGION, url: `redis://127.0.0.1:${servers.redis.port}` },
      'local-base': { ...physicalSource(cluster, `LOCAL_REGION_PG_${randomBytes(3).toString('hex')}`), region: REGION },
      'full-db': ctx.postgres(database, { region: FULL }),
    }), { primaryRegion: REGION, regions: { [REGION]: { storage: { type: 'local', path: regionDir } }, [FULL]: { storage: { type: 'local', path: full } } }, sync: { afterBackup: false } });
    harness = await startHarness(fixture.config);
  });

  afterAll(async () => {
    await harness?.close();
    await cluster?.stop();
    if (fullDir) await execa('umount', [fullDir]);
    fixture?.cleanup();
    if (clusterDir) rmSync(clusterDir, { recursive: true, force: true });
    await withClient(pgServer, 'postgres', (c) => c.query(`drop database if exists ${database}_restored`)).catch(() => undefined);
  });

  it('of PostgreSQL stores the bytes whose SHA-256 and size the manifest records, and restores into a database equal to the source', async () => {
    const summary = await backup('local-db');
    const key = await expectStoredAsRecorded('local-db', summary);
    expect((await plain(key)).subarray(0, 5).toString()).toBe('PGDMP');
    const result: RestoreResult = await harness.client.workflow.execute('restoreBackup', {
      args: [{ source: 'local-db', region: REGION, backupId: 'latest', target: `postgres://postgres@127.0.0.1:${servers.postgres.port}/${database}_restored`,
        targetPasswordEnv: Object.keys(fixture.env).find((k) => k.startsWith('PG_PASSWORD_')), clean: false, noOwner: false }],
      workflowId: `test-local-region-restore-${fixture.prefix}`, taskQueue: `${fixture.config.temporal.taskQueuePrefix}${REGION}`,
    });
    expect(result.backupId).toBe(summary.backupId);
    expect(await tableFingerprints(pgServer, `${database}_restored`)).toEqual(await tableFingerprints(pgServer, database));
  });

  it('of a file tree stores the bytes the manifest records, a tar of every file', async () => {
    const summary = await backup('local-files');
    const key = await expectStoredAsRecorded('local-files', summary);
    const listed = await execa('tar', ['-t'], { input: await plain(key) });
    expect(listed.stdout.split('\n').filter((name) => name.endsWith('.txt'))).toHaveLength(20);
  });

  it('of Redis stores the bytes the manifest records, an RDB that redis-check-rdb accepts', async () => {
    const summary = await backup('local-cache');
    const key = await expectStoredAsRecorded('local-cache', summary);
    const rdb = await plain(key);
    expect(rdb.subarray(0, 5).toString()).toBe('REDIS');
    const file = join(servers.workDir, `local-region-${randomBytes(4).toString('hex')}.rdb`);
    writeFileSync(file, rdb);
    await execa('redis-check-rdb', [file]);
  });

  it('of a physical cluster stores the bytes the manifest records, a tar whose backup_label the manifest describes', async () => {
    const summary = await backup('local-base');
    const key = await expectStoredAsRecorded('local-base', summary);
    const tar = await plain(key);
    const listed = await execa('tar', ['-t'], { input: tar });
    expect(listed.stdout.split('\n')).toEqual(expect.arrayContaining(['backup_label', 'backup_manifest']));
    const label = await execa('tar', ['-xO', 'backup_label'], { input: tar });
    const [entry] = await listBackups(createDeps(fixture.config).storage(REGION), trusted, 'local-base');
    expect(label.stdout).toContain(`START WAL LOCATION: ${(entry!.manifest.description as PostgresPhysicalDescription).startLsn} `);
  });

  it.skipIf(!root)('to a full disk fails its attempts naming the full disk, not the broken pipe age then saw', async () => {
    const handle = await harness.client.workflow.start('backupSource', {
      args: [{ source: 'full-db' }], workflowId: `test-local-region-full-${fixture.prefix}`, taskQueue: `${fixture.config.temporal.taskQueuePrefix}${FULL}`,
    });
    try {
      // A Storage failure is retried (space may come back): what each attempt failed with is the pending activity's last failure.
      const lastFailure = async () => (await handle.describe()).raw.pendingActivities?.[0]?.lastFailure ?? undefined;
      await expect.poll(lastFailure, { timeout: 60_000 }).toBeTruthy();
      const failure = await decodeOptionalFailureToOptionalError(harness.client.options.loadedDataConverter, await lastFailure());
      expect(failure).toBeInstanceOf(ApplicationFailure);
      expect((failure as ApplicationFailure).type).toBe('Storage');
      expect(failure!.message).toMatch(/ENOSPC|no space left/i);
      expect(failure!.message).not.toMatch(/EPIPE|broken pipe/i);
    } finally {
      await handle.terminate('the test has seen what it needed');
    }
  });

  it('cancelled while pg_dump waits for a lock stops pg_dump and leaves neither an object nor a temp file', async () => {
    const holder = new pg.Client({ ...pgServer, database });
    await holder.connect();
    const pgDumpRunning = async () => (await execa('pgrep', ['-f', `pg_dump .*/${database}$`], { reject: false })).exitCode === 0;
    try {
      await holder.query('begin');
      await holder.query('lock table orders in access exclusive mode');
      const handle = await harness.client.workflow.start('backupSource', {
        args: [{ source: 'local-locked' }], workflowId: `test-local-region-cancel-${fixture.prefix}`, taskQueue: `${fixture.config.temporal.taskQueuePrefix}${REGION}`,
      });
      // pg_dump's LOCK TABLE (autovacuum and the table sizes may wait too), asked outside the holder's
      // transaction, whose view of pg_stat_activity stays as it first read it.
      const waiting = () => withClient(pgServer, 'postgres', (c) => c.query<{ n: number }>(`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and datname = $1 and query ilike 'lock table%'`, [database]))
        .then((r) => r.rows[0]!.n);
      await expect.poll(waiting, { timeout: 30_000 }).toBe(1);
      expect(await pgDumpRunning()).toBe(true);
      const { backupId } = await handle.query<{ backupId?: string }>('phase');
      // The write is open while pg_dump waits: its temp file is there, under no final name.
      expect(filesOf('local-locked', backupId!).some((name) => name.includes('.partial-'))).toBe(true);
      await handle.cancel();
      const error = await handle.result().then(() => undefined, (e: unknown) => e);
      // Cancelled mid-stream, the snapshot fails with its stopped tool's error (as to an S3 region); the run ends failed.
      expect(error).toBeInstanceOf(WorkflowFailedError);
      expect(await pgDumpRunning()).toBe(false);
      expect(filesOf('local-locked', backupId!)).toEqual([]);
    } finally {
      await holder.query('rollback').catch(() => undefined);
      await holder.end();
    }
  });
});
