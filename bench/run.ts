// `npm run bench` (scripts/bench.sh: setup.sh --bench installs the peers, then this): Lifeboat beside
// the tool an operator would use instead, in one run, printed as one table (bench/report.ts).
// postgres: (a) pg_dump to /dev/null, (b) pg_dump | zstd | age | aws s3 cp - to the same SeaweedFS,
//   (c) a Lifeboat backup through Temporal, with its phases read from the workflow's history;
//   (b2) pg_dump | zstd | age > file; sync, (c2) a Lifeboat backup to a local region on the same
//   disk, through a worker of its own (bench/local-region-part.ts).
// files: (d) a Lifeboat full backup of a generated tree, (e) tar | zstd | age to a local file (the
//   floor), (f) restic to the same S3 server.
// restore: (g) a Lifeboat restore through restoreBackup, (h) pg_restore of the same dump from a
//   local file, (i) the RTO a restore-level verifyRestore records.
// physical: (m) a Lifeboat base backup of a cluster of its own to a local region, (n) pgBackRest's
//   full backup of the same cluster to a local repository; (m3), (n3) the same two to the SeaweedFS
//   over HTTPS (bench/physical-part.ts).
// pitr: (s) a Lifeboat point-in-time restore (restoreBackup, --lsn) of a base backup of a cluster of
//   its own with BENCH_WAL_MB of WAL written after it, shipped by the WAL shipper into a local region;
//   (t) the same WAL decrypted into a local directory and replayed with restore_command = cp; replay
//   s/t ≤ 1.2 (bench/pitr-part.ts).
// cli: `lifeboat --help` and `lifeboat backups list` beside `node -e 0`, medians of 5.
// catalog: (o) backups list, (p) status, (q) retention show, (r) a failover preflight's plan over a
//   seeded catalog in three regions, each ≤ 2 s and ≤ 300 MiB (bench/catalog-part.ts).
//   BENCH_CASES            which parts to run, comma-separated: postgres, files, restore, physical, pitr, cli, catalog (default all seven)
//   BENCH_SIZE_MB          database size in MiB (default 1024; 100 for a quick run)
//   BENCH_FILES_MB         file tree size in MiB (default 1024; 100 for a quick run)
//   BENCH_WAL_MB           pitr part: MiB of WAL written after the base backup and replayed (default 2048; 200 for a quick run)
//   BENCH_PITR_WORKER_NODE_OPTIONS  pitr part: NODE_OPTIONS for its worker, e.g. "--cpu-prof --cpu-prof-dir=DIR" (as BENCH_PHYSICAL_WORKER_NODE_OPTIONS)
//   BENCH_CATALOG_BACKUPS  catalog part: backups in each region, all sources together (default 10000; 2000 for a quick run)
//   BENCH_CATALOG_SOURCES  catalog part: how many sources they are split evenly over (default 20)
//   BENCH_CATALOG_INDEX    catalog part: rebuild (default: `lifeboat catalog rebuild` writes the index after seeding) or none (every object read)
//   BENCH_CATALOG_BASELINE catalog part: another build's lifeboat.mjs; (o), (p) and (q) also run with it, just before each, on the same catalog
//   BENCH_QUIET_WAIT_S     how long each case may wait for the machine, the benchmark's own servers included, to go idle (default 300; 0 = never wait)
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { S3Storage } from '../activities/storage/s3';
import { catalogPart, catalogSettings, requireGnuTime } from './catalog-part';
import { cliPart } from './cli-cases';
import { phasesOf } from './phases';
import { physicalPart, pgbackrestVersion } from './physical-part';
import { pitrPart } from './pitr-part';
import { pgUrl, withClient, recreateDatabase } from '../scripts/sample-db';
import { registerDir } from '../test/harness/cleanup';
import { startServers, type Servers } from '../test/harness/servers';
import { makeFixture, type Fixture } from '../test/support/fixture';
import { startBenchWorker } from './worker';
import {
  AWS_INSTALL_HINT, dumpToNull, peerPipeline, peerPipelineLabel, flushDisks, lifeboat, rawDumpBytes, rawTarBytes, resticBackup, resticInit, resticLabel,
  resticVersion, tarPipeline, tarPipelineLabel, type DumpTarget, type ResticRepo,
} from './cases';
import { localRegionPart } from './local-region-part';
import { restorePart } from './restore-part';
import { generateDatabase, generateTree, generateWarmupTree, type Generated } from './generate';
import { nodeMemory, ownProcessGroup, Sampler, waitQuiet, type WindowReport } from './procs';
import { printReport, target, writeResults, type CaseResult, type FilesResults, type PostgresResults, type Results } from './report';

const MiB = 2 ** 20;
const DATABASE = 'bench';
/** The verify target's password (the test cluster's), by reference as the config wants it. */
const VERIFY_PASSWORD_ENV = 'BENCH_VERIFY_PG_PASSWORD';
const log = (line: string) => console.error(line);

function sizeFromEnv(name = 'BENCH_SIZE_MB', fallback = 1024): number {
  const text = process.env[name] ?? String(fallback);
  const mb = Number(text);
  if (!Number.isFinite(mb) || mb < 20) throw new Error(`${name} must be a number ≥ 20 (MiB), got ${JSON.stringify(text)}`);
  return mb;
}

const PARTS = ['postgres', 'files', 'restore', 'physical', 'pitr', 'cli', 'catalog'] as const;
type Part = (typeof PARTS)[number];

/** The AWS CLI runs the peer of the logical backup; missing, it fails before any server starts. */
function awsVersion(): string {
  const result = spawnSync('aws', ['--version'], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`the AWS CLI is not installed (the postgres part compares against aws s3 cp); ${AWS_INSTALL_HINT}`);
  return (result.stdout || result.stderr).trim().split(' ')[0]!;
}

function partsFromEnv(): Set<Part> {
  const text = process.env.BENCH_CASES ?? PARTS.join(',');
  const parts = text.split(',').map((part) => part.trim()).filter(Boolean);
  const unknown = parts.filter((part) => !(PARTS as readonly string[]).includes(part));
  if (parts.length === 0 || unknown.length > 0) throw new Error(`BENCH_CASES must list some of ${PARTS.join(', ')} (comma-separated), got ${JSON.stringify(text)}`);
  return new Set(parts as Part[]);
}

/**
 * Below this many busy cores the machine counts as quiet. SeaweedFS idles at about 0.25 cores for
 * minutes after large writes; what must not leak into the next case (autovacuum, compaction) is a core or more.
 */
const QUIET_CORES = 0.4;

const quietWaitMs = (() => {
  const seconds = Number(process.env.BENCH_QUIET_WAIT_S ?? 300);
  if (!Number.isFinite(seconds) || seconds < 0) throw new Error(`BENCH_QUIET_WAIT_S must be a number of seconds ≥ 0, got ${process.env.BENCH_QUIET_WAIT_S}`);
  return seconds * 1000;
})();

/**
 * Runs one case once the machine is quiet, with the sampler watching every server's, the worker's
 * and our own process group.
 */
async function sampled<T extends { seconds: number }>(baseGroups: Map<number, string>, workerGroup: number | undefined, run: () => Promise<T>, extraGroups = new Map<number, string>()): Promise<T & { window: WindowReport }> {
  // extraGroups itself is sampled, so a case can add a server it starts meanwhile (a restored cluster's postmaster).
  const groups = extraGroups;
  for (const [pid, name] of baseGroups) if (!groups.has(pid)) groups.set(pid, name);
  const load = await waitQuiet(groups, quietWaitMs, QUIET_CORES, log);
  if (load >= QUIET_CORES) log(`  the machine is still busy (${load.toFixed(2)} cores, servers included); measuring anyway`);
  const sampler = new Sampler(groups, workerGroup);
  sampler.start();
  try {
    const result = await run();
    return { ...result, window: sampler.stop() };
  } catch (error) {
    sampler.stop();
    throw error;
  }
}

/** What the postgres, files, restore and cli parts share: the servers, one worker serving every source, a Temporal client, the sampler's groups. */
interface Context {
  servers: Servers;
  fixture: Fixture;
  client: Client;
  workerGroup: number;
  groups: Map<number, string>;
  /** Highest worker VmHWM seen so far: each part resets VmHWM before its timed backup. */
  peaks: { lifetime: number };
  cleanups: Array<() => Promise<void> | void>;
}

async function bench(servers: Servers, cleanups: Array<() => Promise<void> | void>, parts: Set<Part>, restic: string | undefined, pgbackrest: string | undefined): Promise<Results> {
  const startedAt = new Date().toISOString();
  const pg = { host: '127.0.0.1', port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password };
  const s3 = servers.s3.stockholm!;

  let database: { generated: Generated; generateSeconds: number; targetMiB: number } | undefined;
  if (parts.has('postgres') || parts.has('restore')) {
    const targetMiB = sizeFromEnv();
    log(`generating a ${targetMiB} MiB database (not timed)…`);
    const generateStart = performance.now();
    const generated = await generateDatabase(pg, DATABASE, targetMiB * MiB, log);
    database = { generated, generateSeconds: (performance.now() - generateStart) / 1000, targetMiB };
    // The worker's warm-up backs up this tiny database, so the timed run meets loaded code and open connections.
    await recreateDatabase(pg, 'bench_warmup');
    await withClient(pg, 'bench_warmup', (c) => c.query('create table t as select g as id, md5(g::text) as v from generate_series(1, 1000) g'));
  }
  // In the servers' work dir, which stop() removes. The big tree is generated when its part starts.
  const treeDir = join(servers.workDir, 'tree');
  const warmupTreeDir = join(servers.workDir, 'warmup-tree');
  if (parts.has('files')) {
    mkdirSync(treeDir, { recursive: true });
    generateWarmupTree(warmupTreeDir);
  }

  const groups = new Map<number, string>([
    [servers.temporal.pid, 'temporal'],
    [servers.postgres.pid, 'postgres'],
    [servers.redis.pid, 'redis'],
    [s3.pid, 'weed'],
    [ownProcessGroup(), 'bench'],
  ]);
  const results: Results = { startedAt, machine: { cpus: availableParallelism(), node: process.version }, parts: [...parts] };
  // The physical and catalog parts bring fixtures of their own; only these use the shared worker and its fixture.
  const main = (['postgres', 'files', 'restore', 'cli'] as const).some((part) => parts.has(part))
    ? await startMain(servers, cleanups, parts, database !== undefined, treeDir, warmupTreeDir, groups)
    : undefined;
  const workerGroup = main?.context.workerGroup;
  if (main && database && parts.has('postgres')) Object.assign(results, await postgresPart(main.context, database, main.idleRss));
  if (main && parts.has('files')) results.files = await filesPart(main.context, treeDir, restic!);
  if (main && parts.has('restore')) {
    const { fixture, client } = main.context;
    const measure = <T extends { seconds: number }>(run: () => Promise<T>) => sampled(groups, workerGroup, run);
    const backupId = results.cases?.c.extra?.backupId;
    results.restore = await restorePart({ servers, fixture, client, measure, log }, typeof backupId === 'string' ? backupId : undefined);
  }
  if (parts.has('physical')) {
    const measure = <T extends { seconds: number }>(run: () => Promise<T>, extra?: Map<number, string>) => sampled(groups, workerGroup, run, extra);
    results.physical = await physicalPart({ servers, sizeMiB: sizeFromEnv(), measure, log, cleanups }, pgbackrest!);
  }
  if (parts.has('pitr')) {
    const measure = <T extends { seconds: number }>(run: () => Promise<T>, extra?: Map<number, string>) => sampled(groups, workerGroup, run, extra);
    results.pitr = await pitrPart({ servers, walMiB: sizeFromEnv('BENCH_WAL_MB', 2048), measure, log, cleanups });
  }
  if (main && parts.has('cli')) {
    log('CLI start: node -e 0, lifeboat --help, lifeboat backups list…');
    await waitQuiet(groups, quietWaitMs, QUIET_CORES, log);
    results.cli = cliPart(main.context.fixture.configFile, main.context.fixture.env);
  }
  if (parts.has('catalog')) {
    const measure = <T extends { seconds: number }>(run: () => Promise<T>) => sampled(groups, workerGroup, run);
    results.catalog = await catalogPart({ servers, measure, log, cleanups }, catalogSettings());
  }
  return results;
}

/** The fixture and the worker the postgres, files, restore and cli parts share; adds the worker to the sampled groups. */
async function startMain(
  servers: Servers, cleanups: Array<() => Promise<void> | void>, parts: Set<Part>, withDatabase: boolean,
  treeDir: string, warmupTreeDir: string, groups: Map<number, string>,
): Promise<{ context: Context; idleRss: number }> {
  const pg = { host: '127.0.0.1', port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password };
  const fixture = await makeFixture(servers, (ctx) => ({
    ...(withDatabase ? { bench: ctx.postgres(DATABASE), warmup: ctx.postgres('bench_warmup') } : {}),
    ...(parts.has('files') ? {
      tree: { kind: 'files', region: 'stockholm', path: treeDir },
      'warmup-tree': { kind: 'files', region: 'stockholm', path: warmupTreeDir },
    } : {}),
  }), {}, parts.has('restore') ? { verify: { target: { postgres: { url: pgUrl(pg, 'postgres'), passwordEnv: VERIFY_PASSWORD_ENV } } } } : {});
  if (parts.has('restore')) fixture.env[VERIFY_PASSWORD_ENV] = pg.password;
  const unregisterDir = registerDir(fixture.dir);
  cleanups.push(() => { fixture.cleanup(); unregisterDir(); });

  log('starting the worker…');
  const { client, workerGroup } = await startBenchWorker(servers, fixture, cleanups);
  await sleep(2000);
  const idleRss = nodeMemory(workerGroup).rss;

  groups.set(workerGroup, 'worker');
  return { context: { servers, fixture, client, workerGroup, groups, peaks: { lifetime: 0 }, cleanups }, idleRss };
}

async function postgresPart(
  { servers, fixture, client, workerGroup, groups, peaks, cleanups }: Context,
  { generated, generateSeconds, targetMiB }: { generated: Generated; generateSeconds: number; targetMiB: number },
  idleRss: number,
): Promise<PostgresResults> {
  const pg = { host: '127.0.0.1', port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password };
  const db: DumpTarget = { url: pgUrl(pg, DATABASE), password: pg.password };
  const s3 = servers.s3.stockholm!;
  log('warm-up backup of a tiny database (not timed)…');
  await lifeboat(client, fixture.config, 'warmup');

  log('measuring the uncompressed dump size (not timed; also warms the page cache)…');
  const rawBytes = await rawDumpBytes(db);

  log('(a) pg_dump > /dev/null…');
  const a = await sampled(groups, workerGroup, () => dumpToNull(db));

  // Before (b) and (c): SeaweedFS works on what they stored for a while after, and would take CPU
  // from (c2) more than from (b2), which runs first.
  const localRegion = await localRegionPart({
    servers, cleanups, db, databases: { bench: DATABASE, warmup: 'bench_warmup' }, log,
    measure: (run, localWorker, extra) => sampled(groups, localWorker, run, extra),
  });

  const { level, threads } = fixture.config.compression;
  log(`(b) pg_dump | zstd -${level} -T${threads} | age | aws s3 cp - to the same SeaweedFS…`);
  const b = await sampled(groups, workerGroup, () => peerPipeline(db, s3, `bench-peer-${Date.now()}.dump.zst.age`, fixture.key.recipient, level, threads, join(servers.workDir, 'aws-config')));

  log('(c) Lifeboat backup…');
  // Peak RSS before the timed backup covers start-up (workflow bundling) and the warm-up; then reset it.
  const startupPeak = nodeMemory(workerGroup, true).hwm;
  const c = await sampled(groups, workerGroup, () => lifeboat(client, fixture.config, 'bench'));
  const backupPeak = nodeMemory(workerGroup).hwm;
  const lifetimePeak = Math.max(startupPeak, backupPeak);
  peaks.lifetime = Math.max(peaks.lifetime, lifetimePeak);
  const phases = await phasesOf(client, c.workflowId, c.seconds);


  const cases: PostgresResults['cases'] = {
    a: { label: 'pg_dump -Fc -Z0 > /dev/null', seconds: a.seconds, outputBytes: 0, cpu: a.window.cpu },
    b: { label: peerPipelineLabel(level, threads), seconds: b.seconds, outputBytes: b.bytes, cpu: b.window.cpu },
    c: {
      label: `lifeboat backup: workflow → pg_dump | zstd -${level} -T${threads} | age → sha256 → S3 multipart (worker warm)`,
      seconds: c.seconds, outputBytes: c.summary.bytes, cpu: c.window.cpu,
      extra: { 'snapshot activity s': c.summary.durationMs / 1000, backupId: c.summary.backupId },
    },
  } satisfies Record<string, CaseResult>;
  const ratios = { cOverA: c.seconds / a.seconds, cOverB: c.seconds / b.seconds };
  return {
    database: { targetMiB, sizeBytes: generated.sizeBytes, rawDumpBytes: rawBytes, orders: generated.orders, generateSeconds },
    cases,
    worker: { idleRssAfterStartBytes: idleRss, peakRssLifetimeBytes: lifetimePeak, peakRssBackupBytes: backupPeak, sampledPeakRssBytes: c.window.peakRss },
    phases,
    ratios,
    targets: { cOverA: target(ratios.cOverA, 1.5), cOverB: target(ratios.cOverB, 1.15), fixedSeconds: target(phases.fixedSeconds, 0.5), peakRssMiB: target(lifetimePeak / MiB, 300) },
    localRegion,
  };
}

async function filesPart({ servers, fixture, client, workerGroup, groups, peaks }: Context, treeDir: string, resticVersion: string): Promise<FilesResults> {
  const targetMiB = sizeFromEnv('BENCH_FILES_MB');
  const s3 = servers.s3.stockholm!;
  log(`generating a ${targetMiB} MiB file tree (not timed)…`);
  const generateStart = performance.now();
  const tree = await generateTree(treeDir, targetMiB * MiB, log);
  const generateSeconds = (performance.now() - generateStart) / 1000;

  log('warm-up backup of a tiny file tree (not timed)…');
  await lifeboat(client, fixture.config, 'warmup-tree');
  log('measuring the plain tar size (not timed; also warms the page cache)…');
  const rawBytes = await rawTarBytes(treeDir);

  // Each case writes about as much as the tree holds: flush it before the next starts, untimed.
  await flushDisks();
  log('(d) Lifeboat full backup of the file tree…');
  // The worker's peak RSS so far (start-up, warm-ups, the postgres part if it ran); then reset it.
  peaks.lifetime = Math.max(peaks.lifetime, nodeMemory(workerGroup, true).hwm);
  const d = await sampled(groups, workerGroup, () => lifeboat(client, fixture.config, 'tree'));
  const backupPeak = nodeMemory(workerGroup).hwm;
  peaks.lifetime = Math.max(peaks.lifetime, backupPeak);

  await flushDisks();
  const { level, threads } = fixture.config.compression;
  log(`(e) tar | zstd -${level} -T${threads} | age > file…`);
  const e = await sampled(groups, workerGroup, () => tarPipeline(treeDir, fixture.key.recipient, join(servers.workDir, 'tree.tar.zst.age'), level, threads));

  await flushDisks();
  const prefix = `restic-${fixture.prefix.replace(/^t-|\/$/g, '')}`;
  const repo: ResticRepo = {
    repository: `s3:${s3.endpoint}/${s3.bucket}/${prefix}`,
    region: s3.region,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    password: 'bench-not-a-secret',
    cacheDir: join(servers.workDir, 'restic-cache'),
  };
  log(`(f) restic init (timed apart) and backup to ${repo.repository}…`);
  const init = await resticInit(repo);
  const f = await sampled(groups, workerGroup, () => resticBackup(repo, treeDir));
  const resticStorage = new S3Storage({
    bucket: s3.bucket, prefix: `${prefix}/`, region: s3.region, endpoint: s3.endpoint, forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  let resticBytes = 0;
  let resticObjects = 0;
  for await (const object of resticStorage.list('')) {
    resticBytes += object.size;
    resticObjects += 1;
  }

  const cases: FilesResults['cases'] = {
    d: {
      label: `lifeboat full backup: workflow → walk, tar --listed-incremental | zstd -${level} -T${threads} | age → sha256 → S3 multipart (worker warm)`,
      seconds: d.seconds, outputBytes: d.summary.bytes, cpu: d.window.cpu,
      extra: { 'snapshot activity s': d.summary.durationMs / 1000, contents: d.summary.contents, backupId: d.summary.backupId },
    },
    e: { label: tarPipelineLabel(level, threads), seconds: e.seconds, outputBytes: e.bytes, cpu: e.window.cpu },
    f: {
      label: resticLabel(resticVersion), seconds: f.seconds, outputBytes: resticBytes, cpu: f.window.cpu,
      extra: {
        'init s (not counted)': init.seconds, 'data_added MB (before compression)': f.summary.data_added / 1e6, 'repository objects': resticObjects,
        'files processed': f.summary.total_files_processed, 'peak RSS MiB': f.peakRss / MiB,
      },
    },
  } satisfies Record<string, CaseResult>;
  return {
    tree: { targetMiB, bytes: tree.bytes, files: tree.files, smallFiles: tree.smallFiles, smallBytes: tree.smallBytes, largeFiles: tree.largeFiles, rawTarBytes: rawBytes, generateSeconds },
    cases,
    worker: { peakRssBackupBytes: backupPeak, peakRssLifetimeBytes: peaks.lifetime, sampledPeakRssBytes: d.window.peakRss },
    restic: { version: resticVersion, peakRssBytes: f.peakRss, initSeconds: init.seconds },
    ratios: {
      dOverE: d.seconds / e.seconds, dOverF: d.seconds / f.seconds,
      outputDOverE: d.summary.bytes / e.bytes, outputDOverF: d.summary.bytes / resticBytes,
    },
  };
}

async function main(): Promise<void> {
  const parts = partsFromEnv();
  if (parts.has('postgres') || parts.has('restore')) sizeFromEnv();
  if (parts.has('files')) sizeFromEnv('BENCH_FILES_MB');
  if (parts.has('pitr')) sizeFromEnv('BENCH_WAL_MB', 2048);
  // Before any server starts: a missing restic fails at once, with the install hint.
  const restic = parts.has('files') ? await resticVersion() : undefined;
  if (parts.has('postgres')) awsVersion();
  const pgbackrest = parts.has('physical') ? await pgbackrestVersion() : undefined;
  if (parts.has('catalog')) {
    catalogSettings();
    requireGnuTime();
  }
  log('starting Temporal, SeaweedFS, PostgreSQL and Redis…');
  // One S3 region: a second idle SeaweedFS would only take CPU from the cases on a small machine.
  // HTTPS beside HTTP only for the physical part: pgBackRest speaks nothing else to S3.
  const { servers, stop } = await startServers({ regions: ['stockholm'], log, s3Https: parts.has('physical') });
  const cleanups: Array<() => Promise<void> | void> = [];
  try {
    const results = await bench(servers, cleanups, parts, restic, pgbackrest);
    printReport(results);
    log(`results written to ${writeResults(results)}`);
  } finally {
    for (const cleanup of cleanups.reverse()) await (async () => cleanup())().catch((error: unknown) => log(`cleanup: ${String(error)}`));
    await stop();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.stack ?? error.message : String(error));
  process.exitCode = 1;
});
