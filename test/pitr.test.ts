import { signatureKey } from '../lib/signing';
import { putSignedJson, trusted } from './support/signing';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { findBackup } from '../activities/catalog';
import { createDeps } from '../activities/deps';
import { decryptBuffer, encryptBuffer } from '../activities/pipeline/buffers';
import { digestOf } from '../activities/pipeline/digest';
import { postmasterPid, stopCluster } from '../activities/sources/postgres/cluster';
import { lsnValue, removeRestoredCluster, restorePointInTime, type ClusterTarget, type PitrResult, type RecoveryTarget } from '../activities/sources/postgres/pitr';
import { socketDirOf, workDirOf } from '../activities/sources/postgres/restore-cluster';
import { readAll, type StorageBackend } from '../activities/storage/backend';
import { LifeboatError } from '../lib/errors';
import { keys, type PostgresPhysicalDescription } from '../lib/manifest';
import { segmentName, segmentOfLsn, walKeys } from '../lib/wal';
import { archived as walFiles } from './support/wal';
import type { BackupSummary } from '../workflows/backup-source';
import { freePorts } from './harness/ports';
import { archiveCurrentSegment, physicalSource, startArchivingPostgres, shipEverything, type ArchivingPostgres } from './support/archiving-postgres';
import { makeFixture, type Fixture } from './support/fixture';
import { startHarness, type Harness } from './support/workers';

const servers = inject('servers');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('point-in-time restore of a physical PostgreSQL source', () => {
  let dir: string;
  let cluster: ArchivingPostgres;
  let fixture: Fixture;
  let harness: Harness;
  let storage: StorageBackend;
  let base: BackupSummary;
  /** A moment after batch 2 committed and before batch 3 did. */
  let between: string;
  let beforeBase: string;
  /** The WAL position right after batch 2 committed. */
  let betweenLsn: string;
  /** The WAL position right after batch 1 committed: two archived segments lie beyond it. */
  let afterFirstLsn: string;
  const owners: Array<[ClusterTarget, string]> = [];

  async function restore(name: string, recovery: RecoveryTarget, owner = `test-${name}`): Promise<{ target: ClusterTarget; result: PitrResult }> {
    const [port] = await freePorts(1);
    const target = { dataDir: join(dir, name), port: port! };
    owners.push([target, owner]);
    const result: PitrResult = await new MockActivityEnvironment().run(restorePointInTime, storage, 'pitr-db', fixture.key.identityFile, target, recovery, { owner, trusted });
    return { target, result };
  }

  async function pgClient<T>(target: ClusterTarget, use: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ host: socketDirOf(target.dataDir), port: target.port, user: 'postgres', database: 'shop' });
    await client.connect();
    try {
      return await use(client);
    } finally {
      await client.end();
    }
  }

  async function batches(target: ClusterTarget): Promise<number[]> {
    const { rows } = await pgClient(target, (client) => client.query<{ batch: number }>('select distinct batch from events order by 1'));
    return rows.map((r) => r.batch);
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lifeboat-pitr-'));
    cluster = await startArchivingPostgres(dir);
    await cluster.query('create database shop');
    await cluster.query('create table events (id serial primary key, batch int not null, at timestamptz not null default clock_timestamp())', 'shop');
    fixture = await makeFixture(servers, () => ({ 'pitr-db': physicalSource(cluster, `PITR_PG_${Date.now()}`) }));
    storage = createDeps(fixture.config).storage('stockholm');
    beforeBase = new Date().toISOString();
    await sleep(1100);
    harness = await startHarness(fixture.config);
    base = await harness.client.workflow.execute('backupSource', {
      args: [{ source: 'pitr-db' }], workflowId: `test-pitr-base-${fixture.prefix}`, taskQueue: `${fixture.config.temporal.taskQueuePrefix}stockholm`,
    });
    for (const batch of [1, 2, 3]) {
      await cluster.query(`insert into events (batch) select ${batch} from generate_series(1, 100)`, 'shop');
      if (batch === 1) afterFirstLsn = (await cluster.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn'))[0]!.lsn;
      if (batch === 2) betweenLsn = (await cluster.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn'))[0]!.lsn;
      await archiveCurrentSegment(cluster);
      if (batch === 2) {
        await sleep(600);
        between = new Date().toISOString();
        await sleep(600);
      }
    }
    const shipped = await shipEverything(fixture.config, 'pitr-db');
    expect(shipped.length).toBeGreaterThanOrEqual(4);
    expect(readdirSync(cluster.spool)).toEqual([]);
  });

  afterAll(async () => {
    for (const [target, owner] of owners) await removeRestoredCluster(target, owner).catch(() => undefined);
    await harness?.close();
    await cluster?.stop();
    fixture?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('restores to a moment between two batches: the rows before it are there, the rows after it are not', async () => {
    const { target, result } = await restore('between', { time: between });
    expect(result.baseBackupId).toBe(base.backupId);
    expect(await batches(target)).toEqual([1, 2]);
    const [last] = await cluster.query<{ at: Date }>('select max(at) as at from events where batch = 2', 'shop');
    expect(result.recoveredTo).not.toBeNull();
    // The last commit replayed: batch 2's (or a later autovacuum's), never past the target.
    expect(Date.parse(result.recoveredTo!)).toBeGreaterThanOrEqual(last!.at.getTime());
    expect(Date.parse(result.recoveredTo!)).toBeLessThanOrEqual(Date.parse(between));
    expect(result.timeline).toBe(2);
    expect(result.walFiles).toBeGreaterThanOrEqual(3);
    expect(result.checks.map((c) => c.name)).toEqual(['restore', 'pg_verifybackup', 'recovery']);
    expect(result.checks.every((c) => c.ok)).toBe(true);
    console.log(`PITR to ${between}: ${result.walFiles} WAL files (${result.walBytes} bytes) in ${result.restoreMs} ms`);
  });

  it('restores to an LSN between two batches', async () => {
    const { target, result } = await restore('lsn', { lsn: betweenLsn });
    expect(await batches(target)).toEqual([1, 2]);
    expect(lsnValue(result.recoveredLsn)).toBeGreaterThanOrEqual(lsnValue(betweenLsn));
  });

  it('counts only the WAL it replayed, not files fetched ahead past the target, in its files, bytes and MB/s', async () => {
    const { target, result } = await restore('first', { lsn: afterFirstLsn });
    expect(await batches(target)).toEqual([1]);
    const { manifest } = await findBackup(storage, trusted, 'pitr-db', base.backupId);
    const description = manifest.description as PostgresPhysicalDescription;
    const segment = (lsn: string) => segmentOfLsn(lsn, description.walSegmentBytes);
    const last = segmentName(description.timeline, segment(result.recoveredLsn), description.walSegmentBytes);
    // Batch 3's segment at least lies beyond where recovery stopped; staging fetches ahead of replay.
    expect((await walFiles(storage, 'pitr-db')).filter((name) => /^[0-9A-F]{24}$/.test(name) && name > last).length).toBeGreaterThan(0);
    const replayed = segment(result.recoveredLsn) - segment(description.startLsn) + 1;
    expect(result.walFiles).toBe(replayed);
    expect(result.walBytes).toBe(replayed * description.walSegmentBytes);
  });

  it('restores to the end of the archived WAL: every archived row is there', async () => {
    const { target, result } = await restore('end', {});
    expect(await batches(target)).toEqual([1, 2, 3]);
    const [count] = await cluster.query<{ n: number }>('select count(*)::int as n from events', 'shop');
    const client = new pg.Client({ host: socketDirOf(target.dataDir), port: target.port, user: 'postgres', database: 'shop' });
    await client.connect();
    const { rows } = await client.query<{ n: number }>('select count(*)::int as n from events');
    await client.end();
    expect(rows[0]!.n).toBe(count!.n);
    console.log(`PITR to end of WAL: ${result.walFiles} WAL files in ${result.restoreMs} ms`);
  });

  it('refuses a data directory that is not empty and leaves it untouched', async () => {
    const dataDir = join(dir, 'occupied');
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, 'PG_VERSION'), '15\n');
    const [port] = await freePorts(1);
    const error = await new MockActivityEnvironment().run(restorePointInTime, storage, 'pitr-db', fixture.key.identityFile, { dataDir, port: port! }, {}, { owner: 'test-occupied', trusted })
      .then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(LifeboatError);
    expect(error).toMatchObject({ type: 'TargetNotEmpty', message: expect.stringContaining(`${dataDir} exists and is not empty`) });
    expect(readdirSync(dataDir)).toEqual(['PG_VERSION']);
    expect(readFileSync(join(dataDir, 'PG_VERSION'), 'utf8')).toBe('15\n');
    expect(existsSync(workDirOf(dataDir))).toBe(false);
  });

  it('refuses a port where a server already listens', async () => {
    const dataDir = join(dir, 'port-taken');
    const error = await new MockActivityEnvironment().run(restorePointInTime, storage, 'pitr-db', fixture.key.identityFile, { dataDir, port: cluster.postgres.port }, {}, { owner: 'test-port', trusted })
      .then(() => undefined, (e: unknown) => e);
    expect(error).toMatchObject({ type: 'TargetNotEmpty', message: expect.stringContaining(`port ${cluster.postgres.port}`) });
    expect(existsSync(dataDir)).toBe(false);
  });

  it('refuses a target time before the only base backup, naming when that backup finished', async () => {
    const [port] = await freePorts(1);
    const dataDir = join(dir, 'too-early');
    const error = await new MockActivityEnvironment().run(restorePointInTime, storage, 'pitr-db', fixture.key.identityFile, { dataDir, port: port! }, { time: beforeBase }, { owner: 'test-early', trusted })
      .then(() => undefined, (e: unknown) => e);
    expect(error).toMatchObject({ type: 'BackupNotFound', message: expect.stringContaining(`no base backup of pitr-db in`) });
    expect((error as Error).message).toContain(`finished before ${beforeBase}: the oldest, ${base.backupId}, finished at`);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('fails clearly when the archived WAL does not reach the target, with the server log, and removes what it created', async () => {
    const [port] = await freePorts(1);
    const dataDir = join(dir, 'beyond');
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const error = await new MockActivityEnvironment().run(restorePointInTime, storage, 'pitr-db', fixture.key.identityFile, { dataDir, port: port! }, { time: future }, { owner: 'test-beyond', trusted })
      .then(() => undefined, (e: unknown) => e);
    expect(error).toMatchObject({ type: 'VerificationFailed', message: expect.stringContaining(`recovery of pitr-db ended before the recovery target (${future}) was reached`) });
    expect((error as Error).message).toContain('FATAL:  recovery ended before configured recovery target was reached');
    expect(existsSync(dataDir)).toBe(false);
    expect(existsSync(workDirOf(dataDir))).toBe(false);
  });

  it('pg_verifybackup refuses a base backup with a changed file before recovery starts, and nothing is left', async () => {
    const { manifest } = await findBackup(storage, trusted, 'pitr-db', base.backupId);
    const work = join(dir, 'tamper');
    mkdirSync(join(work, 'tree'), { recursive: true });
    const tar = await decryptBuffer(await readAll(await storage.get(manifest.objects[0]!.key)), fixture.key.identityFile, 'base backup');
    await execa('tar', ['-x', '-C', join(work, 'tree')], { input: tar });
    // Same size, other bytes: only a checksum can tell.
    writeFileSync(join(work, 'tree', 'base', '1', 'PG_VERSION'), '16\n');
    const { stdout: tampered } = await execa('tar', ['-c', '-C', join(work, 'tree'), '.'], { encoding: 'buffer' });
    const data = await encryptBuffer(Buffer.from(tampered), fixture.config.compression, fixture.config.encryption.recipients, 'tampered');
    const id = `${base.backupId}-tampered`;
    const key = keys.object('pitr-db', id, 'base.tar.zst.age');
    await storage.put(key, data);
    // Finished a moment before the real one: never the newest, chosen only by name.
    const copy = { ...manifest, id, finishedAt: new Date(Date.parse(manifest.finishedAt) - 1).toISOString(), objects: [{ ...manifest.objects[0]!, key, ...digestOf(data) }] };
    await putSignedJson(storage, keys.manifest('pitr-db', id), copy);

    const [port] = await freePorts(1);
    const dataDir = join(dir, 'tampered');
    const error = await new MockActivityEnvironment().run(restorePointInTime, storage, 'pitr-db', fixture.key.identityFile, { dataDir, port: port! }, {}, { owner: 'test-tampered', trusted, backupId: id })
      .then(() => undefined, (e: unknown) => e);
    expect(error).toMatchObject({ type: 'VerificationFailed', message: expect.stringContaining(`pg_verifybackup rejected base backup ${id} of pitr-db`) });
    expect((error as Error).message).toContain('base/1/PG_VERSION');
    expect(existsSync(dataDir)).toBe(false);
    expect(existsSync(workDirOf(dataDir))).toBe(false);
  });

  it('a base backup object that does not match its manifest is refused before a single file is written into the data directory', async () => {
    const { manifest } = await findBackup(storage, trusted, 'pitr-db', base.backupId);
    const id = `${base.backupId}-mismatch`;
    // The bytes decrypt and extract cleanly; only the SHA-256 (known at the end of the stream) tells.
    const flipped = manifest.objects[0]!.sha256.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    // The same bytes under the copy's own prefix (a manifest may only name its own objects), signed as Lifeboat would.
    const key = keys.object('pitr-db', id, 'base.tar.zst.age');
    await storage.put(key, await readAll(await storage.get(manifest.objects[0]!.key)));
    const copy = { ...manifest, id, finishedAt: new Date(Date.parse(manifest.finishedAt) - 2).toISOString(), objects: [{ ...manifest.objects[0]!, key, sha256: flipped }] };
    await putSignedJson(storage, keys.manifest('pitr-db', id), copy);

    const [port] = await freePorts(1);
    const dataDir = join(dir, 'mismatch');
    mkdirSync(dataDir);
    const written: string[] = [];
    const watcher = watch(dataDir, (_event, name) => written.push(String(name)));
    const error = await new MockActivityEnvironment().run(restorePointInTime, storage, 'pitr-db', fixture.key.identityFile, { dataDir, port: port! }, {}, { owner: 'test-mismatch', trusted, backupId: id })
      .then(() => undefined, (e: unknown) => e)
      .finally(() => watcher.close());
    expect(error).toBeInstanceOf(LifeboatError);
    expect(error).toMatchObject({ type: 'ChecksumMismatch', message: expect.stringContaining(`${keys.object('pitr-db', id, 'base.tar.zst.age')}: stored object does not match its manifest`) });
    expect(written).toEqual([]);
    expect(readdirSync(dataDir)).toEqual([]);
    expect(existsSync(workDirOf(dataDir))).toBe(false);
  });

  /** Replaces the signed record of one archived segment with one of other bytes (signed by the trusted key), restores to the end of WAL, puts the record back. */
  async function restoreWithMismatchedRecord(name: string, label: string): Promise<{ error: unknown; dataDir: string }> {
    const recordKey = walKeys.record('pitr-db', name);
    const original = await readAll(await storage.get(recordKey));
    const originalSignature = await readAll(await storage.get(signatureKey(recordKey)));
    const record = JSON.parse(original.toString()) as { sha256: string };
    // A record of other bytes, signed by the trusted key: what another cluster archiving under this name would leave.
    const replaceRecord = async (bytes: Buffer, signature?: Buffer) => {
      await storage.remove(signatureKey(recordKey));
      await storage.remove(recordKey);
      if (signature) {
        await storage.put(signatureKey(recordKey), signature);
        await storage.put(recordKey, bytes);
      } else {
        await putSignedJson(storage, recordKey, JSON.parse(bytes.toString()));
      }
    };
    await replaceRecord(Buffer.from(JSON.stringify({ ...record, sha256: record.sha256.replace(/^./, (c) => (c === '0' ? '1' : '0')) })));
    try {
      const [port] = await freePorts(1);
      const dataDir = join(dir, label);
      const error = await new MockActivityEnvironment().run(restorePointInTime, storage, 'pitr-db', fixture.key.identityFile, { dataDir, port: port! }, {}, { owner: `test-${label}`, trusted })
        .then(() => undefined, (e: unknown) => e);
      return { error, dataDir };
    } finally {
      await replaceRecord(original, originalSignature);
    }
  }

  it('an archived WAL file whose bytes differ from its record fails the restore as ChecksumMismatch, naming the key, and nothing is left', async () => {
    const { manifest } = await findBackup(storage, trusted, 'pitr-db', base.backupId);
    // The base backup's first segment: every restore from it stages that one.
    const name = (manifest.description as PostgresPhysicalDescription).startWalFile;
    expect(await walFiles(storage, 'pitr-db')).toContain(name);
    const { error, dataDir } = await restoreWithMismatchedRecord(name, 'wal-mismatch');
    expect(error).toMatchObject({ type: 'ChecksumMismatch', message: expect.stringContaining(`${walKeys.object('pitr-db', name)} decrypts to`) });
    expect(existsSync(dataDir)).toBe(false);
    expect(existsSync(workDirOf(dataDir))).toBe(false);
  });

  it('a WAL file that fails its check while recovery already replays the ones before stops the restore with that error, never a recovery that ended early', async () => {
    // The last segment of the run: fetched while PostgreSQL replays the earlier ones.
    const segments = (await walFiles(storage, 'pitr-db')).filter((file) => /^[0-9A-F]{24}$/.test(file)).sort();
    const name = segments.at(-1)!;
    const { error, dataDir } = await restoreWithMismatchedRecord(name, 'wal-mismatch-late');
    expect(error).toMatchObject({ type: 'ChecksumMismatch', message: expect.stringContaining(`${walKeys.object('pitr-db', name)} decrypts to`) });
    expect(existsSync(dataDir)).toBe(false);
    expect(existsSync(workDirOf(dataDir))).toBe(false);
  });

  it('a retried restore with the same owner returns the finished result (starting a stopped cluster again, never restoring over it); a half-done one is wiped and done again', async () => {
    const { target, result } = await restore('retried', { time: between }, 'test-retry');
    const pid = postmasterPid(target.dataDir);
    const again: PitrResult = await new MockActivityEnvironment().run(restorePointInTime, storage, 'pitr-db', fixture.key.identityFile, target, { time: between }, { owner: 'test-retry', trusted });
    expect(again).toEqual(result);
    expect(postmasterPid(target.dataDir)).toBe(pid);

    // Down since (a reboot): started again, never restored over; what it holds stays.
    await stopCluster(target.dataDir, 'postgres');
    await pgClient(target, async (client) => client.query("insert into events (batch) values (99)")).then(() => { throw new Error('still running'); }, () => undefined);
    const restarted: PitrResult = await new MockActivityEnvironment().run(restorePointInTime, storage, 'pitr-db', fixture.key.identityFile, target, { time: between }, { owner: 'test-retry', trusted });
    expect(restarted).toEqual(result);
    await pgClient(target, (client) => client.query("insert into events (batch) values (99)"));
    await stopCluster(target.dataDir, 'postgres');
    await new MockActivityEnvironment().run(restorePointInTime, storage, 'pitr-db', fixture.key.identityFile, target, { time: between }, { owner: 'test-retry', trusted });
    expect(await batches(target)).toEqual([1, 2, 99]);
    const running = postmasterPid(target.dataDir)!;

    // Another owner may neither restore over it nor remove it.
    const foreign = await new MockActivityEnvironment().run(restorePointInTime, storage, 'pitr-db', fixture.key.identityFile, target, {}, { owner: 'someone-else', trusted })
      .then(() => undefined, (e: unknown) => e);
    expect(foreign).toMatchObject({ type: 'TargetNotEmpty', message: expect.stringContaining('restored by test-retry') });
    expect(await removeRestoredCluster(target, 'someone-else')).toMatchObject({ removed: false });
    expect(postmasterPid(target.dataDir)).toBe(running);

    // A worker killed mid-restore: the marker still says "restoring", the server is down, files are half there.
    const markerFile = join(workDirOf(target.dataDir), 'restore.json');
    const marker = JSON.parse(readFileSync(markerFile, 'utf8')) as { status: string };
    process.kill(running, 'SIGKILL');
    await sleep(500);
    writeFileSync(markerFile, JSON.stringify({ ...marker, status: 'restoring', result: undefined }));
    rmSync(join(target.dataDir, 'global'), { recursive: true, force: true });
    const redone: PitrResult = await new MockActivityEnvironment().run(restorePointInTime, storage, 'pitr-db', fixture.key.identityFile, target, { time: between }, { owner: 'test-retry', trusted });
    expect(redone.recoveredTo).toBe(result.recoveredTo);
    expect(await batches(target)).toEqual([1, 2]);

    expect(await removeRestoredCluster(target, 'test-retry')).toMatchObject({ removed: true });
    expect(existsSync(target.dataDir)).toBe(false);
    expect(existsSync(workDirOf(target.dataDir))).toBe(false);
    expect(await removeRestoredCluster(target, 'test-retry')).toEqual({ removed: false, detail: `nothing restored at ${target.dataDir}` });
  });
});
