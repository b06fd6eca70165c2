import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDeps } from '../activities/deps';
import { shipSpool } from '../activities/wal/ship';
import { markerText } from '../activities/failover/markers';
import { stopRedis } from '../activities/failover/targets';
import { removeRestoredCluster } from '../activities/sources/postgres/pitr';
import { socketDirOf } from '../activities/sources/postgres/restore-cluster';
import type { FailoverResult, FailoverStatus } from '../lib/failover';
import { failoverWorkflowId } from '../lib/workflow-ids';
import type { BackupSummary } from '../workflows/backup-source';
import { freePorts } from './harness/ports';
import { startRedis } from './harness/redis';
import { startSeaweedS3 } from './harness/seaweedfs';
import { archiveCurrentSegment, physicalSource, startArchivingPostgres, type ArchivingPostgres } from './support/archiving-postgres';
import { approveWithTemporalCli, waitForStatus } from './support/failover';
import { makeFixture, type Fixture } from './support/fixture';
import { startHarness, type Harness } from './support/workers';

const servers = inject('servers');

// The day Lifeboat exists for: stockholm (its own SeaweedFS, PostgreSQL archiving WAL, Redis)
// backs up and archives, then all its servers stop; the operator fails over to gothenburg.
describe('a failover of a physical PostgreSQL, Redis and files to another region after the primary is gone', () => {
  let dir: string;
  let cluster: ArchivingPostgres;
  let stopS3: (() => Promise<void>) | undefined;
  let stopPrimaryRedis: (() => Promise<void>) | undefined;
  let fixture: Fixture;
  let harness: Harness;
  let dataDir: string;
  let pgPort: number;
  let redisDir: string;
  let redisPort: number;
  let filesDir: string;
  let hookLog: string;
  let lastCommit: Date;
  let rowsInPrimary: number;
  const backups: Record<string, BackupSummary> = {};
  let result: FailoverResult | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lifeboat-fo-physical-'));
    chmodSync(dir, 0o711);
    const s3 = await startSeaweedS3({ region: 'stockholm', dir: join(dir, 's3-stockholm') });
    stopS3 = s3.stop;
    cluster = await startArchivingPostgres(dir);
    await cluster.query('create database shop');
    await cluster.query('create table events (id serial primary key, batch int not null, at timestamptz not null default clock_timestamp())', 'shop');
    await cluster.query('insert into events (batch) select 0 from generate_series(1, 500)', 'shop');
    const redis = await startRedis({ dir: join(dir, 'redis-primary') });
    stopPrimaryRedis = redis.stop;
    await execa('redis-cli', ['-p', String(redis.redis.port), 'HSET', 'customer:1', 'name', 'Ada']);
    await execa('redis-cli', ['-p', String(redis.redis.port), 'SET', 'counter', '42']);
    const tree = join(dir, 'tree');
    mkdirSync(join(tree, 'uploads'), { recursive: true });
    for (let i = 0; i < 20; i += 1) writeFileSync(join(tree, 'uploads', `u-${i}.bin`), `upload ${i}\n`.repeat(100 + i));
    [pgPort, redisPort] = (await freePorts(2)) as [number, number];
    dataDir = join(dir, 'dr-pg');
    redisDir = join(dir, 'dr-redis');
    filesDir = join(dir, 'dr-files');
    hookLog = join(dir, 'hooks.log');
    const hook = ['/bin/sh', '-c', 'echo "$LIFEBOAT_STEP $LIFEBOAT_DRILL" >> "$0"', hookLog];
    fixture = await makeFixture({ ...servers, s3: { stockholm: s3.s3, gothenburg: servers.s3.gothenburg! } }, () => ({
      'app-db': { ...physicalSource(cluster, `FO_PHYS_PG_${process.pid}`), verify: { checks: [{ name: 'shop is there', sql: "select count(*) from pg_database where datname = 'shop'", expect: '= 1' }] } },
      'app-cache': { kind: 'redis', region: 'stockholm', url: `redis://127.0.0.1:${redis.redis.port}` },
      'app-files': { kind: 'files', region: 'stockholm', path: tree },
    }), {
      sync: { afterBackup: false },
      objectives: { rpo: '15m', rto: '1h' },
      failover: { hooks: { fence: { command: hook }, cutover: { command: hook }, undoCutover: { command: hook } } },
    }, {
      failover: { targets: { 'app-db': { dataDir, port: pgPort }, 'app-cache': { directory: redisDir, port: redisPort }, 'app-files': { directory: filesDir } } },
    });
    harness = await startHarness(fixture.config);
    const queue = `${fixture.config.temporal.taskQueuePrefix}stockholm`;
    for (const source of ['app-db', 'app-cache', 'app-files']) {
      backups[source] = await harness.client.workflow.execute('backupSource', { args: [{ source }], workflowId: `test-fo-phys-${source}-${process.pid}`, taskQueue: queue });
    }
    await harness.client.workflow.execute('syncRegions', { args: [{}], workflowId: `test-fo-phys-sync-${process.pid}`, taskQueue: queue });
    // Writes after the base backup: only the archived WAL brings them back.
    for (const batch of [1, 2]) {
      await cluster.query(`insert into events (batch) select ${batch} from generate_series(1, 200)`, 'shop');
      await archiveCurrentSegment(cluster);
    }
    const [last] = await cluster.query<{ at: Date; n: number }>('select max(at) as at, count(*)::int as n from events', 'shop');
    lastCommit = last!.at;
    rowsInPrimary = last!.n;
    // The WAL shipper's rounds (activities/wal/ship.ts) until the spool is empty: every region has every segment.
    const deps = createDeps(fixture.config);
    for (let round = 0; ; round += 1) {
      const shipped = await shipSpool(fixture.config, 'app-db', deps);
      expect(shipped.failures).toEqual([]);
      if (shipped.settling.length === 0 && shipped.waiting.length === 0) break;
      if (round > 30) throw new Error('the spool never settled');
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    // The primary region is gone.
    await cluster.stop();
    await stopPrimaryRedis();
    stopPrimaryRedis = undefined;
    await stopS3();
    stopS3 = undefined;
  }, 300_000);

  afterAll(async () => {
    if (result?.report) {
      const runKey = `fo${result.report.runId.replace(/-/g, '').slice(-12)}`;
      await removeRestoredCluster({ dataDir, port: pgPort }, markerText(runKey, 'app-db')).catch(() => undefined);
    }
    if (redisDir) await stopRedis(redisDir, redisPort).catch(() => undefined);
    await harness?.close();
    await stopPrimaryRedis?.().catch(() => undefined);
    await stopS3?.().catch(() => undefined);
    await cluster?.stop().catch(() => undefined);
    fixture?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a drill restores the physical cluster to the end of the archived WAL, checks it and removes it again', async () => {
    const prefix = fixture.config.temporal.taskQueuePrefix;
    const drill = await harness.client.workflow.execute('drFailover', {
      args: [{ targetRegion: 'gothenburg', recoveryPoint: 'latest', sources: ['app-db'], drill: true, approval: 'auto' }],
      workflowId: failoverWorkflowId(prefix, true), taskQueue: `${prefix}gothenburg`,
    }) as FailoverResult;
    expect(drill.state).toBe('succeeded');
    const db = drill.report!.sources[0]!;
    expect(db.checks).toEqual({ passed: 2, total: 2 });
    expect(Date.parse(db.recoveryPoint)).toBeGreaterThanOrEqual(lastCommit.getTime() - 1);
    expect(drill.report!.tornDown).toEqual([expect.stringContaining(`app-db: stopped and removed the cluster restored by lifeboat-failover`)]);
    expect(existsSync(dataDir)).toBe(false);
    expect(existsSync(socketDirOf(dataDir))).toBe(false);
    expect(existsSync(hookLog)).toBe(false);
  }, 300_000);

  it('approved with the Temporal CLI, brings back every archived row, Redis and the files, runs the hooks once and reports a measured RPO and RTO', async () => {
    const prefix = fixture.config.temporal.taskQueuePrefix;
    const handle = await harness.client.workflow.start('drFailover', {
      args: [{ targetRegion: 'gothenburg', recoveryPoint: 'latest', drill: false, requestedBy: 'test' }],
      workflowId: failoverWorkflowId(prefix, false), taskQueue: `${prefix}gothenburg`,
    });
    const waiting: FailoverStatus = await waitForStatus(handle, (s) => s.state === 'awaiting-approval', 120_000);
    const db = waiting.plan!.sources.find((s) => s.source === 'app-db')!;
    expect(db).toMatchObject({ kind: 'postgres-physical', backupId: backups['app-db']!.backupId, recoveryTarget: null });
    expect(db.wal!.gaps).toBe(0);
    expect(db.wal!.contiguousThrough).not.toBeNull();
    await approveWithTemporalCli(servers, fixture, handle.workflowId, { by: 'alice', planHash: waiting.plan!.planHash });
    result = await handle.result() as FailoverResult;
    expect(result.state).toBe('succeeded');
    const report = result.report!;

    // PostgreSQL: every row committed before the last archived segment.
    const client = new pg.Client({ host: socketDirOf(dataDir), port: pgPort, user: 'postgres', database: 'shop' });
    await client.connect();
    const { rows } = await client.query<{ n: number; batches: number[] }>('select count(*)::int as n, array_agg(distinct batch order by batch) as batches from events');
    await client.end();
    expect(rows[0]).toEqual({ n: rowsInPrimary, batches: [0, 1, 2] });
    const { stdout } = await execa('redis-cli', ['-p', String(redisPort), 'HGET', 'customer:1', 'name']);
    expect(stdout.trim()).toBe('Ada');
    expect(readdirSync(join(filesDir, 'uploads'))).toHaveLength(20);
    expect(existsSync(hookLog)).toBe(true);
    expect(readFileSync(hookLog, 'utf8').trim().split('\n')).toEqual(['fence false', 'cutover false']);

    // RPO: start minus the last replayed commit (measured by recovery, not the plan); RTO: start to cut-over.
    const pgReport = report.sources.find((s) => s.source === 'app-db')!;
    expect(Date.parse(pgReport.recoveryPoint)).toBeGreaterThanOrEqual(lastCommit.getTime() - 1);
    expect(pgReport.rpoMs).toBe(Date.parse(report.startedAt) - Date.parse(pgReport.recoveryPoint));
    expect(pgReport.rpoMs).toBeGreaterThan(0);
    expect(pgReport.rtoMs).toBe(Date.parse(report.cutoverAt!) - Date.parse(report.startedAt));
    expect(pgReport.checks.passed).toBe(pgReport.checks.total);
    expect(pgReport.checks.total).toBeGreaterThanOrEqual(2);
    for (const source of report.sources) expect(source.rtoMs).toBeGreaterThan(0);
    console.log(`physical failover: RTO ${pgReport.rtoMs} ms, RPO ${pgReport.rpoMs} ms; restores ${report.sources.map((s) => `${s.source} ${s.restoreMs} ms`).join(', ')}`);
  }, 300_000);
});
