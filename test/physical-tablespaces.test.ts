import { trusted } from './support/signing';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listBackups } from '../activities/catalog';
import { createDeps } from '../activities/deps';
import { MockActivityEnvironment } from '@temporalio/testing';
import { checkPhysical, restorePhysical, teardownPhysical } from '../activities/failover/physical';
import { protocolBaseBackup } from '../activities/sources/postgres/base-backup-protocol';
import { classifyBaseBackup, PROTOCOL_CONTENT } from '../activities/sources/postgres/physical';
import { removeRestoredCluster } from '../activities/sources/postgres/pitr';
import { socketDirOf, workDirOf } from '../activities/sources/postgres/restore-cluster';
import { readAll, type StorageBackend } from '../activities/storage/backend';
import type { PostgresPhysicalDescription } from '../lib/manifest';
import type { BackupSummary } from '../workflows/backup-source';
import { freePorts } from './harness/ports';
import { archiveCurrentSegment, physicalSource, shipEverything, startArchivingPostgres, type ArchivingPostgres } from './support/archiving-postgres';
import { makeFixture, type Fixture } from './support/fixture';
import { runBackup } from './support/runs';
import { runVerify } from './support/verify';
import { failureOf, startHarness, type Harness } from './support/workers';

const servers = inject('servers');
const lifeboat = fileURLToPath(new URL('../bin/lifeboat', import.meta.url));
const isRoot = process.getuid?.() === 0;
const asPostgres = isRoot ? 'runuser -u postgres -- ' : '';

describe('a physical PostgreSQL source with tablespaces of its own', () => {
  let dir: string;
  let scratch: string;
  let cluster: ArchivingPostgres;
  let fixture: Fixture;
  let harness: Harness;
  let storage: StorageBackend;
  let summary: BackupSummary;
  let backupMs: number;
  const locations = { hot: '', cold: '' };
  const restoredDirs: string[] = [];
  const shmDirs: string[] = [];
  const cli = (args: string[]) => execa(lifeboat, ['--config', fixture.configFile, ...args], { env: fixture.env, reject: false });
  const owned = async (path: string) => {
    mkdirSync(path, { recursive: true });
    if (isRoot) {
      const uid = Number((await execa('id', ['-u', 'postgres'])).stdout);
      const gid = Number((await execa('id', ['-g', 'postgres'])).stdout);
      chownSync(path, uid, gid);
    }
    chmodSync(path, 0o700);
  };
  const count = async (client: pg.Client, table: string) => Number((await client.query<{ n: string }>(`select count(*) as n from ${table}`)).rows[0]!.n);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lifeboat-tablespaces-'));
    scratch = join(dir, 'scratch');
    mkdirSync(scratch);
    cluster = await startArchivingPostgres(dir);
    locations.hot = join(dir, 'ts-hot');
    locations.cold = join(dir, 'ts-cold');
    await owned(locations.hot);
    await owned(locations.cold);
    await cluster.query(`create tablespace hot location '${locations.hot}'`);
    await cluster.query(`create tablespace cold location '${locations.cold}'`);
    await cluster.query('create database shop');
    await cluster.query('create table orders (id int primary key using index tablespace cold, note text not null) tablespace hot', 'shop');
    await cluster.query("insert into orders select i, repeat('o', 40) || i from generate_series(1, 100000) i", 'shop');
    await cluster.query('create table archive (id int primary key, note text not null) tablespace cold', 'shop');
    await cluster.query("insert into archive select i, 'archived ' || i from generate_series(1, 700) i", 'shop');
    await cluster.query("create role repl_nohba login replication password 'repl-password'");
    process.env.TABLESPACES_REPL_PASSWORD = 'repl-password';
    fixture = await makeFixture(servers, () => ({
      'ts-db': {
        ...physicalSource(cluster, `TABLESPACES_PG_${Date.now()}`),
        url: `postgres://postgres@127.0.0.1:${cluster.postgres.port}/shop`,
        verify: { checks: [
          { name: 'orders', sql: 'select count(*) from orders', expect: '= 100000' },
          { name: 'archive', sql: 'select count(*) from archive', expect: '= 700' },
        ] },
      },
      'nohba-db': { kind: 'postgres', region: 'stockholm', mode: 'physical', url: `postgres://repl_nohba@127.0.0.1:${cluster.postgres.port}/shop`, passwordEnv: 'TABLESPACES_REPL_PASSWORD' },
    }), { sync: { afterBackup: false } }, { verify: { target: { scratchDir: scratch } } });
    storage = createDeps(fixture.config).storage('stockholm');
    harness = await startHarness(fixture.config);
    const started = Date.now();
    summary = await runBackup(harness.client, fixture.config, 'ts-db');
    backupMs = Date.now() - started;
  });

  afterAll(async () => {
    for (const restored of restoredDirs) {
      const marker = join(workDirOf(restored), 'restore.json');
      if (existsSync(marker)) await removeRestoredCluster({ dataDir: restored, port: 0 }, (JSON.parse(readFileSync(marker, 'utf8')) as { owner: string }).owner);
    }
    const breakGlass = join(dir ?? '/nonexistent', 'break-glass');
    if (existsSync(join(breakGlass, 'postmaster.pid'))) await execa('bash', ['-c', `${asPostgres}${cluster.postgres.binDir}/pg_ctl -D ${breakGlass} -m immediate -w stop`], { reject: false });
    await harness?.close();
    await cluster?.stop();
    fixture?.cleanup();
    for (const shm of shmDirs) rmSync(shm, { recursive: true, force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('stores ONE object, taken over the replication protocol, and the manifest names each tablespace', async () => {
    const [entry] = await listBackups(storage, trusted, 'ts-db');
    const manifest = entry!.manifest;
    expect(manifest.id).toBe(summary.backupId);
    expect(manifest.objects).toHaveLength(1);
    expect(manifest.objects[0]).toMatchObject({ key: `ts-db/${summary.backupId}/base.tar.zst.age`, content: PROTOCOL_CONTENT });
    const description = manifest.description as PostgresPhysicalDescription;
    expect(description).toMatchObject({ kind: 'postgres', mode: 'physical', timeline: 1, hasBackupManifest: true, databases: ['postgres', 'shop'] });
    const oids = await cluster.query<{ oid: string; spcname: string }>("select oid::text, spcname from pg_tablespace where spcname in ('hot', 'cold') order by oid");
    expect(description.tablespaces!.map(({ oid, name, location }) => ({ oid, name, location }))).toEqual(oids.map((row) => ({
      oid: Number(row.oid), name: row.spcname, location: locations[row.spcname as 'hot' | 'cold'],
    })));
    expect(description.tablespaces!.find((t) => t.name === 'hot')!.sizeBytes).toBeGreaterThan(5_000_000);
    expect(description.stopLsn).not.toBe(description.startLsn);
    console.log(`base backup with 2 tablespaces over the protocol: ${(description.sizeBytes / 1e6).toFixed(1)} MB tar (stored ${(summary.bytes / 1e6).toFixed(1)} MB) in ${backupMs} ms`);
  });

  it('lifeboat doctor names the tablespaces the backup takes over the replication protocol', async () => {
    const result = await cli(['--json', 'doctor']);
    const report = JSON.parse(result.stdout) as { checks: Array<{ check: string; ok: boolean; detail: string }> };
    expect(report.checks.find((c) => c.check === 'source ts-db')).toMatchObject({
      ok: true, detail: expect.stringMatching(/^PostgreSQL 15\.\d+.*; wal_level replica, archive_mode on, replication allowed.*; tablespaces hot, cold \(taken over the replication protocol, docs\/pitr\.md\)$/),
    });
  });

  it('restore-level verification restores it with the tablespaces in place, runs pg_verifybackup and the checks, and leaves nothing behind', async () => {
    const result = await runVerify(harness.client, fixture.config, { source: 'ts-db', region: 'stockholm', level: 'restore' });
    const [region] = result.regions;
    expect(result.outcome, JSON.stringify(region?.checks)).toBe('passed');
    const byName = Object.fromEntries(region!.checks.map((c) => [c.name, c]));
    expect(byName['pg_verifybackup']).toMatchObject({ ok: true, detail: 'backup successfully verified' });
    expect(byName['tablespaces']!.detail).toMatch(/tablespaces (hot|cold) in place \(.*pg_tblspc\/\d+\), (hot|cold) in place/);
    expect(byName['orders']!.detail).toBe('select count(*) from orders: expected = 100000, found 100000');
    expect(byName['archive']!.detail).toBe('select count(*) from archive: expected = 700, found 700');
    expect(byName['pg_amcheck']).toMatchObject({ ok: true });
    expect(readdirSync(scratch)).toEqual([]);
  });

  it('lifeboat restore --tablespace NAME=DIR puts each tablespace in its directory, linked from pg_tblspc, with the WAL archived after the backup replayed into them', async () => {
    await cluster.query("insert into orders values (100001, 'after the backup')", 'shop');
    await cluster.query("insert into archive values (701, 'after the backup')", 'shop');
    await archiveCurrentSegment(cluster);
    await shipEverything(fixture.config, 'ts-db');
    const [port] = await freePorts(1);
    const dataDir = join(dir, 'restored');
    restoredDirs.push(dataDir);
    const hotDir = join(dir, 'mapped', 'hot');
    // An empty directory is fine (an absent one is created), and on another file system (tmpfs) the tablespace is copied.
    const coldDir = mkdtempSync('/dev/shm/lifeboat-tablespace-');
    shmDirs.push(coldDir);
    const before = { hot: readdirSync(locations.hot), cold: readdirSync(locations.cold) };
    const run = await cli(['restore', 'ts-db', '--to', dataDir, '--port', String(port), '--tablespace', `hot=${hotDir}`, '--tablespace', `cold=${coldDir}`]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toContain(`restored backup ${summary.backupId} of ts-db into ${dataDir}`);
    const [description] = (await listBackups(storage, trusted, 'ts-db')).map((e) => e.manifest.description as PostgresPhysicalDescription);
    const oidOf = (name: string) => description!.tablespaces!.find((t) => t.name === name)!.oid;
    expect(readlinkSync(join(dataDir, 'pg_tblspc', String(oidOf('hot'))))).toBe(hotDir);
    expect(readlinkSync(join(dataDir, 'pg_tblspc', String(oidOf('cold'))))).toBe(coldDir);
    expect(readdirSync(hotDir)).toEqual([expect.stringMatching(/^PG_15_/)]);
    expect(readdirSync(coldDir)).toEqual([expect.stringMatching(/^PG_15_/)]);
    expect(readdirSync(join(dataDir, 'pg_tblspc', String(oidOf('cold'))))).toEqual(readdirSync(coldDir));
    const client = new pg.Client({ host: socketDirOf(dataDir), port, user: 'postgres', database: 'shop' });
    await client.connect();
    try {
      expect(await count(client, 'orders')).toBe(100001);
      expect(await count(client, 'archive')).toBe(701);
      const { rows } = await client.query<{ spcname: string; location: string }>("select spcname, pg_tablespace_location(oid) as location from pg_tablespace where spcname in ('hot', 'cold') order by spcname");
      expect(rows).toEqual([{ spcname: 'cold', location: coldDir }, { spcname: 'hot', location: hotDir }]);
      // The restored cluster writes into its own directories, never the source's.
      await client.query("insert into orders values (200000, 'restored only')");
      await client.query('checkpoint');
    } finally {
      await client.end();
    }
    expect(readdirSync(locations.hot)).toEqual(before.hot);
    expect(readdirSync(locations.cold)).toEqual(before.cold);
    const [source] = await cluster.query<{ n: string }>('select count(*) as n from orders where id = 200000', 'shop');
    expect(Number(source!.n)).toBe(0);
    // Its owner's removal takes the mapped directories too.
    const owner = (JSON.parse(readFileSync(join(workDirOf(dataDir), 'restore.json'), 'utf8')) as { owner: string }).owner;
    expect(await removeRestoredCluster({ dataDir, port: port! }, owner)).toMatchObject({ removed: true });
    expect(existsSync(hotDir)).toBe(false);
    expect(readdirSync(coldDir)).toEqual([]);
  });

  it('a failover target\'s tablespaces: mapping restores into those directories, the checks pass, and the teardown removes them', async () => {
    const [port] = await freePorts(1);
    const dataDir = join(dir, 'failover-target');
    restoredDirs.push(dataDir);
    const hot = join(dir, 'failover-hot');
    const failoverTarget = { dataDir, port: port!, tablespaces: { hot } };
    const [entry] = await listBackups(storage, trusted, 'ts-db');
    const restored: Awaited<ReturnType<typeof restorePhysical>> = await new MockActivityEnvironment().run(restorePhysical, storage, trusted, entry!.manifest, fixture.key.identityFile, failoverTarget, 'failover:test-tablespaces', null, () => undefined);
    expect(restored.detail).toContain(`PostgreSQL serves ${dataDir} on port ${port}`);
    const oid = (entry!.manifest.description as PostgresPhysicalDescription).tablespaces!.find((t) => t.name === 'hot')!.oid;
    expect(readlinkSync(join(dataDir, 'pg_tblspc', String(oid)))).toBe(hot);
    // cold was not mapped: it stays in the data directory.
    const cold = (entry!.manifest.description as PostgresPhysicalDescription).tablespaces!.find((t) => t.name === 'cold')!.oid;
    expect(readdirSync(join(dataDir, 'pg_tblspc', String(cold)))).toEqual([expect.stringMatching(/^PG_15_/)]);
    const outcomes = await checkPhysical(entry!.manifest, failoverTarget, 'shop', [{ name: 'orders', sql: 'select count(*) from orders', expect: '>= 100000' }]);
    expect(outcomes.every((o) => o.ok), JSON.stringify(outcomes)).toBe(true);
    expect(await teardownPhysical(failoverTarget, 'failover:test-tablespaces')).toEqual([expect.stringContaining(`removed the cluster restored by failover:test-tablespaces at ${dataDir}`)]);
    expect(existsSync(hot)).toBe(false);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('a mapped directory that holds anything is refused before anything is written, and left as it was', async () => {
    const [port] = await freePorts(1);
    const dataDir = join(dir, 'refused');
    restoredDirs.push(dataDir);
    const occupied = join(dir, 'occupied');
    mkdirSync(occupied);
    writeFileSync(join(occupied, 'keep.txt'), 'precious');
    const run = await cli(['restore', 'ts-db', '--to', dataDir, '--port', String(port), '--tablespace', `cold=${occupied}`]);
    expect(run.exitCode).not.toBe(0);
    expect(run.stderr).toContain(`the directory for tablespace cold, ${occupied}, exists and is not empty (keep.txt…); Lifeboat never restores over existing data`);
    expect(readdirSync(occupied)).toEqual(['keep.txt']);
    expect(readFileSync(join(occupied, 'keep.txt'), 'utf8')).toBe('precious');
    expect(existsSync(dataDir)).toBe(false);
    expect(existsSync(workDirOf(dataDir))).toBe(false);
    const unknown = await cli(['restore', 'ts-db', '--to', dataDir, '--port', String(port), '--tablespace', `warm=${join(dir, 'warm')}`]);
    expect(unknown.exitCode).not.toBe(0);
    expect(unknown.stderr).toContain('the backup has no tablespace named "warm"');
    expect(existsSync(join(dir, 'warm'))).toBe(false);
  });

  it('break glass: age -d | zstd -d | tar -x, pg_verifybackup, one tablespace moved and linked, and PostgreSQL starts on it', async () => {
    const [entry] = await listBackups(storage, trusted, 'ts-db');
    const manifest = entry!.manifest;
    const file = join(dir, 'base.tar.zst.age');
    writeFileSync(file, await readAll(await storage.get(manifest.objects[0]!.key)));
    const description = manifest.description as PostgresPhysicalDescription;
    const cold = description.tablespaces!.find((t) => t.name === 'cold')!;
    const [port] = await freePorts(1);
    const data = join(dir, 'break-glass');
    const moved = join(dir, 'break-glass-cold');
    const bin = cluster.postgres.binDir;
    // docs/pitr.md, "Break glass", as an operator would type it.
    const script = `set -euo pipefail
DATA=${data}; IDENTITY=${fixture.key.identityFile}
mkdir -m 0700 "$DATA"
age -d -i "$IDENTITY" ${file} | zstd -d | tar -x -C "$DATA"
${bin}/pg_verifybackup --ignore=tablespace_map --ignore=tablespace_map.lifeboat "$DATA"
cat "$DATA/tablespace_map.lifeboat"
mv "$DATA/pg_tblspc/${cold.oid}" ${moved} && ln -s ${moved} "$DATA/pg_tblspc/${cold.oid}"
cat >> "$DATA/postgresql.auto.conf" <<EOF
allow_in_place_tablespaces = on
archive_mode = off
port = ${port}
listen_addresses = '127.0.0.1'
unix_socket_directories = '${data}'
EOF
${isRoot ? `chown -R postgres: "$DATA" ${moved}` : ':'}
${asPostgres}${bin}/pg_ctl -D "$DATA" -l "$DATA/startup.log" -w start
`;
    const run = await execa('bash', ['-c', script], { reject: false });
    expect(run.exitCode, `${run.stderr}\n${existsSync(join(data, 'startup.log')) ? readFileSync(join(data, 'startup.log'), 'utf8') : ''}`).toBe(0);
    expect(run.stdout).toContain('backup successfully verified');
    expect(run.stdout).toContain(`${cold.oid} ${locations.cold}`);
    const client = new pg.Client({ host: data, port, user: 'postgres', database: 'shop' });
    await client.connect();
    try {
      expect(await count(client, 'orders')).toBe(100000);
      expect(await count(client, 'archive')).toBe(700);
      const { rows } = await client.query<{ location: string }>("select pg_tablespace_location(oid) as location from pg_tablespace where spcname = 'cold'");
      expect(rows[0]!.location).toBe(moved);
    } finally {
      await client.end();
    }
    await execa('bash', ['-c', `${asPostgres}${bin}/pg_ctl -D ${data} -m fast -w stop`]);
  });

  it('a replication connection the server refuses is a Config error naming pg_hba.conf, as with pg_basebackup', async () => {
    // Replication from 127.0.0.1 for postgres only: repl_nohba may log in (and hold a slot) but not replicate.
    const hba = join(cluster.postgres.dataDir, 'pg_hba.conf');
    const original = readFileSync(hba, 'utf8');
    writeFileSync(hba, original.replace(/^host\s+replication\s+all\s+127\.0\.0\.1\/32\s+\S+$/m, 'host replication postgres 127.0.0.1/32 scram-sha-256'));
    await cluster.query('select pg_reload_conf()');
    try {
      const failure = await failureOf(runBackup(harness.client, fixture.config, 'nohba-db'));
      expect(failure.type).toBe('Config');
      expect(failure.message).toContain('base backup of nohba-db: the server refuses replication connections from this worker: no pg_hba.conf entry for replication connection from host "127.0.0.1", user "repl_nohba"');
      expect(await listBackups(storage, trusted, 'nohba-db')).toEqual([]);
    } finally {
      writeFileSync(hba, original);
      await cluster.query('select pg_reload_conf()');
    }
  });

  it('stopping the stream ends the replication connection: the server has no WAL sender left', async () => {
    const url = `postgres://postgres@127.0.0.1:${cluster.postgres.port}/shop`;
    const producer = protocolBaseBackup({ target: { url, password: cluster.postgres.password }, label: 'lifeboat cancel test', what: 'base backup of cancel', classify: classifyBaseBackup(url, 'cancel', 'base backup of cancel') });
    const running = producer.start();
    running.finished.catch(() => undefined);
    let seen = 0;
    // Reads slowly, so the server is mid-stream when it is stopped.
    await new Promise<void>((resolve) => {
      running.output.on('data', (chunk: Buffer) => {
        seen += chunk.length;
        if (seen > 1_000_000) {
          running.output.pause();
          resolve();
        }
      });
    });
    const senders = async () => (await cluster.query<{ n: string }>("select count(*) as n from pg_stat_replication where application_name = 'lifeboat'"))[0]!.n;
    expect(Number(await senders())).toBe(1);
    running.kill();
    await expect(running.finished).rejects.toThrow();
    for (let i = 0; i < 50 && Number(await senders()) > 0; i += 1) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(Number(await senders())).toBe(0);
  });

  it('measures: the protocol stream against pg_basebackup -Ft into a directory (which tablespaces allow), on the same cluster', async () => {
    const url = `postgres://postgres@127.0.0.1:${cluster.postgres.port}/shop`;
    const protocolStarted = Date.now();
    const running = protocolBaseBackup({ target: { url, password: cluster.postgres.password }, label: 'lifeboat measure', what: 'measure', classify: () => undefined }).start();
    let bytes = 0;
    await Promise.all([pipeline(running.output, new Writable({ write(chunk: Buffer, _encoding, done) { bytes += chunk.length; done(); } })), running.finished]);
    const protocolMs = Date.now() - protocolStarted;
    const target = join(dir, 'pg_basebackup-measure');
    const started = Date.now();
    await execa(join(cluster.postgres.binDir, 'pg_basebackup'), [`--dbname=${url}`, '-D', target, '-Ft', '-X', 'fetch', '--checkpoint=fast', '--no-password'], { env: { PGPASSWORD: cluster.postgres.password } });
    const basebackupMs = Date.now() - started;
    const written = readdirSync(target).reduce((sum, name) => sum + readFileSync(join(target, name)).length, 0);
    expect(bytes).toBeGreaterThan(written * 0.9);
    console.log(`protocol stream: ${(bytes / 1e6).toFixed(1)} MB in ${protocolMs} ms; pg_basebackup -Ft -X fetch into a directory: ${(written / 1e6).toFixed(1)} MB in ${basebackupMs} ms`);
  });
});
