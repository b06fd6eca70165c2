import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { RestoreResult } from '../activities/restore';
import { createDeps } from '../activities/deps';
import { findBackup } from '../activities/catalog';
import { majorOf } from '../activities/sources/postgres/binaries';
import { postmasterPid } from '../activities/sources/postgres/cluster';
import { lsnValue, removeRestoredCluster } from '../activities/sources/postgres/pitr';
import { socketDirOf, workDirOf } from '../activities/sources/postgres/restore-cluster';
import type { PostgresPhysicalDescription } from '../lib/manifest';
import { walKeys } from '../lib/wal';
import { freePorts } from '../test/harness/ports';
import type { Servers } from '../test/harness/servers';
import { archiveCurrentSegment, shipEverything, startArchivingPostgres, type ArchivingPostgres } from '../test/support/archiving-postgres';
import { flushDisks, lifeboat } from './cases';
import { preparePeer, redoSeconds, removePeer, replayPeer } from './pitr-peer';
import { nodeMemory, watchPeakRssSum, type WindowReport } from './procs';
import { target, type PitrResults } from './report';
import { explained } from './restore-cases';
import { startPartWorker } from './worker';

// The pitr part (issue 14, target 5): WAL is fetched ahead of replay, so replaying archived WAL
// through Lifeboat takes at most 1.2× replaying the same WAL from a local directory.
// (s) A Lifeboat point-in-time restore (restoreBackup) of a base backup of a cluster of its own,
//     with BENCH_WAL_MB of WAL written after it and shipped by Lifeboat's WAL shipper into a local
//     region, to a recovery target LSN at the end of that WAL: the WAL is fetched, checked against
//     its signed record and decrypted 4 at a time while PostgreSQL replays (stage-wal.ts).
// (t) The same base backup and the same archived WAL by hand (docs/pitr.md's break-glass): the WAL
//     decrypted into a local directory first, then recovery with restore_command = 'cp DIR/%f %p'
//     to the same LSN. Both are timed from pg_ctl start to the first poll that sees the promotion.

const MiB = 2 ** 20;
const SOURCE = 'cluster';
const REGION = 'pitr';

export interface PitrContext {
  servers: Servers;
  walMiB: number;
  /** Runs one case once the machine is quiet, sampling CPU; `extraGroups` is read while the case runs, so a server started meanwhile can be added. */
  measure<T extends { seconds: number }>(run: () => Promise<T>, extraGroups?: Map<number, string>): Promise<T & { window: WindowReport }>;
  log(line: string): void;
  cleanups: Array<() => Promise<void> | void>;
}

/**
 * Rounds of bulk INSERTs into a table with a primary key, each followed by an UPDATE of an eighth
 * and a DELETE of a sixteenth of its rows (heap, btree, HOT and non-HOT records for replay), until
 * `bytes` of WAL lie after `from`. Returns the LSN after the last commit.
 */
async function generateWal(cluster: ArchivingPostgres, from: string, bytes: number, log: (line: string) => void): Promise<{ lsn: string; rows: number }> {
  const client = new pg.Client({ host: cluster.postgres.host, port: cluster.postgres.port, user: cluster.postgres.user, password: cluster.postgres.password, database: 'postgres' });
  await client.connect();
  try {
    const perRound = 400_000;
    let next = 1;
    let lsn = from;
    for (let round = 1; ; round += 1) {
      const [first, last] = [next, next + perRound - 1];
      next += perRound;
      await client.query(`insert into wal_load select g, md5(g::text) || md5((g * 7)::text) from generate_series(${first}, ${last}) g`);
      await client.query(`update wal_load set payload = upper(payload) where id between ${first} and ${last} and id % 8 = 0`);
      await client.query(`delete from wal_load where id between ${first} and ${last} and id % 16 = 1`);
      lsn = (await client.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn')).rows[0]!.lsn;
      const written = Number(lsnValue(lsn) - lsnValue(from));
      if (round % 5 === 0 || written >= bytes) log(`  ${(written / MiB).toFixed(0)} MiB of WAL after the base backup`);
      if (written >= bytes) break;
    }
    const rows = Number((await client.query<{ n: string }>('select count(*) as n from wal_load')).rows[0]!.n);
    return { lsn, rows };
  } finally {
    await client.end();
  }
}

async function countRows(connection: pg.ClientConfig): Promise<number> {
  const client = new pg.Client(connection);
  await client.connect();
  try {
    return Number((await client.query<{ n: string }>('select count(*) as n from wal_load')).rows[0]!.n);
  } finally {
    await client.end();
  }
}

/**
 * One timed case with the worker's peak RSS beside it (its process group summed: node, age, zstd;
 * and its node's VmHWM), and the restored cluster's postmaster added to the sampled groups as soon
 * as it is up, so its CPU is the case's own and not "outside the benchmark".
 */
async function measured<T extends { seconds: number }>(measure: PitrContext['measure'], workerGroup: number, dataDir: string, label: string, run: () => Promise<T>): Promise<T & { window: WindowReport; rss: { workerSum: number; workerNode: number } }> {
  const groups = new Map([[workerGroup, 'pitr-worker']]);
  let rss = { workerSum: 0, workerNode: 0 };
  const result = await measure(async () => {
    nodeMemory(workerGroup, true);
    const worker = watchPeakRssSum((stat) => stat.pgrp === workerGroup);
    const postmaster = setInterval(() => {
      const pid = postmasterPid(dataDir);
      if (pid !== undefined && !groups.has(pid)) groups.set(pid, label);
    }, 100);
    try {
      return await run();
    } finally {
      clearInterval(postmaster);
      rss = { workerSum: worker.stop(), workerNode: nodeMemory(workerGroup).hwm };
    }
  }, groups);
  return { ...result, rss };
}

export async function pitrPart({ servers, walMiB, measure, log, cleanups }: PitrContext): Promise<PitrResults> {
  const dir = join(servers.workDir, 'pitr');
  mkdirSync(dir, { recursive: true });
  log('starting a cluster of its own for the pitr part (wal_level replica, archiving into a spool)…');
  const cluster = await startArchivingPostgres(dir);
  cleanups.push(() => cluster.stop());
  // No checkpoint inside the WAL that is replayed: it is one stream of row changes, not of full-page
  // images. The base backup carries postgresql.auto.conf, so both restores replay with the same settings.
  await cluster.query(`alter system set max_wal_size = '${Math.max(4096, walMiB * 2)}MB'`);
  await cluster.query("alter system set checkpoint_timeout = '1d'");
  await cluster.query('select pg_reload_conf()');
  await cluster.query('create table wal_load (id bigint primary key, payload text not null) with (autovacuum_enabled = off)');

  const regionDir = join(dir, 'region');
  const passwordEnv = `BENCH_PITR_PG_${process.pid}`;
  const pgUrl = `postgres://${cluster.postgres.user}@127.0.0.1:${cluster.postgres.port}/postgres`;
  const worker = await startPartWorker({
    servers, cleanups, region: REGION, storage: { type: 'local', path: regionDir },
    sources: { [SOURCE]: { kind: 'postgres', region: REGION, mode: 'physical', passwordEnv, url: pgUrl, wal: { spool: cluster.spool } } },
    env: { [passwordEnv]: cluster.postgres.password }, nodeOptions: process.env.BENCH_PITR_WORKER_NODE_OPTIONS,
  });
  const { config, key } = worker.fixture;
  const deps = createDeps(config);

  log('base backup through Lifeboat (not timed)…');
  const backup = await lifeboat(worker.client, config, SOURCE);
  const { manifest } = await findBackup(deps.storage(REGION), deps.trusted, SOURCE, backup.summary.backupId);
  const base = manifest.description as PostgresPhysicalDescription;

  log(`writing ${walMiB} MiB of WAL after it (not timed)…`);
  let start = performance.now();
  const generated = await generateWal(cluster, base.stopLsn, walMiB * MiB, log);
  const generateSeconds = (performance.now() - start) / 1000;
  // The recovery target: the end of that WAL, in a segment that is then finished and archived.
  const targetLsn = generated.lsn;
  await archiveCurrentSegment(cluster);
  log('shipping the archived WAL into the region with Lifeboat\'s WAL shipper (not timed)…');
  start = performance.now();
  const shipped = await shipEverything(config, SOURCE);
  const shipSeconds = (performance.now() - start) / 1000;
  // Nothing more is read from it: an idle server would only take from the cases.
  await cluster.stop();

  const walPrefix = join(regionDir, walKeys.prefix(SOURCE));
  // What the break-glass decrypts: every archived file from the base backup's start segment on.
  const walObjects = readdirSync(walPrefix).filter((name) => name.endsWith('.zst.age') && name.replace(/\.zst\.age$/, '') >= base.startWalFile).sort().map((name) => join(walPrefix, name));
  const storedWalBytes = walObjects.reduce((sum, file) => sum + statSync(file).size, 0);
  const replayedBytes = Number(lsnValue(targetLsn) - lsnValue(base.startLsn));
  const [portS, portT] = await freePorts(2);
  const major = majorOf(base.serverVersion);

  await flushDisks();
  const dataS = join(dir, 'restored-lifeboat');
  const workflowId = `bench-pitr-${Date.now()}`;
  cleanups.push(() => removeRestoredCluster({ dataDir: dataS, port: portS! }, `restore:${workflowId}`).then(() => undefined));
  log(`(s) Lifeboat point-in-time restore through restoreBackup to LSN ${targetLsn} (${(replayedBytes / MiB).toFixed(0)} MiB of WAL from the base backup's start)…`);
  const s = await measured(measure, worker.workerGroup, dataS, 'restored-postgres', async () => {
    const begin = performance.now();
    const result = await explained(worker.client, workflowId, worker.client.workflow.execute('restoreBackup', {
      args: [{ source: SOURCE, region: REGION, backupId: 'latest', target: dataS, clean: false, noOwner: false, cluster: { port: portS!, lsn: targetLsn } }],
      workflowId,
      taskQueue: `${config.temporal.taskQueuePrefix}${REGION}`,
    }), 'restoreBackup (point in time)') as RestoreResult;
    return { seconds: (performance.now() - begin) / 1000, result };
  });
  const pitr = s.result.pitr!;
  log(`  ${s.result.checked}`);
  const sRedo = redoSeconds(join(workDirOf(dataS), 'postgres.log'));
  const sRows = await countRows({ host: socketDirOf(dataS), port: portS!, user: base.bootstrapSuperuser ?? 'postgres', database: 'postgres' });
  const removed = await removeRestoredCluster({ dataDir: dataS, port: portS! }, `restore:${workflowId}`);
  if (!removed.removed) log(`  the restored cluster was not removed: ${removed.detail}`);

  await flushDisks();
  const peerDir = join(dir, 'peer');
  log('(t) by hand: age -d | zstd -d | tar -x, pg_verifybackup, each archived WAL file decrypted into a local directory (timed apart)…');
  const object = manifest.objects.find((o) => o.role === 'data')!;
  const prepared = await preparePeer({ dir: peerDir, identity: key.identityFile, baseObject: join(regionDir, object.key), walObjects, major, port: portT!, targetLsn });
  cleanups.push(() => removePeer(prepared, peerDir));
  await flushDisks();
  log(`(t) PostgreSQL recovery from that directory with restore_command = 'cp DIR/%f %p' to the same LSN…`);
  const t = await measured(measure, worker.workerGroup, prepared.dataDir, 'restored-postgres', () => replayPeer(prepared, portT!));
  const tRows = await countRows({ host: prepared.socketDir, port: portT!, user: 'postgres', database: 'postgres' });
  await removePeer(prepared, peerDir);
  await worker.stop();
  if (sRows !== tRows || sRows !== generated.rows) throw new Error(`the restores differ: Lifeboat's has ${sRows} rows, the peer's ${tRows}, the source had ${generated.rows}`);

  const replayS = pitr.replayMs / 1000;
  const mbps = (seconds: number) => replayedBytes / 1e6 / seconds;
  const peerTotal = prepared.extractSeconds + prepared.verifySeconds + prepared.walSeconds + t.seconds;
  return {
    wal: {
      targetMiB: walMiB, afterBackupBytes: Number(lsnValue(targetLsn) - lsnValue(base.stopLsn)), replayedBytes, targetLsn, startWalFile: base.startWalFile,
      archivedFiles: walObjects.length, storedBytes: storedWalBytes, shippedFiles: shipped.length, rows: generated.rows, generateSeconds, shipSeconds,
    },
    base: { backupId: manifest.id, storedBytes: object.size },
    cases: {
      s: {
        label: 'lifeboat restore --lsn (restoreBackup): verify, extract, pg_verifybackup, then PostgreSQL replays while the WAL is fetched, checked and decrypted 4 at a time into the staging directory; pg_ctl start → promotion',
        seconds: replayS, outputBytes: 0, cpu: s.window.cpu,
        extra: {
          'WAL MB/s': mbps(replayS), 'whole workflow s': s.seconds, 'restore activity s': pitr.restoreMs / 1000, 'redo elapsed s (server log)': sRedo ?? 'n/a',
          'WAL files replayed (its result)': pitr.walFiles, 'MB replayed (its result)': pitr.walBytes / 1e6, 'recovered LSN': pitr.recoveredLsn,
        },
      },
      t: {
        label: 'by hand: the same WAL decrypted into a local directory first, restore_command = \'cp DIR/%f %p\', recovery_target_lsn the same; pg_ctl start → promotion',
        seconds: t.seconds, outputBytes: 0, cpu: t.window.cpu,
        extra: {
          'WAL MB/s': mbps(t.seconds), 'redo elapsed s (server log)': t.redoSeconds ?? 'n/a', 'recovered LSN': t.lsn,
          'age|zstd|tar s': prepared.extractSeconds, 'pg_verifybackup s': prepared.verifySeconds, 'WAL decrypted s': prepared.walSeconds,
          'WAL files': prepared.walFiles, 'MB decrypted': prepared.walBytes / 1e6, 'whole s': peerTotal,
        },
      },
    },
    totals: { s: s.seconds, t: peerTotal },
    redo: { s: sRedo, t: t.redoSeconds },
    ratios: { sOverT: target(replayS / t.seconds, 1.2) },
    rss: { workerSum: s.rss.workerSum, workerNode: s.rss.workerNode },
  };
}
