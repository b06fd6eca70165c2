import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { dataConverterOf } from '../lib/codec/data-converter';
import { registerDir, registerGroup, registerStop } from '../test/harness/cleanup';
import type { Servers } from '../test/harness/servers';
import { makeFixture, type Fixture } from '../test/support/fixture';
import { startWorkerProcess } from '../test/support/worker-process';

export interface BenchWorker {
  client: Client;
  /** The worker's process group: node and the tools it starts. */
  workerGroup: number;
  /** Stops the worker; again harmless (the cleanups call it too). */
  stop(): Promise<void>;
}

/**
 * A worker process for a fixture, and a Temporal client speaking its codec. Resolves once the
 * worker polls, so its start-up (workflow bundling) is never inside a timed case. Ctrl-C: the
 * harness's signal handler runs the stop; its exit hook SIGKILLs the group at the latest.
 */
export async function startBenchWorker(servers: Servers, fixture: Fixture, cleanups: Array<() => Promise<void> | void>, env: Record<string, string> = fixture.env): Promise<BenchWorker> {
  const worker = startWorkerProcess(fixture.configFile, env);
  const workerGroup = worker.child.pid!;
  const unregisterGroup = registerGroup(workerGroup);
  const unregisterStop = registerStop(worker.stop);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await worker.stop();
    unregisterStop();
    unregisterGroup();
  };
  cleanups.push(stop);
  const deadline = Date.now() + 180_000;
  while (!worker.output().includes('polling')) {
    if (worker.child.exitCode !== null) throw new Error(`the worker exited during start-up:\n${worker.output()}`);
    if (Date.now() > deadline) throw new Error(`the worker did not start polling within 180 s:\n${worker.output()}`);
    await sleep(200);
  }
  const connection = await Connection.connect({ address: servers.temporal.address });
  cleanups.push(() => connection.close());
  const client = new Client({ connection, namespace: servers.temporal.namespace, dataConverter: dataConverterOf(fixture.config) });
  return { client, workerGroup, stop };
}

/**
 * A fixture with one local or S3 region of its own (`region`) and the given sources, served by a
 * worker process of its own (its own process group, so its tools are measured with it). The parts
 * that bring a cluster of their own (pitr) use it. `nodeOptions` is the worker's NODE_OPTIONS, e.g.
 * a CPU profile of its whole life.
 */
export async function startPartWorker(o: {
  servers: Servers; cleanups: Array<() => Promise<void> | void>; region: string; storage: Record<string, unknown>;
  sources: Record<string, unknown>; env: Record<string, string>; nodeOptions?: string;
}): Promise<BenchWorker & { fixture: Fixture }> {
  const fixture = await makeFixture({ ...o.servers, s3: {} }, () => o.sources,
    { primaryRegion: o.region, regions: { [o.region]: { storage: o.storage } }, sync: { afterBackup: false } });
  Object.assign(fixture.env, o.env);
  const unregisterDir = registerDir(fixture.dir);
  o.cleanups.push(() => { fixture.cleanup(); unregisterDir(); });
  const worker = await startBenchWorker(o.servers, fixture, o.cleanups, o.nodeOptions ? { ...fixture.env, NODE_OPTIONS: o.nodeOptions } : fixture.env);
  return { ...worker, fixture };
}
