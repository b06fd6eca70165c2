import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { registerDir } from '../test/harness/cleanup';
import type { Servers } from '../test/harness/servers';
import { makeFixture } from '../test/support/fixture';
import { flushDisks, lifeboat, localPipeline, localPipelineLabel, type DumpTarget } from './cases';
import { phasesOf } from './phases';
import { nodeMemory, type WindowReport } from './procs';
import { target, type PostgresLocalResults } from './report';
import { startBenchWorker } from './worker';

// The postgres part's local case (issue 14, target 2: "the same to a local file for a local
// region"): (c2) a Lifeboat backup of the part's database to a region of type local, against (b2)
// the peer pipeline into a file on the same disk. Lifeboat gets a fixture and a worker of its own
// with that one region, as (c)'s has one S3 region: a second region in (c)'s config would have every
// backup synced to it in the background, beside the cases that follow.

const REGION = 'disk';

export interface LocalRegionContext {
  servers: Servers;
  cleanups: Array<() => Promise<void> | void>;
  db: DumpTarget;
  /** The part's database and the tiny one its warm-up backs up. */
  databases: { bench: string; warmup: string };
  /** Runs one case sampled, the worker's group watched for memory; extra groups are labelled in its CPU. */
  measure<T extends { seconds: number }>(run: () => Promise<T>, workerGroup: number, extraGroups: Map<number, string>): Promise<T & { window: WindowReport }>;
  log(line: string): void;
}

export async function localRegionPart({ servers, cleanups, db, databases, measure, log }: LocalRegionContext): Promise<PostgresLocalResults> {
  // Both under the servers' work dir: one disk for both cases, removed when the servers stop.
  const regionDir = join(servers.workDir, 'local-region');
  mkdirSync(regionDir, { recursive: true });
  const fixture = await makeFixture({ ...servers, s3: {} }, (ctx) => ({
    bench: ctx.postgres(databases.bench, { region: REGION }),
    warmup: ctx.postgres(databases.warmup, { region: REGION }),
  }), { primaryRegion: REGION, regions: { [REGION]: { storage: { type: 'local', path: regionDir } } } });
  const unregisterDir = registerDir(fixture.dir);
  cleanups.push(() => { fixture.cleanup(); unregisterDir(); });
  log('starting a worker for a local region…');
  const worker = await startBenchWorker(servers, fixture, cleanups);
  const groups = new Map([[worker.workerGroup, 'local-worker']]);
  try {
    log('warm-up backup of a tiny database to the local region (not timed)…');
    await lifeboat(worker.client, fixture.config, 'warmup');

    const { level, threads } = fixture.config.compression;
    await flushDisks();
    log(`(b2) pg_dump | zstd -${level} -T${threads} | age > file; sync…`);
    const b2 = await measure(() => localPipeline(db, fixture.key.recipient, join(servers.workDir, 'peer.dump.zst.age'), level, threads), worker.workerGroup, groups);

    await flushDisks();
    log('(c2) Lifeboat backup to the local region…');
    // Reset after the warm-up, so the peak is the timed backup's own.
    nodeMemory(worker.workerGroup, true);
    const c2 = await measure(() => lifeboat(worker.client, fixture.config, 'bench'), worker.workerGroup, groups);
    const peakRssBackupBytes = nodeMemory(worker.workerGroup).hwm;
    const phases = await phasesOf(worker.client, c2.workflowId, c2.seconds);

    const ratio = c2.seconds / b2.seconds;
    return {
      cases: {
        b2: { label: localPipelineLabel(level, threads), seconds: b2.seconds, outputBytes: b2.bytes, cpu: b2.window.cpu },
        c2: {
          label: `lifeboat backup: workflow → pg_dump | zstd -${level} -T${threads} | age → FIFO → worker thread: sha256 → file, fsynced, linked into place (local region, worker warm)`,
          seconds: c2.seconds, outputBytes: c2.summary.bytes, cpu: c2.window.cpu,
          extra: { 'snapshot activity s': c2.summary.durationMs / 1000, backupId: c2.summary.backupId },
        },
      },
      phases,
      worker: { peakRssBackupBytes, sampledPeakRssBytes: c2.window.peakRss },
      ratios: { c2OverB2: ratio },
      targets: { c2OverB2: target(ratio, 1.15) },
    };
  } finally {
    // Not idle beside the parts that follow.
    await worker.stop();
  }
}
