import { spawn } from 'node:child_process';
import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client, Connection } from '@temporalio/client';
import { dataConverterOf } from '../lib/codec/data-converter';
import { registerDir, registerGroup, registerStop } from '../test/harness/cleanup';
import type { Servers } from '../test/harness/servers';
import { startArchivingPostgres } from '../test/support/archiving-postgres';
import { makeFixture } from '../test/support/fixture';
import { startWorkerProcess } from '../test/support/worker-process';
import { lifeboat } from './cases';
import { generateDatabase } from './generate';
import { phasesOf } from './phases';
import type { WindowReport } from './procs';
import type { PhysicalResults } from './report';

// The physical part: (m) a Lifeboat base backup of a whole cluster to a local region against (n)
// pgBackRest's full backup of the same cluster to a local repository, zstd 3 and encryption on
// both, pgBackRest with process-max = cores. Both to a local directory: pgBackRest speaks only TLS
// to S3, and the test SeaweedFS serves plain HTTP (docs/benchmark.md says so).

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

  // Lifeboat: a fixture of its own with one local region, served by a worker of its own.
  const regionDir = join(dir, 'lifeboat-region');
  const noS3 = { ...servers, s3: {} };
  const passwordEnv = `BENCH_PHYSICAL_PG_${process.pid}`;
  const fixture = await makeFixture(noS3, () => ({
    cluster: { kind: 'postgres', region: 'local', mode: 'physical', passwordEnv, url: `postgres://${pg.user}@127.0.0.1:${pg.port}/postgres` },
    warmup: { kind: 'postgres', region: 'local', mode: 'physical', passwordEnv, url: `postgres://${pg.user}@127.0.0.1:${pg.port}/postgres` },
  }), { primaryRegion: 'local', regions: { local: { storage: { type: 'local', path: regionDir } } }, sync: { afterBackup: false } });
  fixture.env[passwordEnv] = pg.password;
  const unregisterDir = registerDir(fixture.dir);
  cleanups.push(() => { fixture.cleanup(); unregisterDir(); });
  const worker = startWorkerProcess(fixture.configFile, fixture.env);
  const workerGroup = worker.child.pid!;
  const unregisterGroup = registerGroup(workerGroup);
  const unregisterStop = registerStop(worker.stop);
  cleanups.push(async () => { await worker.stop(); unregisterStop(); unregisterGroup(); });
  const deadline = Date.now() + 180_000;
  while (!worker.output().includes('polling')) {
    if (worker.child.exitCode !== null || Date.now() > deadline) throw new Error(`the physical part's worker did not start polling:\n${worker.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const connection = await Connection.connect({ address: servers.temporal.address });
  cleanups.push(() => connection.close());
  const client = new Client({ connection, namespace: servers.temporal.namespace, dataConverter: dataConverterOf(fixture.config) });
  const groups = new Map([[workerGroup, 'physical-worker'], [cluster.postgres.pid, 'physical-postgres']]);

  log('warm-up base backup (not timed)…');
  await lifeboat(client, fixture.config, 'warmup');
  log('(m) Lifeboat physical base backup to a local region…');
  const m = await measure(() => lifeboat(client, fixture.config, 'cluster'), groups);
  const phases = await phasesOf(client, m.workflowId, m.seconds);

  // pgBackRest: a repository beside it, owned by postgres, as its documentation sets one up.
  const processMax = availableParallelism();
  const repo = join(dir, 'pgbackrest');
  for (const sub of ['repo', 'lock', 'log', 'spool']) mkdirSync(join(repo, sub), { recursive: true });
  if (process.getuid?.() === 0) {
    const uid = Number((await run('id', ['-u', 'postgres'])).trim());
    const gid = Number((await run('id', ['-g', 'postgres'])).trim());
    for (const path of [repo, ...['repo', 'lock', 'log', 'spool'].map((sub) => join(repo, sub))]) chownSync(path, uid, gid);
  }
  const conf = join(repo, 'pgbackrest.conf');
  writeFileSync(conf, [
    '[global]',
    `repo1-path=${join(repo, 'repo')}`,
    'repo1-cipher-type=aes-256-cbc',
    'repo1-cipher-pass=bench-not-a-secret',
    'repo1-retention-full=1',
    'compress-type=zst',
    'compress-level=3',
    `process-max=${processMax}`,
    'start-fast=y',
    // Lifeboat's base backup carries its WAL (-X fetch); pgBackRest takes it from its archive, which
    // this cluster does not feed: the comparison is of the data files.
    'archive-check=n',
    `lock-path=${join(repo, 'lock')}`,
    `log-path=${join(repo, 'log')}`,
    `spool-path=${join(repo, 'spool')}`,
    'log-level-console=warn',
    'log-level-file=off',
    '',
    '[bench]',
    `pg1-path=${cluster.postgres.dataDir}`,
    `pg1-port=${pg.port}`,
    `pg1-socket-path=${join(dir, 'source')}`,
    `pg1-user=${pg.user}`,
    '',
  ].join('\n'));
  const pgbackrest = (args: string[]) => {
    const [command, argv] = asPostgres(['pgbackrest', `--config=${conf}`, '--stanza=bench', ...args]);
    return run(command, argv);
  };
  log('pgBackRest stanza-create (not timed)…');
  await pgbackrest(['stanza-create']);
  log(`(n) pgBackRest full backup, zstd 3, aes-256-cbc, process-max ${processMax}…`);
  const n = await measure(async () => {
    const start = performance.now();
    await pgbackrest(['--type=full', 'backup']);
    return { seconds: (performance.now() - start) / 1000 };
  }, groups);
  const info = JSON.parse(await pgbackrest(['--output=json', 'info'])) as Array<{ backup: Array<{ info: { repository: { delta: number; size: number }; size: number } }> }>;
  const stored = info[0]?.backup.at(-1)?.info.repository.size ?? 0;

  return {
    cluster: { bytes: Number(size!.bytes), generateSeconds },
    cases: {
      m: {
        label: 'lifeboat backup of a physical source: workflow → pg_basebackup -Ft -X fetch | zstd | age → sha256 → local region (worker warm)',
        seconds: m.seconds, outputBytes: m.summary.bytes, cpu: m.window.cpu, extra: { 'snapshot activity s': m.summary.durationMs / 1000, backupId: m.summary.backupId },
      },
      n: { label: `pgBackRest ${version} backup --type=full, zstd 3, aes-256-cbc, process-max ${processMax}, local repository`, seconds: n.seconds, outputBytes: stored, cpu: n.window.cpu },
    },
    phases,
    pgbackrest: { version, processMax },
    ratios: { mOverN: m.seconds / n.seconds },
  };
}
