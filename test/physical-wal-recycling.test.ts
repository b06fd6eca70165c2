import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { listBackups } from '../activities/catalog';
import { createDeps } from '../activities/deps';
import type { PostgresPhysicalDescription } from '../lib/manifest';
import { segmentOfLsn } from '../lib/wal';
import { startPostgres, type PostgresInfo } from './harness/postgres';
import { makeFixture, type Fixture } from './support/fixture';
import { runBackup } from './support/runs';
import { trusted } from './support/signing';
import { runVerify } from './support/verify';
import { startSwitch, type Switch } from './support/wal';
import { startHarness, type Harness } from './support/workers';

const servers = inject('servers');
const MiB = 1024 * 1024;

describe('a base backup while the server fills and recycles its WAL', () => {
  let dir: string;
  let cluster: { postgres: PostgresInfo; stop(): Promise<void> };
  let proxy: Switch;
  let fixture: Fixture;
  let harness: Harness;
  const query = async <T extends pg.QueryResultRow>(sql: string): Promise<T[]> => {
    const client = new pg.Client({ host: '127.0.0.1', port: cluster.postgres.port, user: 'postgres', password: cluster.postgres.password, database: 'postgres' });
    await client.connect();
    try {
      return (await client.query<T>(sql)).rows;
    } finally {
      await client.end();
    }
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lifeboat-walrecycle-'));
    // The postgres user restores into the scratch directory under dir.
    chmodSync(dir, 0o711);
    mkdirSync(join(dir, 'scratch'));
    // 1 MiB segments, at most two kept and none for standbys, no archive holding any back:
    // every checkpoint removes or recycles whatever WAL it no longer needs itself.
    cluster = await startPostgres({
      dir: join(dir, 'source'),
      initdbArgs: ['--wal-segsize=1'],
      settings: { wal_level: 'replica', max_wal_senders: 4, min_wal_size: '2MB', max_wal_size: '2MB', wal_keep_size: 0, archive_mode: 'off' },
    });
    await query("create table kept as select i as id, md5(i::text) as name from generate_series(1, 1000) i");
    await query('create table churn (id int, filler text)');
    // Between pg_basebackup and the server, so the test can stop the backup's bytes half-way.
    proxy = await startSwitch({ host: '127.0.0.1', port: cluster.postgres.port });
    const passwordEnv = `WALRECYCLE_PG_${Date.now()}`;
    process.env[passwordEnv] = cluster.postgres.password;
    fixture = await makeFixture(servers, () => ({
      'churn-db': {
        kind: 'postgres', region: 'stockholm', mode: 'physical', passwordEnv,
        url: `postgres://postgres@127.0.0.1:${proxy.port}/postgres`,
        verify: { checks: [{ name: 'kept', sql: 'select count(*) from kept', expect: '= 1000' }] },
      },
    }), { sync: { afterBackup: false } }, { verify: { target: { scratchDir: join(dir, 'scratch') } } });
    harness = await startHarness(fixture.config);
  });

  afterAll(async () => {
    proxy?.release();
    await harness?.close();
    await proxy?.close();
    await cluster?.stop();
    fixture?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the WAL it needs with a temporary slot, succeeds, restores, and leaves no slot behind', async () => {
    const held = proxy.holdAfter(MiB / 2);
    const backup = runBackup(harness.client, fixture.config, 'churn-db');
    await held;
    // pg_basebackup has started (its checkpoint is the newest) and now waits for the socket.
    const [start] = await query<{ file: string }>('select redo_wal_file as file from pg_control_checkpoint()');
    for (let round = 0; round < 8; round += 1) {
      await query("insert into churn select g, repeat('x', 200) from generate_series(1, 2000) g");
      await query('select pg_switch_wal()');
      await query('checkpoint');
    }
    const [now] = await query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn');
    const slots = await query<{ slot_name: string; temporary: boolean }>('select slot_name, temporary from pg_replication_slots');
    const kept = await query<{ n: number }>(`select count(*)::int as n from pg_ls_waldir() where name = '${start!.file}'`);
    proxy.release();
    const summary = await backup;

    expect(slots).toEqual([{ slot_name: expect.stringMatching(/^lifeboat_basebackup_[0-9a-f]{12}$/), temporary: true }]);
    expect(kept).toEqual([{ n: 1 }]);
    expect(await query('select slot_name from pg_replication_slots')).toEqual([]);

    const [entry] = await listBackups(createDeps(fixture.config).storage('stockholm'), trusted, 'churn-db');
    expect(entry!.manifest.id).toBe(summary.backupId);
    const description = entry!.manifest.description as PostgresPhysicalDescription;
    expect(description).toMatchObject({ startWalFile: start!.file, walSegmentBytes: MiB });
    expect(description.stopWalFile > description.startWalFile).toBe(true);
    // Far more WAL went by than the server keeps: without the slot the backup's first segment was gone.
    expect(segmentOfLsn(now!.lsn, MiB) - segmentOfLsn(description.startLsn, MiB)).toBeGreaterThanOrEqual(8);

    const verified = await runVerify(harness.client, fixture.config, { source: 'churn-db', region: 'stockholm', level: 'restore' });
    expect(verified.outcome, JSON.stringify(verified.regions[0]?.checks)).toBe('passed');
    expect(verified.regions[0]!.checks.find((c) => c.name === 'kept')!.detail).toBe('select count(*) from kept: expected = 1000, found 1000');
    expect(readdirSync(join(dir, 'scratch'))).toEqual([]);
  });
});
