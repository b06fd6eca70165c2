import { spawn } from 'node:child_process';
import { chownSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { s3Client } from '../test/harness/seaweedfs';
import type { S3Server, Servers } from '../test/harness/servers';
import { startArchivingPostgres } from '../test/support/archiving-postgres';
import { lifeboat } from './cases';
import { generateDatabase } from './generate';
import { phasesOf } from './phases';
import { nodeMemory, ownProcessGroup, watchPeakRssSum, type WindowReport } from './procs';
import type { CaseResult, PhysicalResults, PhysicalS3Results } from './report';
import { startPartWorker } from './worker';

// The physical part: (m) a Lifeboat base backup of a whole cluster to a local region against (n)
// pgBackRest's full backup of the same cluster to a local repository, zstd 3 and encryption on
// both, pgBackRest with process-max = cores. Then, where the benchmark's SeaweedFS also serves
// HTTPS (startServers({ s3Https }): pgBackRest speaks only TLS to S3), (m3) and (n3): the same two
// backups to that SeaweedFS over HTTPS, each tool to a bucket of its own, both trusting the CA
// made for the run (docs/benchmark.md).

const MiB = 2 ** 20;

export interface PhysicalContext {
  servers: Servers;
  sizeMiB: number;
  measure<T extends { seconds: number }>(run: () => Promise<T>, extraGroups?: Map<number, string>): Promise<T & { window: WindowReport }>;
  log(line: string): void;
  cleanups: Array<() => Promise<void> | void>;
}

/** Runs a command, resolving with stdout; rejects with the tail of stderr. */
function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.once('error', reject);
    child.once('exit', (code, signal) => (code === 0 ? resolve(stdout) : reject(new Error(`${command} ${args.join(' ')} ${signal ? `was killed by ${signal}` : `exited with ${code}`}: ${(stderr || stdout).trim().slice(-800)}`))));
  });
}

export const PGBACKREST_INSTALL_HINT = 'npm run bench installs it (scripts/setup.sh --bench); by hand: apt-get install pgbackrest';

/** "2.45" from `pgbackrest version`; fails with the install hint when it is missing. */
export async function pgbackrestVersion(): Promise<string> {
  try {
    return (await run('pgbackrest', ['version'])).trim().replace(/^pgBackRest /, '');
  } catch {
    throw new Error(`pgBackRest is not installed (the physical part compares against it); ${PGBACKREST_INSTALL_HINT}`);
  }
}

/** pgBackRest reads the data directory itself, so it runs as the cluster's owner. */
const asPostgres = (args: string[]): [string, string[]] => (process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', ...args]] : [args[0]!, args.slice(1)]);

/** Where pgBackRest keeps its lock, log and spool files, and (local case) its repository. */
async function pgbackrestDirs(root: string, subs: string[]): Promise<void> {
  for (const sub of subs) mkdirSync(join(root, sub), { recursive: true });
  if (process.getuid?.() === 0) {
    const uid = Number((await run('id', ['-u', 'postgres'])).trim());
    const gid = Number((await run('id', ['-g', 'postgres'])).trim());
    for (const path of [root, ...subs.map((sub) => join(root, sub))]) chownSync(path, uid, gid);
  }
}

/** The settings both pgBackRest cases share: everything but the repository's type and place. */
function pgbackrestConf(root: string, repo: string[], cluster: { dataDir: string; port: number; user: string; socketDir: string }, processMax: number): string {
  return [
    '[global]',
    ...repo,
    'repo1-cipher-type=aes-256-cbc',
    'repo1-cipher-pass=bench-not-a-secret',
    // Two: the S3 case's warm-up backup is not expired (deleted) inside the timed one.
    'repo1-retention-full=2',
    'compress-type=zst',
    'compress-level=3',
    `process-max=${processMax}`,
    'start-fast=y',
    // Lifeboat's base backup carries its WAL (-X fetch); pgBackRest takes it from its archive, which
    // this cluster does not feed: the comparison is of the data files.
    'archive-check=n',
    `lock-path=${join(root, 'lock')}`,
    `log-path=${join(root, 'log')}`,
    `spool-path=${join(root, 'spool')}`,
    'log-level-console=warn',
    'log-level-file=off',
    '',
    '[bench]',
    `pg1-path=${cluster.dataDir}`,
    `pg1-port=${cluster.port}`,
    `pg1-socket-path=${cluster.socketDir}`,
    `pg1-user=${cluster.user}`,
    '',
  ].join('\n');
}

/** The stored size of the newest backup, from `pgbackrest info`. */
async function storedBytes(pgbackrest: (args: string[]) => Promise<string>): Promise<number> {
  const info = JSON.parse(await pgbackrest(['--output=json', 'info'])) as Array<{ backup: Array<{ info: { repository: { delta: number; size: number }; size: number } }> }>;
  return info[0]?.backup.at(-1)?.info.repository.size ?? 0;
}

type Measure = PhysicalContext['measure'];

/**
 * One timed run with the peak RSS of the tool's processes beside it: for Lifeboat the worker's
 * process group summed (node, pg_basebackup, zstd, age) and its node's own VmHWM; for pgBackRest
 * every pgbackrest process the benchmark started, summed.
 */
async function measured<T extends { seconds: number }>(measure: Measure, groups: Map<number, string>, workerGroup: number, run: () => Promise<T>): Promise<T & { window: WindowReport; rss: { workerSum: number; workerNode: number; pgbackrestSum: number } }> {
  const bench = ownProcessGroup();
  let rss = { workerSum: 0, workerNode: 0, pgbackrestSum: 0 };
  const result = await measure(async () => {
    // Started once the machine is quiet (measure waits for it first), so the wait is not watched.
    nodeMemory(workerGroup, true);
    const worker = watchPeakRssSum((stat) => stat.pgrp === workerGroup);
    const pgbackrest = watchPeakRssSum((stat) => stat.pgrp === bench && stat.name === 'pgbackrest');
    try {
      return await run();
    } finally {
      rss = { workerSum: worker.stop(), workerNode: nodeMemory(workerGroup).hwm, pgbackrestSum: pgbackrest.stop() };
    }
  }, groups);
  return { ...result, rss };
}

type PhysicalLifeboat = Awaited<ReturnType<typeof startPartWorker>>;

/**
 * A worker of its own with one region (`physical`) and two physical sources of the cluster,
 * `warmup` and `cluster`. BENCH_PHYSICAL_WORKER_NODE_OPTIONS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof",
 * is the worker's NODE_OPTIONS (a profile covers its whole life, start-up and the warm-up too; written when it stops).
 */
async function startLifeboat(o: {
  servers: Servers; cleanups: PhysicalContext['cleanups']; pgUrl: string; pgPassword: string; storage: Record<string, unknown>; env: Record<string, string>;
}): Promise<PhysicalLifeboat> {
  const passwordEnv = `BENCH_PHYSICAL_PG_${process.pid}`;
  const source = { kind: 'postgres', region: 'physical', mode: 'physical', passwordEnv, url: o.pgUrl };
  return startPartWorker({
    servers: o.servers, cleanups: o.cleanups, region: 'physical', storage: o.storage, sources: { cluster: source, warmup: source },
    env: { [passwordEnv]: o.pgPassword, ...o.env }, nodeOptions: process.env.BENCH_PHYSICAL_WORKER_NODE_OPTIONS,
  });
}

export async function physicalPart({ servers, sizeMiB, measure, log, cleanups }: PhysicalContext, version: string): Promise<PhysicalResults> {
  const dir = join(servers.workDir, 'physical');
  mkdirSync(dir, { recursive: true });
  log('starting a cluster of its own for the physical part (wal_level replica, archiving into a spool)…');
  const cluster = await startArchivingPostgres(dir);
  cleanups.push(() => cluster.stop());
  const pg = { host: '127.0.0.1', port: cluster.postgres.port, user: cluster.postgres.user, password: cluster.postgres.password };
  log(`generating a ${sizeMiB} MiB database in it (not timed)…`);
  const generateStart = performance.now();
  await generateDatabase(pg, 'bench', sizeMiB * MiB, log);
  const generateSeconds = (performance.now() - generateStart) / 1000;
  const [size] = await cluster.query<{ bytes: string }>('select sum(pg_database_size(oid))::bigint as bytes from pg_database');
  await cluster.query('checkpoint');

  // Lifeboat: a fixture of its own with one local region, served by a worker of its own. The S3 case
  // gets another (one S3 region on the benchmark's SeaweedFS over HTTPS), so this one is as before.
  const s3 = servers.s3.stockholm;
  const https = s3?.https;
  if (!https) log('the benchmark\'s SeaweedFS serves no HTTPS: the physical part runs its local case only');
  const pgUrl = `postgres://${pg.user}@127.0.0.1:${pg.port}/postgres`;
  const local = await startLifeboat({ servers, cleanups, pgUrl, pgPassword: pg.password, storage: { type: 'local', path: join(dir, 'lifeboat-region') }, env: {} });
  const groups = new Map([[local.workerGroup, 'physical-worker'], [cluster.postgres.pid, 'physical-postgres']]);

  const processMax = availableParallelism();
  const timedBackup = (pgbackrest: (args: string[]) => Promise<string>) => async () => {
    const start = performance.now();
    await pgbackrest(['--type=full', 'backup']);
    return { seconds: (performance.now() - start) / 1000 };
  };
  const mib = (bytes: number) => (bytes / MiB).toFixed(0);
  const lifeboatCase = (result: Awaited<ReturnType<typeof lifeboat>> & { window: WindowReport; rss: { workerSum: number; workerNode: number } }, where: string): CaseResult => ({
    label: `lifeboat backup of a physical source: workflow → pg_basebackup -Ft -X fetch | zstd | age → sha256 → ${where} (worker warm)`,
    seconds: result.seconds, outputBytes: result.summary.bytes, cpu: result.window.cpu,
    extra: { 'snapshot activity s': result.summary.durationMs / 1000, backupId: result.summary.backupId, 'peak RSS MiB, worker group summed': mib(result.rss.workerSum), 'worker node VmHWM MiB': mib(result.rss.workerNode) },
  });
  const pgbackrestCase = (result: { seconds: number; window: WindowReport; rss: { pgbackrestSum: number } }, stored: number, where: string): CaseResult => ({
    label: `pgBackRest ${version} backup --type=full, zstd 3, aes-256-cbc, process-max ${processMax}, ${where}`,
    seconds: result.seconds, outputBytes: stored, cpu: result.window.cpu, extra: { 'peak RSS MiB, pgbackrest processes summed': mib(result.rss.pgbackrestSum) },
  });
  const cluster1 = { dataDir: cluster.postgres.dataDir, port: pg.port, user: pg.user, socketDir: join(dir, 'source') };

  log('warm-up base backup (not timed)…');
  await lifeboat(local.client, local.fixture.config, 'warmup');
  log('(m) Lifeboat physical base backup to a local region…');
  const m = await measured(measure, groups, local.workerGroup, () => lifeboat(local.client, local.fixture.config, 'cluster'));
  const phases = await phasesOf(local.client, m.workflowId, m.seconds);

  // pgBackRest: a repository beside it, owned by postgres, as its documentation sets one up.
  const repo = join(dir, 'pgbackrest');
  await pgbackrestDirs(repo, ['repo', 'lock', 'log', 'spool']);
  const conf = join(repo, 'pgbackrest.conf');
  writeFileSync(conf, pgbackrestConf(repo, [`repo1-path=${join(repo, 'repo')}`], cluster1, processMax));
  const pgbackrest = (args: string[]) => {
    const [command, argv] = asPostgres(['pgbackrest', `--config=${conf}`, '--stanza=bench', ...args]);
    return run(command, argv);
  };
  log('pgBackRest stanza-create (not timed)…');
  await pgbackrest(['stanza-create']);
  log(`(n) pgBackRest full backup, zstd 3, aes-256-cbc, process-max ${processMax}…`);
  const n = await measured(measure, groups, local.workerGroup, timedBackup(pgbackrest));
  const stored = await storedBytes(pgbackrest);
  // Not idle beside the S3 case.
  await local.stop();

  const results: PhysicalResults = {
    cluster: { bytes: Number(size!.bytes), generateSeconds },
    cases: { m: lifeboatCase(m, 'local region'), n: pgbackrestCase(n, stored, 'local repository') },
    phases,
    pgbackrest: { version, processMax },
    ratios: { mOverN: m.seconds / n.seconds },
    rss: { m: { workerSum: m.rss.workerSum, workerNode: m.rss.workerNode }, n: { pgbackrestSum: n.rss.pgbackrestSum } },
  };
  if (s3 && https) {
    // A worker of its own for the S3 region: the S3 client in it trusts the run's CA (NODE_EXTRA_CA_CERTS).
    const keyEnv = `BENCH_PHYSICAL_S3_KEY_${process.pid}`;
    const secretEnv = `BENCH_PHYSICAL_S3_SECRET_${process.pid}`;
    const lifeboatS3 = await startLifeboat({
      servers, cleanups, pgUrl, pgPassword: pg.password,
      storage: { type: 's3', endpoint: https.endpoint, bucket: s3.bucket, region: s3.region, forcePathStyle: true, prefix: `physical-${process.pid}/`, accessKeyIdEnv: keyEnv, secretAccessKeyEnv: secretEnv },
      env: { [keyEnv]: s3.accessKeyId, [secretEnv]: s3.secretAccessKey, NODE_EXTRA_CA_CERTS: https.caFile },
    });
    const s3Groups = new Map([[lifeboatS3.workerGroup, 'physical-worker'], [cluster.postgres.pid, 'physical-postgres']]);
    results.s3 = await s3Case({ s3, https, cluster: cluster1, processMax, lifeboat: lifeboatS3, groups: s3Groups, measure, log, dir, lifeboatCase, pgbackrestCase, timedBackup });
    await lifeboatS3.stop();
  }
  return results;
}

/**
 * (m3) and (n3): both tools to the benchmark's SeaweedFS over HTTPS, each after an untimed
 * warm-up backup of its own the same way (the TLS session, the bucket, SeaweedFS's volumes).
 * Lifeboat writes into the SeaweedFS's bucket under a prefix of its own, pgBackRest into a bucket
 * of its own; both verify the server's certificate against the run's CA.
 */
async function s3Case(c: {
  s3: S3Server; https: NonNullable<S3Server['https']>; cluster: { dataDir: string; port: number; user: string; socketDir: string }; processMax: number;
  lifeboat: PhysicalLifeboat; groups: Map<number, string>; measure: Measure; log(line: string): void; dir: string;
  lifeboatCase(result: Awaited<ReturnType<typeof lifeboat>> & { window: WindowReport; rss: { workerSum: number; workerNode: number } }, where: string): CaseResult;
  pgbackrestCase(result: { seconds: number; window: WindowReport; rss: { pgbackrestSum: number } }, stored: number, where: string): CaseResult;
  timedBackup(pgbackrest: (args: string[]) => Promise<string>): () => Promise<{ seconds: number }>;
}): Promise<PhysicalS3Results> {
  const { s3, https, groups, measure, log } = c;
  const { client, fixture, workerGroup } = c.lifeboat;
  log(`warm-up base backup to S3 over HTTPS, ${https.endpoint} (not timed)…`);
  await lifeboat(client, fixture.config, 'warmup');
  log('(m3) Lifeboat physical base backup to S3 over HTTPS…');
  const m = await measured(measure, groups, workerGroup, () => lifeboat(client, fixture.config, 'cluster'));
  const phases = await phasesOf(client, m.workflowId, m.seconds);

  // pgBackRest's bucket, made over plain HTTP before anything is timed.
  const bucket = 'pgbackrest-bench';
  const admin = s3Client(s3);
  try {
    await admin.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    admin.destroy();
  }
  const root = join(c.dir, 'pgbackrest-s3');
  await pgbackrestDirs(root, ['lock', 'log', 'spool']);
  // A copy the postgres user can surely read, whatever the modes above the run's work dir.
  const caFile = join(root, 'ca.pem');
  copyFileSync(https.caFile, caFile);
  const conf = join(root, 'pgbackrest.conf');
  writeFileSync(conf, pgbackrestConf(root, [
    'repo1-type=s3',
    'repo1-path=/repo',
    'repo1-s3-endpoint=127.0.0.1',
    `repo1-storage-port=${https.port}`,
    `repo1-s3-bucket=${bucket}`,
    `repo1-s3-region=${s3.region}`,
    'repo1-s3-uri-style=path',
    `repo1-s3-key=${s3.accessKeyId}`,
    `repo1-s3-key-secret=${s3.secretAccessKey}`,
    // Verified against the run's CA (repo1-storage-verify-tls stays y); repo1-s3-ca-file is its older name.
    `repo1-storage-ca-file=${caFile}`,
  ], c.cluster, c.processMax), { mode: 0o600 });
  if (process.getuid?.() === 0) {
    const uid = Number((await run('id', ['-u', 'postgres'])).trim());
    const gid = Number((await run('id', ['-g', 'postgres'])).trim());
    for (const path of [conf, caFile]) chownSync(path, uid, gid);
  }
  const pgbackrest = (args: string[]) => {
    const [command, argv] = asPostgres(['pgbackrest', `--config=${conf}`, '--stanza=bench', ...args]);
    return run(command, argv);
  };
  log('pgBackRest stanza-create and a warm-up full backup to S3 over HTTPS (not timed)…');
  await pgbackrest(['stanza-create']);
  await pgbackrest(['--type=full', 'backup']);
  log(`(n3) pgBackRest full backup to S3 over HTTPS, zstd 3, aes-256-cbc, process-max ${c.processMax}…`);
  const n = await measured(measure, groups, workerGroup, c.timedBackup(pgbackrest));
  const stored = await storedBytes(pgbackrest);
  const where = `SeaweedFS S3 over HTTPS (${https.endpoint})`;
  return {
    endpoint: https.endpoint,
    cases: { m3: c.lifeboatCase(m, where), n3: c.pgbackrestCase(n, stored, where) },
    phases,
    ratios: { m3OverN3: m.seconds / n.seconds },
    rss: { m3: { workerSum: m.rss.workerSum, workerNode: m.rss.workerNode }, n3: { pgbackrestSum: n.rss.pgbackrestSum } },
  };
}
