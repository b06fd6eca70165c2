import { Client, Connection } from '@temporalio/client';
import { dataConverterOf } from '../lib/codec/data-converter';
import { registerDir, registerGroup, registerStop } from '../test/harness/cleanup';
import type { Servers } from '../test/harness/servers';
import { makeFixture, type Fixture } from '../test/support/fixture';
import { startWorkerProcess } from '../test/support/worker-process';

export interface BenchWorker {
  fixture: Fixture;
  client: Client;
  workerGroup: number;
  /** Stops the worker (again harmless; the part's cleanups call it too). */
  stop(): Promise<void>;
}

/**
 * A fixture with one local or S3 region of its own (`region`) and the given sources, served by a
 * worker process of its own (its own process group, so its tools are measured with it), and a
 * Temporal client for it. The parts that bring a cluster of their own (physical, pitr) use it.
 * `nodeOptions` is the worker's NODE_OPTIONS, e.g. a CPU profile of its whole life.
 */
export async function startBenchWorker(o: {
  servers: Servers; cleanups: Array<() => Promise<void> | void>; region: string; storage: Record<string, unknown>;
  sources: Record<string, unknown>; env: Record<string, string>; nodeOptions?: string;
}): Promise<BenchWorker> {
  const fixture = await makeFixture({ ...o.servers, s3: {} }, () => o.sources,
    { primaryRegion: o.region, regions: { [o.region]: { storage: o.storage } }, sync: { afterBackup: false } });
  Object.assign(fixture.env, o.env);
  const unregisterDir = registerDir(fixture.dir);
  o.cleanups.push(() => { fixture.cleanup(); unregisterDir(); });
  const worker = startWorkerProcess(fixture.configFile, o.nodeOptions ? { ...fixture.env, NODE_OPTIONS: o.nodeOptions } : fixture.env);
  const workerGroup = worker.child.pid!;
  const unregisterGroup = registerGroup(workerGroup);
  const unregisterStop = registerStop(worker.stop);
  const stop = async () => { await worker.stop(); unregisterStop(); unregisterGroup(); };
  o.cleanups.push(stop);
  const deadline = Date.now() + 180_000;
  while (!worker.output().includes('polling')) {
    if (worker.child.exitCode !== null || Date.now() > deadline) throw new Error(`a bench worker (region ${o.region}) did not start polling:\n${worker.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const connection = await Connection.connect({ address: o.servers.temporal.address });
  o.cleanups.push(() => connection.close());
  const client = new Client({ connection, namespace: o.servers.temporal.namespace, dataConverter: dataConverterOf(fixture.config) });
  return { fixture, client, workerGroup, stop };
}
