// `npm run bench`: times (a) pg_dump to /dev/null, (b) the classic pg_dump | gzip | openssl + upload,
// (c) a Lifeboat backup through Temporal, on one generated database; prints c/a, c/b and the
// worker's peak RSS. See bench/cases.ts for what each case runs exactly.
//   BENCH_SIZE_MB       database size in MiB (default 1024; 100 for a quick run)
//   BENCH_QUIET_WAIT_S  how long each case may wait for other processes to leave the CPU (default 300; 0 = never wait)
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { S3Storage } from '../activities/storage/s3';
import { pgUrl, withClient, recreateDatabase } from '../scripts/sample-db';
import { registerDir, registerGroup, registerStop } from '../test/harness/cleanup';
import { startServers, type Servers } from '../test/harness/servers';
import { makeFixture } from '../test/support/fixture';
import { startWorkerProcess, type WorkerProcess } from '../test/support/worker-process';
import { classic, CLASSIC_PIPELINE, dumpToNull, lifeboat, rawDumpBytes, type DumpTarget } from './cases';
import { generateDatabase } from './generate';
import { nodeMemory, ownProcessGroup, Sampler, waitQuiet, type WindowReport } from './procs';
import { printReport, target, writeResults, type CaseResult, type Results } from './report';

const MiB = 2 ** 20;
const DATABASE = 'bench';
const log = (line: string) => console.error(line);

function sizeFromEnv(): number {
  const text = process.env.BENCH_SIZE_MB ?? '1024';
  const mb = Number(text);
  if (!Number.isFinite(mb) || mb < 20) throw new Error(`BENCH_SIZE_MB must be a number ≥ 20 (MiB), got ${JSON.stringify(text)}`);
  return mb;
}

/** Waits for the worker's "polling" line, so its start-up (workflow bundling) is never timed. */
async function waitPolling(worker: WorkerProcess): Promise<void> {
  const deadline = Date.now() + 180_000;
  while (!worker.output().includes('polling')) {
    if (worker.child.exitCode !== null) throw new Error(`the worker exited during start-up:\n${worker.output()}`);
    if (Date.now() > deadline) throw new Error(`the worker did not start polling within 180 s:\n${worker.output()}`);
    await sleep(200);
  }
}

const quietWaitMs = (() => {
  const seconds = Number(process.env.BENCH_QUIET_WAIT_S ?? 300);
  if (!Number.isFinite(seconds) || seconds < 0) throw new Error(`BENCH_QUIET_WAIT_S must be a number of seconds ≥ 0, got ${process.env.BENCH_QUIET_WAIT_S}`);
  return seconds * 1000;
})();

/**
 * Runs one case once the machine is quiet, with the sampler watching every server's, the worker's
 * and our own process group.
 */
async function sampled<T extends { seconds: number }>(groups: Map<number, string>, workerGroup: number, run: () => Promise<T>): Promise<T & { window: WindowReport }> {
  const load = await waitQuiet(groups, quietWaitMs, 0.2, log);
  if (load >= 0.2) log(`  the machine is still busy (${load.toFixed(2)} cores outside the benchmark); measuring anyway`);
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

async function bench(servers: Servers, cleanups: Array<() => Promise<void> | void>): Promise<Results> {
  const targetMiB = sizeFromEnv();
  const startedAt = new Date().toISOString();
  const pg = { host: '127.0.0.1', port: servers.postgres.port, user: servers.postgres.user, password: servers.postgres.password };
  const db: DumpTarget = { url: pgUrl(pg, DATABASE), password: pg.password };
  const s3 = servers.s3.stockholm!;

  log(`generating a ${targetMiB} MiB database (not timed)…`);
  const generateStart = performance.now();
  const generated = await generateDatabase(pg, DATABASE, targetMiB * MiB, log);
  const generateSeconds = (performance.now() - generateStart) / 1000;
  // The worker's warm-up backs up this tiny database, so the timed run meets loaded code and open connections.
  await recreateDatabase(pg, 'bench_warmup');
  await withClient(pg, 'bench_warmup', (c) => c.query('create table t as select g as id, md5(g::text) as v from generate_series(1, 1000) g'));

  const fixture = await makeFixture(servers, (ctx) => ({ bench: ctx.postgres(DATABASE), warmup: ctx.postgres('bench_warmup') }));
  const unregisterDir = registerDir(fixture.dir);
  cleanups.push(() => { fixture.cleanup(); unregisterDir(); });

  log('starting the worker…');
  const worker = startWorkerProcess(fixture.configFile, fixture.env);
  const workerGroup = worker.child.pid!;
  // Ctrl-C: the harness's signal handler runs this stop; its exit hook SIGKILLs the group at the latest.
  const unregisterGroup = registerGroup(workerGroup);
  const unregisterStop = registerStop(worker.stop);
  cleanups.push(async () => { await worker.stop(); unregisterStop(); unregisterGroup(); });
  await waitPolling(worker);
  await sleep(2000);
  const idleRss = nodeMemory(workerGroup).rss;

  const connection = await Connection.connect({ address: servers.temporal.address });
  cleanups.push(() => connection.close());
  const client = new Client({ connection, namespace: servers.temporal.namespace });
  log('warm-up backup of a tiny database (not timed)…');
  await lifeboat(client, fixture.config, 'warmup');

  log('measuring the uncompressed dump size (not timed; also warms the page cache)…');
  const rawBytes = await rawDumpBytes(db);

  const groups = new Map<number, string>([
    [servers.temporal.pid, 'temporal'],
    [servers.postgres.pid, 'postgres'],
    [servers.redis.pid, 'redis'],
    [s3.pid, 'weed'],
    [workerGroup, 'worker'],
    [ownProcessGroup(), 'bench'],
  ]);

  log('(a) pg_dump > /dev/null…');
  const a = await sampled(groups, workerGroup, () => dumpToNull(db));

  log('(b) classic pipeline + upload…');
  const storage = new S3Storage({
    bucket: s3.bucket, prefix: 'bench-classic/', region: s3.region, endpoint: s3.endpoint, forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  // In the servers' work dir, which stop() removes.
  const b = await sampled(groups, workerGroup, () => classic(db, join(servers.workDir, 'classic.dump.gz.enc'), storage));

  log('(c) Lifeboat backup…');
  // Peak RSS before the timed backup covers start-up (workflow bundling) and the warm-up; then reset it.
  const startupPeak = nodeMemory(workerGroup, true).hwm;
  const c = await sampled(groups, workerGroup, () => lifeboat(client, fixture.config, 'bench'));
  const backupPeak = nodeMemory(workerGroup).hwm;
  const lifetimePeak = Math.max(startupPeak, backupPeak);

  const { level, threads } = fixture.config.compression;
  const cases: Results['cases'] = {
    a: { label: 'pg_dump -Fc -Z0 > /dev/null', seconds: a.seconds, outputBytes: 0, cpu: a.window.cpu },
    b: {
      label: CLASSIC_PIPELINE, seconds: b.seconds, outputBytes: b.bytes, cpu: b.window.cpu,
      extra: { 'pipeline s': b.pipelineSeconds, 'upload s': b.uploadSeconds },
    },
    c: {
      label: `lifeboat backup: workflow → pg_dump | zstd -${level} -T${threads} | age → sha256 → S3 multipart (worker warm)`,
      seconds: c.seconds, outputBytes: c.summary.bytes, cpu: c.window.cpu,
      extra: { 'snapshot activity s': c.summary.durationMs / 1000, backupId: c.summary.backupId },
    },
  } satisfies Record<string, CaseResult>;
  const ratios = { cOverA: c.seconds / a.seconds, cOverB: c.seconds / b.seconds };
  return {
    startedAt,
    machine: { cpus: availableParallelism(), node: process.version },
    database: { targetMiB, sizeBytes: generated.sizeBytes, rawDumpBytes: rawBytes, orders: generated.orders, generateSeconds },
    cases,
    worker: { idleRssAfterStartBytes: idleRss, peakRssLifetimeBytes: lifetimePeak, peakRssBackupBytes: backupPeak, sampledPeakRssBytes: c.window.peakRss },
    ratios,
    targets: { cOverA: target(ratios.cOverA, 1.5), cOverB: target(ratios.cOverB, 0.3), peakRssMiB: target(lifetimePeak / MiB, 300) },
  };
}

async function main(): Promise<void> {
  sizeFromEnv();
  log('starting Temporal, SeaweedFS, PostgreSQL and Redis…');
  // One S3 region: a second idle SeaweedFS would only take CPU from the cases on a small machine.
  const { servers, stop } = await startServers({ regions: ['stockholm'], log });
  const cleanups: Array<() => Promise<void> | void> = [];
  try {
    const results = await bench(servers, cleanups);
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
